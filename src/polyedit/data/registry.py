"""Dataset specs: one registry shared by the CLI and the Python API.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`,
`jsonl:cases.jsonl`, `world:small`. A loader registers its NAME with `@register_dataset`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from polyedit.data.cases import EditCase
from polyedit.data.dataset import Dataset, DatasetSpec
from polyedit.errors import PolyeditError
from polyedit.registry import Registry, import_submodules


Loader = Callable[[DatasetSpec], Dataset]
#: loaders live in the modules of this package (importing them registers them); the knowledge world
#: registers its own from above, and other packages through the `polyedit.datasets` entry points
DATASETS: Registry[Loader] = Registry("dataset", import_submodules("polyedit.data"))


def register_dataset(name: str, help: str = "") -> Callable[[Loader], Loader]:
    return DATASETS.decorator(name, help)


def dataset_names() -> dict[str, str]:
    return DATASETS.helps()


def load_dataset(spec: str, limit: int | None = None) -> Dataset:
    parsed = DatasetSpec.parse(spec)
    if parsed.name not in DATASETS:
        raise PolyeditError(f"unknown dataset {parsed.name!r} in spec {spec!r} (known: {', '.join(DATASETS.names())})")
    ds = DATASETS.get(parsed.name)(parsed)
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
