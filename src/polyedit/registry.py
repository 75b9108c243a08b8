"""One registry type for everything polyedit looks up by name: methods, datasets, file formats, protocols.

Where entries come from, lowest first:

- the registry's own layer: `discover` imports the modules that register (a method folder, a loader
  module), so a lookup sees every built-in without a central list;
- higher layers register at import from above (the knowledge world registers its `world` dataset when
  `polyedit` is imported; `data/` never imports `world/`);
- other packages, as pytest and lm-eval take plug-ins: an entry point in the group `polyedit.<kind>s`
  (`[project.entry-points."polyedit.datasets"] mine = "mypkg.loader"`) names a module that registers
  on import; the registry loads the group on its first lookup.

Errors are one line naming the known entries (PolyeditError: the CLI's exit 2). A name is registered
once: a second, different entry under a taken name is refused (as lm-eval's registry refuses it), so a
plug-in cannot silently replace a built-in; the same entry registered again (a module imported twice) is
accepted.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from polyedit.errors import PolyeditError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name, each with a one-line help text."""

    def __init__(self, kind: str, discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._discover = discover
        self._entries: dict[str, tuple[T, str]] = {}
        self._discovered = False
        self._loading = False

    def register(self, name: str, value: T, help: str = "") -> T:
        if not name or not isinstance(name, str):
            raise TypeError(f"a {self.kind} needs a name, got {name!r}")
        if name in self._entries and not _same(self._entries[name][0], value):
            raise PolyeditError(f"{self.kind} {name!r} is already registered as {_where(self._entries[name][0])}; "
                                f"{_where(value)} must take another name")
        self._entries[name] = (value, help)
        return value

    def unregister(self, name: str) -> None:
        """Remove an entry (a test's own plug-in, once the test is done)."""
        self._entries.pop(name, None)

    def decorator(self, name: str, help: str = "") -> Callable[[T], T]:
        """`@registry.decorator("name", "help")` registers what it decorates."""
        return lambda value: self.register(name, value, help)

    def _load(self) -> None:
        # Once (importing is idempotent); a module that looks names up while it is being discovered
        # must not start the discovery again.
        if self._discovered or self._loading:
            return
        self._loading = True
        try:
            if self._discover is not None:
                self._discover()
            for ep in entry_points(group=f"polyedit.{self.kind}s"):
                ep.load()
            self._discovered = True
        finally:
            self._loading = False

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load()
        if name not in self._entries:
            raise PolyeditError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'})")
        return self._entries[name][0]

    def help(self, name: str) -> str:
        self.get(name)
        return self._entries[name][1]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def helps(self) -> dict[str, str]:
        """name -> help, sorted by name."""
        return {n: self._entries[n][1] for n in self.names()}

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        return [(n, self._entries[n][0]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _same(old, new) -> bool:
    """The same entry: the same object, or an equal one (a protocol rebuilt from the same functions)."""
    try:
        return old is new or bool(old == new)
    except Exception:  # an entry whose == raises is not the same
        return False


def _where(value) -> str:
    """An entry as a message names it: its module and qualified name where it has them."""
    mod, qual = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return f"{mod}.{qual}" if mod and qual else f"a {type(value).__name__} from {mod}"


def import_submodules(package: str, only: Callable[[pkgutil.ModuleInfo], bool] = lambda m: True) -> Callable[[], None]:
    """A `discover` that imports the modules of `package` (one level) for which `only` holds."""

    def discover() -> None:
        pkg = importlib.import_module(package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if only(mod):
                importlib.import_module(f"{package}.{mod.name}")

    return discover
