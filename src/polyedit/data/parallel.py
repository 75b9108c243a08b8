"""Benchmarks shipped one file per language: `parallel:FORMAT:en=PATH:de=PATH[:edit_lang=en][:by=position|id]`
joins the files into one case set with probes in every language, as MzsRE and BMIKE-53 are joined.

Each file is read as FORMAT (one of the EasyEdit family: `easyedit-zsre`, `easyedit-counterfact`,
`knowedit`, `map=` included) in its own language. Records are aligned by their position in the file
(`by=position`, the default) or by their `case_id`/`id` (`by=id`). The `edit_lang` file's record is the
edit; every file's record (its prompt, its probes) probes its language. Files that disagree on their
number of records or their ids are refused with one line naming the first difference; a record one file
cannot use loses only that language (counted), or the case when it is the edit language's.
"""

from __future__ import annotations

from pathlib import Path

from polyedit.data.cases import EditCase
from polyedit.data.easyedit import load_easyedit
from polyedit.data.languages import normalize_code
from polyedit.data.mapping import parse_mapping
from polyedit.data.problems import Report
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

FORMATS = ("easyedit-zsre", "easyedit-counterfact", "knowedit")
PROTOCOLS = ["token_accuracy", "locality"]
_OPTIONS = {"edit_lang", "by", "map", "langs", "split"}


def side_files(spec: DatasetSpec) -> dict[str, Path]:
    """language -> file, from the spec's `CODE=PATH` options, in the order given."""
    files = {}
    for key in [k for k in spec.options if k not in _OPTIONS]:
        try:
            code = normalize_code(key)
        except PolyeditError:
            continue  # not a language: left unread, so `load_dataset` names it as an unknown option
        path = Path(spec.options.get(key))
        if not path.is_file():
            raise PolyeditError(f"parallel: no file at {path} (the {code} side)")
        files[code] = path
    if len(files) < 2:
        raise PolyeditError("parallel dataset needs two files or more: parallel:FORMAT:en=PATH:de=PATH")
    return files


def _keys(cases: list[EditCase], by: str) -> dict[str, EditCase]:
    return {str(c.meta["source_id"] if by == "id" else c.meta["index"]): c for c in cases}


def check_aligned(files: dict[str, Path], keys: dict[str, list[str]], by: str) -> None:
    """Refuse files whose record counts (`by=position`) or ids (`by=id`) differ, naming the first difference."""
    (first, mine), *rest = keys.items()
    for lang, other in rest:
        if by == "position" and len(mine) != len(other):
            longer = files[first] if len(mine) > len(other) else files[lang]
            raise PolyeditError(f"parallel: {files[first]} has {len(mine)} records, {files[lang]} has {len(other)}; "
                                f"record {min(len(mine), len(other))} of {longer} has no counterpart")
        for a, b, ids in ((first, lang, set(other)), (lang, first, set(mine))):
            missing = next((k for k in keys[a] if k not in ids), None)
            if missing is not None:
                raise PolyeditError(f"parallel: id {missing!r} of {files[a]} (record {keys[a].index(missing)}) "
                                    f"is not in {files[b]}")


def join(sides: dict[str, list[EditCase]], files: dict[str, Path], edit_lang: str, by: str,
         report: Report) -> list[EditCase]:
    keyed = {lang: _keys(cases, by) for lang, cases in sides.items()}
    out = []
    for key, edit in keyed[edit_lang].items():
        probes = list(edit.probes)
        for lang, cases in keyed.items():
            if lang == edit_lang:
                continue
            if key in cases:
                probes += cases[key].probes  # its first probe is its own prompt: reliability in that language
            else:
                report.add(files[lang], None, None, f"record {key} gives no case; its {lang} probes are dropped",
                           f"{lang}: records not usable in this language (their probes dropped)")
        out.append(EditCase(f"parallel-{key}", edit.edit, probes, {**edit.meta, "benchmark": "parallel"}))
    return out


@register_dataset("parallel", "one file per language joined: parallel:FORMAT:en=PATH:de=PATH[:edit_lang=en]"
                              "[:by=position|id] (FORMAT: easyedit-zsre, easyedit-counterfact, knowedit)")
def load(spec: DatasetSpec) -> Dataset:
    fmt = spec.arg
    if fmt not in FORMATS:
        raise PolyeditError(f"parallel: format {fmt!r} is not one of {', '.join(FORMATS)} "
                            "(parallel:FORMAT:en=PATH:de=PATH)")
    files = side_files(spec)
    edit_lang = normalize_code(spec.options.get("edit_lang", next(iter(files))))
    by = spec.options.get("by", "position")
    if by not in ("position", "id"):
        raise PolyeditError(f"parallel: by={by!r} is neither position nor id")
    if edit_lang not in files:
        raise PolyeditError(f"parallel: edit_lang={edit_lang} names no file (files: {', '.join(files)})")
    wanted = {normalize_code(x) for x in spec.langs() or files} | {edit_lang}
    report = Report(mapping=parse_mapping(spec.options.get("map")))
    sides, records = {}, {}
    for lang, path in files.items():
        if lang in wanted:  # `langs=` restricts what is read, not only what is reported
            sides[lang] = load_easyedit(path, fmt.removeprefix("easyedit-"), lang, report)
            keys = report.record_keys[str(path)]
            records[lang] = keys if by == "id" else [str(i) for i in range(len(keys))]
    check_aligned({k: v for k, v in files.items() if k in sides}, records, by)
    cases = join(sides, files, edit_lang, by, report)
    return report.dataset(f"parallel:{fmt}", cases, " + ".join(f"{k}={v}" for k, v in files.items()), PROTOCOLS)
