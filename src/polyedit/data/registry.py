"""Dataset specs: one registry shared by the CLI and the Python API.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`,
`jsonl:cases.jsonl`, `world:small`. A loader registers its NAME with `@register_dataset`. Options every
dataset takes: `langs=` (probe languages) and `split=dev|test|all` (data/splits.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from polyedit.data.cases import Edit, EditCase, Probe, case_id_of, edit_language_added
from polyedit.data.dataset import Dataset, DatasetSpec, SpecOptions
from polyedit.data.jsonio import parse_json, read_jsonl, read_text
from polyedit.data.problems import Report, register_format
from polyedit.data.splits import select as select_split
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
    # `split` is every dataset's option, applied here once (data/splits.py); before `limit`, so that
    # `--limit N` takes the first N cases of the side
    ds.cases = select_split(ds.cases, parsed.options.get("split"))
    langs = parsed.langs()  # every dataset takes langs=
    unread = sorted(set(parsed.options) - getattr(parsed.options, "read", set(parsed.options)))
    if unread:
        used = sorted(parsed.options.read) if isinstance(parsed.options, SpecOptions) else []
        raise PolyeditError(f"dataset spec {spec!r}: unknown option(s) {', '.join(unread)} for {parsed.name} "
                            f"(it reads: {', '.join(used) or 'none'}; langs= restricts probe languages)")
    check_unique_ids(ds.cases, spec)
    if langs:
        note = edit_language_added(ds.cases, langs, f"langs={','.join(langs)}")
        ds.notes += [note] if note else []
        ds.cases = [c.restrict_probed(langs) for c in ds.cases]
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
    cases, lines = [], {}
    for i, record in read_jsonl(path):
        case = EditCase.from_dict(record, where=f"{path}:{i}")
        if case.case_id in lines:
            raise PolyeditError(f"{path}:{i}: case_id {case.case_id!r} already used at line {lines[case.case_id]}")
        lines[case.case_id] = i
        cases.append(case)
    return Dataset(f"jsonl:{path}", cases, source=str(path))


@register_format("jsonl", "polyedit's own case format, one case per line (every field of every line checked)")
def check_jsonl(path: Path) -> Report:
    """Every problem of every line: every bad field of the edit and of each probe (`Edit.problems`,
    `Probe.problems`: the checks that building them runs), the case id, the meta object. Problems name
    `file:line` and the field."""
    report = Report(exhaustive=True)
    if path.is_dir():
        raise PolyeditError(f"{path}: is a directory; the jsonl format is one file")
    seen: dict[str, int] = {}
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"

        def add(field: str | None, message: str) -> None:
            report.add(where, None, field, message.removeprefix(f"{where}: "), "problems")

        try:
            rec = parse_json(line, where, strings=False)  # lone surrogates: reported per field below
        except PolyeditError as e:
            add(None, str(e))
            continue
        if not isinstance(rec, dict):
            add(None, f"expected an object, got {type(rec).__name__}")
            continue
        probes = rec.get("probes", [])
        if not isinstance(probes, list):
            add("probes", f"expected a list, got {type(probes).__name__}")
            probes = []
        for part, cls, value in [("edit", Edit, rec.get("edit"))] + [
                (f"probes[{i}]", Probe, p) for i, p in enumerate(probes)]:
            if not isinstance(value, dict):
                add(part, "missing" if value is None else f"expected an object, got {type(value).__name__}")
                continue
            for field, message in cls.problems(value):
                add(f"{part}.{field}", message)
        if rec.get("meta") is not None and not isinstance(rec["meta"], dict):
            add("meta", f"expected an object, got {type(rec['meta']).__name__}")
        if rec.get("case_id") is not None:
            try:
                cid = case_id_of(rec["case_id"], where)
            except PolyeditError as e:
                add("case_id", str(e))
                continue
            if cid in seen:
                add("case_id", f"{cid!r} already used at line {seen[cid]}")
            seen[cid] = number
    return report


def check_unique_ids(cases: list[EditCase], source: str) -> None:
    """Results are keyed by case_id (resume skips finished ids, batch records look metrics up by id), so
    two cases with one id would silently share or lose results."""
    seen: dict[str, int] = {}
    for i, c in enumerate(cases):
        if c.case_id in seen:
            raise PolyeditError(f"{source}: case {i} repeats case_id {c.case_id!r} of case {seen[c.case_id]}")
        seen[c.case_id] = i
