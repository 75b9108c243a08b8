"""Dataset specs: one registry shared by the CLI and the Python API.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`,
`jsonl:cases.jsonl`, `world:small`. A loader registers its NAME with `@register_dataset`. Options every
dataset takes: `langs=` (probe languages) and `split=dev|test|all` (data/splits.py).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

from polyedit.data.cases import Edit, EditCase, Probe, case_id_of, edit_language_added
from polyedit.data.dataset import Dataset, DatasetSpec, SpecOptions
from polyedit.data.jsonio import has_lone_surrogate, lone_surrogate, parse_json, read_text
from polyedit.data.mapping import apply_mapping, parse_mapping
from polyedit.data.problems import SUBJECT_MISSING, Report, register_format
from polyedit.data.schema import schema_errors
from polyedit.data.splits import select as select_split
from polyedit.errors import PolyeditError
from polyedit.registry import Registry, import_submodules


Loader = Callable[[DatasetSpec], Dataset]
#: loaders live in the modules of this package (importing them registers them); the knowledge world
#: registers its own from above, and other packages through the `polyedit.datasets` entry points
DATASETS: Registry[Loader] = Registry("dataset", import_submodules("polyedit.data"))


#: the options every dataset takes, applied by `load_dataset` itself
COMMON_OPTIONS = ("langs", "split")
#: dataset name -> the spec options its loader reads (with COMMON_OPTIONS); None: keys it cannot list
#: (parallel's `CODE=PATH`), checked by what the loader read
_OPTIONS: dict[str, frozenset[str] | None] = {}


def register_dataset(name: str, help: str = "", options: tuple[str, ...] | None = None
                     ) -> Callable[[Loader], Loader]:
    """`options`: the `key=value` options the loader reads besides `langs=` and `split=`. They tell an
    option from the argument (`jsonl:runs/a=b.jsonl` is a path) and name the known ones when one is not."""
    def register(loader: Loader) -> Loader:
        DATASETS.register(name, loader, help)
        _OPTIONS[name] = None if options is None else frozenset((*options, *COMMON_OPTIONS))
        return loader

    return register


def declared_options(name: str) -> frozenset[str] | None:
    DATASETS.get(name)  # discovers the loaders (or says the name is unknown)
    return _OPTIONS.get(name)


def dataset_names() -> dict[str, str]:
    return DATASETS.helps()


def load_dataset(spec: str, limit: int | None = None, langs: list[str] | None = None) -> Dataset:
    """The dataset of `spec`; `langs` (a run's `--langs`) is the spec's `langs=` where it names none, so only
    those languages are read and counted (a run on BMIKE-53's de and ja reads two files, not 53)."""
    name = spec.partition(":")[0].strip().lower() if spec else ""
    if name and name not in DATASETS:
        raise PolyeditError(f"unknown dataset {name!r} in spec {spec!r} (known: {', '.join(DATASETS.names())})")
    declared = declared_options(name) if name else None
    parsed = DatasetSpec.parse(spec, declared)
    odd = sorted(set(parsed.options) - declared) if declared is not None else []
    if odd:
        raise PolyeditError(f"dataset spec {spec!r}: unknown option(s) {', '.join(odd)} for {name} "
                            f"(known: {', '.join(sorted(declared))})")
    from_run = bool(langs) and not dict.__contains__(parsed.options, "langs")
    if from_run:  # with the edit language (the spec's edit_lang=, else English): a run always probes it
        edit = [x for x in (dict.get(parsed.options, "edit_lang") or "en").split(",") if x and x != "all"]
        parsed.options["langs"] = ",".join(dict.fromkeys([*langs, *edit]))
    if parsed.name not in DATASETS:
        raise PolyeditError(f"unknown dataset {parsed.name!r} in spec {spec!r} (known: {', '.join(DATASETS.names())})")
    if limit is not None:
        parsed = dataclasses.replace(parsed, limit=limit)
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
    if limit is not None:
        ds.cases = ds.cases[:limit]
    if langs:
        # a run's own --langs is noted by the run, for the cases it edits; a spec's langs= here
        note = None if from_run else edit_language_added(ds.cases, langs, f"langs={','.join(langs)}")
        ds.notes += [note] if note else []
        ds.cases = [c.restrict_probed(langs) for c in ds.cases]
    return ds


@register_dataset("jsonl", "polyedit's own case format: one EditCase object per line (jsonl:PATH[:map=FROM:TO,...])",
                  options=("map",))
def load_jsonl(spec: DatasetSpec) -> Dataset:
    """The cases of a JSONL file, refused at its first problem: `check_jsonl`'s own checks (one code path, so a
    file `validate` calls clean always loads). Edits whose prompt lacks the subject are kept and counted."""
    if not spec.arg:
        raise PolyeditError("jsonl dataset needs a path: jsonl:PATH")
    path = Path(spec.arg)
    if not path.is_file():
        raise PolyeditError(f"jsonl dataset: no file at {path}")
    report = Report(mapping=parse_mapping(spec.options.get("map")))
    cases = _jsonl_cases(path, report)
    if report.skipped[_REFUSED]:
        raise PolyeditError(str(next(p for p in report.problems if not p.message.endswith(_KEPT))))
    return report.dataset(f"jsonl:{path}", cases, str(path))


@register_format("jsonl", "polyedit's own case format, one case per line (every field of every line checked)")
def check_jsonl(path: Path) -> Report:
    """Every problem of every line: every bad field of the edit and of each probe (`Edit.problems`,
    `Probe.problems`: the checks that building them runs), the case id, the meta object, a lone surrogate
    anywhere, a repeated id, an edit whose prompt lacks its subject, an empty file, and what the case schema
    finds beyond them. Problems name `file:line` and the field."""
    if path.is_dir():
        raise PolyeditError(f"{path}: is a directory; the jsonl format is one file")
    report = Report(exhaustive=True)
    _jsonl_cases(path, report)
    return report


_REFUSED = "problems"  # the reason of a problem that refuses the file (the others are counted and kept)
_KEPT = " (kept)"


def _jsonl_cases(path: Path, report: Report) -> list[EditCase]:
    """The cases of every line without a problem; every problem recorded in `report`, every field counted."""
    cases, seen, lines = [], {}, 0
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        lines += 1
        where = f"{path}:{number}"
        refused = report.skipped[_REFUSED]
        try:
            rec = parse_json(line, where, strings=False)  # lone surrogates: reported per field below
        except PolyeditError as e:
            report.add(where, None, None, str(e).removeprefix(f"{where}: "), _REFUSED)
            continue
        rec = apply_mapping(rec, report.mapping) if isinstance(rec, dict) else rec
        found = _record_problems(rec, where, seen, number)
        for field, message in found:
            report.add(where, None, field, message.removeprefix(f"{where}: "), _REFUSED)
        if isinstance(rec, dict):
            _schema_problems(report, where, rec)
        if report.skipped[_REFUSED] > refused:  # this line has a problem
            continue
        try:
            case = EditCase.from_dict(apply_mapping(parse_json(line, where), report.mapping), where=where)
        except PolyeditError as e:  # a check building the case makes that the ones above do not
            report.add(where, None, None, str(e).removeprefix(f"{where}: "), _REFUSED)
            continue
        if not case.edit.subject_in_prompt:  # counted as the benchmark loaders count it (flag_missing_subject)
            report.add(where, None, "edit.subject", f"prompt {case.edit.prompt!r} does not contain its subject "
                                                    f"{case.edit.subject!r}{_KEPT}", SUBJECT_MISSING)
        _account_jsonl(report, path, number, rec)
        cases.append(case)
    if not lines:
        report.add(path, None, None, "no case (the file is empty)", _REFUSED)
    return cases


def _record_problems(rec, where: str, seen: dict[str, int], number: int) -> list[tuple[str | None, str]]:
    """(field, message) for each problem of one parsed line."""
    if not isinstance(rec, dict):
        return [(None, f"expected an object, got {type(rec).__name__}")]
    out = []
    probes = rec.get("probes", [])
    if not isinstance(probes, list):
        out.append(("probes", f"expected a list, got {type(probes).__name__}"))
        probes = []
    elif not probes:  # a run would edit and measure nothing: an empty table, not a result
        out.append(("probes", "no probe: the case has nothing to measure"))
    for part, cls, value in [("edit", Edit, rec.get("edit"))] + [
            (f"probes[{i}]", Probe, p) for i, p in enumerate(probes)]:
        if not isinstance(value, dict):
            out.append((part, "missing" if value is None else f"expected an object, got {type(value).__name__}"))
            continue
        out += [(f"{part}.{field}", message) for field, message in cls.problems(value)]
    meta = rec.get("meta")
    if meta is not None and not isinstance(meta, dict):
        out.append(("meta", f"expected an object, got {type(meta).__name__}"))
    elif meta is not None and lone_surrogate(meta) is not None:
        bad = lone_surrogate(meta)
        out.append((f"meta.{bad}" if bad and bad != "(key)" else "meta", "holds a lone surrogate (an unpaired "
                                                                          "\\ud800-\\udfff escape), which is not text"))
    if rec.get("case_id") is not None:
        try:
            cid = case_id_of(rec["case_id"], where)
        except PolyeditError as e:
            return out + [("case_id", str(e))]
        if has_lone_surrogate(cid):
            out.append(("case_id", "holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text"))
        elif cid in seen:
            out.append(("case_id", f"{cid!r} already used at line {seen[cid]}"))
        seen.setdefault(cid, number)
    return out


def _schema_problems(report: Report, where: str, rec: dict) -> None:
    """What the case schema finds beyond the checks above: a field already named by them is not named twice,
    and a field the schema does not know is a warning (the loader ignores it), not a problem."""
    named = {p.field for p in report.problems if p.file == where}
    for path, message, unknown in schema_errors(rec):
        if unknown:
            report.warn(where, None, path, message)
        elif not any(path and f and (f == path or f.startswith(path + ".") or path.startswith(f + "."))
                     for f in named):
            report.add(where, None, path, message, _REFUSED)


def _account_jsonl(report: Report, path: Path, line: int, record: dict) -> None:
    """Every field of a line: those the case schema knows are read, the others counted and warned about."""
    unknown = {p for p, _, extra in schema_errors(record) if extra}
    stack = [("", record)]
    while stack:
        prefix, value = stack.pop()
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            general = re.sub(r"\[\d+\]", "[]", name)
            if name in unknown:
                report.met("not understood", path, line, general)
            else:  # a null is the format's own way of saying absent
                report.met("read", path, line, general)
                if key == "edit" and isinstance(item, dict):
                    stack.append((name, item))
                elif key == "probes" and isinstance(item, list):
                    stack += [(f"probes[{j}]", p) for j, p in enumerate(item) if isinstance(p, dict)]


def check_unique_ids(cases: list[EditCase], source: str) -> None:
    """Results are keyed by case_id (resume skips finished ids, batch records look metrics up by id), so
    two cases with one id would silently share or lose results."""
    seen: dict[str, int] = {}
    for i, c in enumerate(cases):
        if c.case_id in seen:
            raise PolyeditError(f"{source}: case {i} repeats case_id {c.case_id!r} of case {seen[c.case_id]}")
        seen[c.case_id] = i
