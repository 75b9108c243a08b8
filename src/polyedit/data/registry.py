"""Dataset specs: one registry shared by the CLI and the Python API.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`,
`jsonl:cases.jsonl`, `world:small`. A loader registers its NAME with `@register_dataset`. Options every
dataset takes: `langs=` (probe languages) and `split=dev|test|all` (data/splits.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from polyedit.data.cases import Edit, EditCase, Probe
from polyedit.data.jsonio import parse_json, read_jsonl, read_text
from polyedit.data.problems import Problem, Report, register_format
from polyedit.data.splits import select as select_split
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


class SpecOptions(dict):
    """A spec's key=value options, remembering which ones the loader read: an option no loader reads is a
    typo (`lang=` for `langs=`) and `load_dataset` refuses it rather than silently running everything."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


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
        return cls(name.strip().lower(), arg, SpecOptions(options))

    def langs(self) -> list[str] | None:
        raw = self.options.get("langs")
        if raw is None:
            return None
        codes = list(dict.fromkeys(x.strip() for x in raw.split(",") if x.strip()))
        if not codes:
            raise PolyeditError(f"dataset option langs={raw!r} names no language")
        return codes


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
    """Every problem of every line: the edit and each probe are checked on their own, so a line with three
    problems lists three. Problems name `file:line` and the field."""
    report = Report()
    if path.is_dir():
        raise PolyeditError(f"{path}: is a directory; the jsonl format is one file")
    seen: dict[str, int] = {}
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"

        def add(field: str | None, message: str) -> None:
            report.problems.append(Problem(where, None, field, message.removeprefix(f"{where}: ")))
            report.skipped["problems"] += 1

        try:
            rec = parse_json(line, where, strings=False)  # lone surrogates: reported per field below
        except PolyeditError as e:
            add(None, str(e))
            continue
        if not isinstance(rec, dict):
            add(None, f"expected an object, got {type(rec).__name__}")
            continue
        for part, cls, value in [("edit", Edit, rec.get("edit"))] + [
                (f"probes[{i}]", Probe, p) for i, p in enumerate(rec.get("probes") or [])]:
            if not isinstance(value, dict):
                add(part, f"expected an object, got {type(value).__name__}")
                continue
            try:
                cls(**{k: value.get(k) for k in cls.__dataclass_fields__ if k != "aliases"},
                    **({"aliases": tuple(value.get("aliases") or ())} if cls is Probe else {}))
            except (PolyeditError, TypeError) as e:
                add(part, str(e))
        if not isinstance(rec.get("probes", []), list):
            add("probes", "expected a list")
        if rec.get("meta") is not None and not isinstance(rec["meta"], dict):
            add("meta", f"expected an object, got {type(rec['meta']).__name__}")
        cid = rec.get("case_id")
        if cid is not None:
            if str(cid) in seen:
                add("case_id", f"{cid!r} already used at line {seen[str(cid)]}")
            seen[str(cid)] = number
    return report


def check_unique_ids(cases: list[EditCase], source: str) -> None:
    """Results are keyed by case_id (resume skips finished ids, batch records look metrics up by id), so
    two cases with one id would silently share or lose results."""
    seen: dict[str, int] = {}
    for i, c in enumerate(cases):
        if c.case_id in seen:
            raise PolyeditError(f"{source}: case {i} repeats case_id {c.case_id!r} of case {seen[c.case_id]}")
        seen[c.case_id] = i
