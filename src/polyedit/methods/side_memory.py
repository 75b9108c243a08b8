"""Side memories: what GRACE and WISE attach to one module of a model instead of writing its weights (a
codebook, knowledge shards), reached through forward hooks. The shape they share: the model keeps one memory
per module (`Attached`, one per method in `LoadedModel.method_state`), so later edits of the same model grow
it; an edit's handle saves the memory's state before the edit and loads it back on `restore()`, removing
the hooks once the memory holds no edit. The weights are never written (restore is bit-identical by
construction)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from polyedit.methods.base import EditHandle
from polyedit.models.load import LoadedModel


class Hooked(ABC):
    """A side memory on the module `name` and the hooks that route through it."""

    name: str
    _hooks: list  # torch hook handles

    @abstractmethod
    def state(self) -> Any:
        """A copy of what the memory holds, which `load` puts back."""

    @abstractmethod
    def load(self, state: Any) -> None: ...

    @abstractmethod
    def holds_edits(self) -> bool: ...

    @abstractmethod
    def stop_training(self) -> None:
        """Forget a value being trained (an edit ended early, or is undone)."""

    def detach(self) -> None:
        for h in self._hooks:
            h.remove()


M = TypeVar("M", bound=Hooked)


class Attached(Generic[M]):
    """A model's side memories of one method, module name -> memory; a method subclasses it once, as the
    key of its slot in `LoadedModel.method_state`."""

    def __init__(self) -> None:
        self.by_module: dict[str, M] = {}

    def attach(self, name: str, make: Callable[[], M]) -> M:
        """The memory on `name`, made (and its hooks registered) by `make` the first time."""
        if name not in self.by_module:
            self.by_module[name] = make()
        return self.by_module[name]

    def active(self) -> list[M]:
        return list(self.by_module.values())

    def release(self, memory: M) -> None:
        """Remove an empty memory's hooks and forget it."""
        memory.detach()
        if self.by_module.get(memory.name) is memory:
            del self.by_module[memory.name]


class SideMemoryHandle(EditHandle):
    """Restores the side memory to its state before the edit; removes its hooks once it holds no edit."""

    def __init__(self, lm: LoadedModel, attached: Attached, memory: Hooked, info: dict) -> None:
        super().__init__(lm, (), info)
        self.attached, self.memory = attached, memory
        self.before = memory.state()  # what restore() loads back

    def restore(self) -> None:
        m = self.memory
        m.stop_training()
        m.load(self.before)
        if not m.holds_edits():
            self.attached.release(m)
        self.restored = True
