"""Dataset specs: one registry shared by the CLI and the Python API.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`,
`jsonl:cases.jsonl`, `world:small`. A loader registers its NAME with `@register_dataset`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from polyedit.data.cases import EditCase
from polyedit.errors import PolyeditError


@dataclass
class Dataset:
    """Loaded cases plus the count of what the loader dropped and why (shown in run summaries)."""

    name: str
    cases: list[EditCase]
    skipped: Counter = field(default_factory=Counter)
    source: str = ""
    #: the benchmark's own scoring protocols (names registered in polyedit.evaluation), used when a run
    #: names none; None means polyedit's defaults
    protocols: list[str] | None = None
    #: case-level fields (`EditCase.meta`) the summary reports groups of, e.g. the world's `answer_kind`
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    arg: str | None
    options: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> DatasetSpec:
        if not spec or not spec.strip():
            raise PolyeditError("empty dataset spec")
        name, _, rest = spec.partition(":")
        arg, options = None, {}
        parts = rest.split(":") if rest else []
        # A Windows-free world: a path argument may itself contain ':' only in key=value options.
        for i, part in enumerate(parts):
            if "=" in part and (i > 0 or arg is None) and not Path(part).exists():
                key, _, value = part.partition("=")
                options[key.strip()] = value.strip()
            elif arg is None:
                arg = part
            else:
                raise PolyeditError(f"dataset spec {spec!r}: unexpected part {part!r}")
        return cls(name.strip().lower(), arg, options)

    def langs(self) -> list[str] | None:
        raw = self.options.get("langs")
        return [x for x in raw.split(",") if x] if raw else None


Loader = Callable[[DatasetSpec], Dataset]
_LOADERS: dict[str, tuple[Loader, str]] = {}


def register_dataset(name: str, help: str = "") -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        _LOADERS[name] = (fn, help)
        return fn

    return deco


def _discover() -> None:
    # Loaders live in modules of this package and in polyedit.world; importing them registers them.
    import importlib
    import pkgutil

    import polyedit.data as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"polyedit.data.{mod.name}")
    try:
        importlib.import_module("polyedit.world.dataset")
    except ModuleNotFoundError as e:  # the world package is optional until built
        if e.name != "polyedit.world.dataset" and e.name != "polyedit.world":
            raise


def dataset_names() -> dict[str, str]:
    _discover()
    return {k: v[1] for k, v in sorted(_LOADERS.items())}


def load_dataset(spec: str, limit: int | None = None) -> Dataset:
    _discover()
    parsed = DatasetSpec.parse(spec)
    if parsed.name not in _LOADERS:
        raise PolyeditError(f"unknown dataset {parsed.name!r} in spec {spec!r} (known: {', '.join(sorted(_LOADERS))})")
    ds = _LOADERS[parsed.name][0](parsed)
    langs = parsed.langs()
    if langs:
        ds.cases = [c.restrict(langs) for c in ds.cases]
    if limit is not None:
        ds.cases = ds.cases[:limit]
    return ds


@register_dataset("jsonl", "polyedit's own case format: one EditCase object per line (jsonl:PATH)")
def load_jsonl(spec: DatasetSpec) -> Dataset:
    if not spec.arg:
        raise PolyeditError("jsonl dataset needs a path: jsonl:PATH")
    path = Path(spec.arg)
    if not path.is_file():
        raise PolyeditError(f"jsonl dataset: no file at {path}")
    cases = []
    for i, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise PolyeditError(f"{path}:{i}: not JSON ({e.msg})") from None
        cases.append(EditCase.from_dict(record, where=f"{path}:{i}"))
    return Dataset(f"jsonl:{path}", cases, source=str(path))
