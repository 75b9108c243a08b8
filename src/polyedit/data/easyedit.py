"""EasyEdit's and KnowEdit's JSON files (zjunlp/EasyEdit), so users can bring the data they already edit with.

Specs: `easyedit-zsre:PATH`, `easyedit-counterfact:PATH` and `knowedit:PATH`, each with
`[:lang=CODE|auto][:map=FROM:TO,...]`. The three read the same fields (`easyedit_fields.py`: every layout
EasyEdit documents); the name only prefixes the case ids. PATH is a file (a JSON array of records) or a
folder of them.

A record's language is its `lang`/`language` field when it has one, else the `lang=` option, else detected
from its text (`langdetect.py`); where each came from is counted (`polyedit data stats`). Each case keeps
the record's `case_id`/`id` (else its position) as `meta["source_id"]`; two records with one id and
different facts are refused, naming both (a repeat of the same fact is dropped and counted).

Every field of every record is accounted for (`Report.fields`): read, null, ignored or not understood; a
field not understood is a warning, and a probe kind the file leaves empty while holding fields that look
like it (`neighborhood_prompts` and no locality probe) is a warning naming those fields.

A record whose prompt does not contain its subject (compared ignoring case and whitespace, as for BMIKE-53)
is kept and counted (methods that locate the subject use `models.tokens.subject_span`'s fallback).
Scored by default as EasyEdit does: teacher-forced token accuracy, and locality as unchanged predictions.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from polyedit.data import easyedit_fields as F
from polyedit.data.bmike53 import recover_subject
from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, EditCase, make_case
from polyedit.data.langdetect import Languages
from polyedit.data.languages import normalize_code
from polyedit.data.mapping import parse_mapping
from polyedit.data.mkeb import json_files
from polyedit.data.problems import (RecordReader, Report, case_key, flag_missing_subject, read_records,
                                    record_line, register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

PROTOCOLS = ["token_accuracy", "locality"]
#: names of fields that look like a probe kind: named when the file loads that kind empty
LOOKS_LIKE = {GENERALITY: re.compile(r"rephras|paraphras|generali", re.I),
              LOCALITY: re.compile(r"loc|neighbo|specific|forget", re.I),
              PORTABILITY: re.compile(r"port|hop|reason|alias|logical", re.I)}


def convert_record(r: RecordReader, rec: Any, fmt: str, lang: str | None, index: int) -> EditCase | None:
    """The record's case, or None when its edit is unusable. On an exhaustive report (`validate`) the
    probes of such a record are still read, so every problem of the record is listed."""
    if not isinstance(rec, dict):
        r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
        return None
    reason = "records without a usable edit"
    subject_f, prompt_f = F.first_present(rec, F.SUBJECT), F.first_present(rec, F.PROMPT)
    subject, prompt = r.text(rec, subject_f, subject_f, reason), r.text(rec, prompt_f, prompt_f, reason)
    new_f, true_f = F.first_present(rec, F.TARGET_NEW), F.first_present(rec, F.TARGET_TRUE)
    new = F.answers(r, rec.get(new_f), new_f, reason)
    true = F.answers(r, rec.get(true_f), true_f, "empty ground truths ignored", required=False)
    usable = subject is not None and prompt is not None and new is not None and lang is not None
    if not usable and not r.report.exhaustive:
        return None
    lang_ = lang or "en"  # only for checking the probes of a record that makes no case
    new_, true_ = (new or ("?",))[0], (true or (None,))[0]
    probes = [*F.generality(r, rec, lang_, new_, true_, subject), *F.flat_probes(r, rec, lang_, subject),
              *F.grouped_probes(r, rec, lang_, subject)]
    if not usable:
        return None
    # BMIKE-53's rule for a subject written differently in the prompt (whitespace, case)
    case = make_case(f"{name_of(fmt)}-{index}", lang, recover_subject(subject, prompt) or subject, prompt, new_, true_)
    flag_missing_subject(r, case.edit, prompt_f)
    case.meta.update({"benchmark": name_of(fmt), "index": index})
    case.probes.extend(probes)
    return case


def name_of(fmt: str) -> str:
    return fmt if fmt == "knowedit" else f"easyedit-{fmt}"


def record_language(r: RecordReader, rec: Any) -> tuple[str | None, str | None]:
    """(code, field name) from the record's own language field, or (None, None)."""
    if not isinstance(rec, dict):
        return None, None
    name = next((n for n in F.LANG if rec.get(n) is not None), None)
    if name is None:
        return None, None
    r.mark(name)
    return r.language(rec[name], name, "unknown language fields (the option's or a detected language used)"), name


class _Ids:
    """Source ids of one file: a repeat with the same fact is dropped (counted), with a different fact refused."""

    def __init__(self, path: Path, report: Report) -> None:
        self.path, self.report, self.seen = path, report, {}

    def keep(self, r: RecordReader, rec: Any, index: int) -> tuple[bool, Any]:
        name = next((n for n in F.ID if isinstance(rec, dict) and rec.get(n) is not None), None)
        if name is None:
            return True, index
        r.mark(name)
        key = case_key(rec[name])
        if key is None:
            r.problem(name, f"an id must be a string or an integer, got {rec[name]!r}",
                      "records with a bad id (dropped)")
            return False, None
        fact = tuple(rec.get(f) for names in (F.SUBJECT, F.PROMPT, F.TARGET_NEW) for f in names)
        if key not in self.seen:
            self.seen[key] = (index, f"{name} {rec[name]!r}", fact)
            return True, rec[name]
        first, first_id, first_fact = self.seen[key]
        if first_fact == fact:
            r.problem(name, f"repeats record {first} (same id {key!r}, same fact); dropped",
                      "records repeating an earlier record (dropped)")
            return False, None
        message = (f"{self.path}:{record_line(self.path, first)} (record {first}, {first_id}) and "
                   f"{self.path}:{record_line(self.path, index)} (record {index}, {name} {rec[name]!r}) share an id "
                   "but state different facts")
        if not self.report.exhaustive:
            raise PolyeditError(message)
        r.problem(name, message, "records whose id clashes with an earlier one")
        return False, None


def load_easyedit(path: Path, fmt: str, lang: str | None, report: Report, tag: str = "") -> list[EditCase]:
    """The cases of one file (`lang`: the option's code, None to detect per record)."""
    if not path.is_file():
        raise PolyeditError(f"{name_of(fmt)}: no file at {path}")
    records = read_records(path, report)
    readers = [RecordReader(report, path, i) for i in range(len(records))]
    langs = Languages(lang)
    for r, rec in zip(readers, records):
        langs.add(*record_language(r, rec), rec)
    ids, cases = _Ids(path, report), []
    keys = report.record_keys.setdefault(str(path), [])
    codes = langs.settle(report.languages)
    if langs.unsure:
        report.warn(path, None, None, f"the language of {langs.unsure} record(s) is a guess (py3langid unsure, "
                    "no sure record of the same script to follow); lang=CODE states it")
    mixed = Counter(c for c in codes if c is not None)
    if len(mixed) > 1:
        report.warn(path, None, None, "records in several languages: " + ", ".join(
            f"{c} {n}" for c, n in sorted(mixed.items(), key=lambda kv: (-kv[1], kv[0]))) + " (lang=CODE sets one)")
    for i, (r, rec, code) in enumerate(zip(readers, records, codes)):
        keep, source_id = ids.keep(r, rec, i)
        keys.append(str(source_id if keep else i))
        case = convert_record(r, rec, fmt, code, i) if keep else None
        if case is not None:
            case.case_id += tag
            case.meta["source_id"] = source_id
            cases.append(case)
        elif keep and code is None and isinstance(rec, dict):
            r.problem(None, "no language: no lang field, no lang= option, and its script names none",
                      "records without a language (dropped)")
        r.account(rec, F.IGNORED)
    empty_kind_warnings(path, cases, report)
    return cases


def empty_kind_warnings(path: Path, cases: list[EditCase], report: Report) -> None:
    """A probe kind the file loads empty while it holds fields not understood that look like that kind."""
    loaded = Counter(p.kind for c in cases for p in c.probes)
    unknown = sorted(p for (fate, file, p) in report._where if fate == "not understood" and file == str(path))
    for kind, pattern in LOOKS_LIKE.items():
        like = [p for p in unknown if pattern.search(p.rsplit(".", 1)[-1])]
        if cases and not loaded[kind] and like:
            report.warn(path, None, ", ".join(like), f"no {kind} probe loaded, but these fields look like "
                        f"{kind} probes and were not understood (rename them with map=FROM:TO)")


def option_lang(spec: DatasetSpec) -> str | None:
    """The `lang=` option: a code, or `auto` (the default) to detect each record's language."""
    raw = spec.options.get("lang", "auto")
    return None if raw.strip().lower() == "auto" else normalize_code(raw)


def _loader(fmt: str):
    def load(spec: DatasetSpec) -> Dataset:
        if not spec.arg:
            raise PolyeditError(f"{name_of(fmt)} dataset needs a path: {name_of(fmt)}:PATH")
        lang = option_lang(spec)
        report = Report(mapping=parse_mapping(spec.options.get("map")))
        if not Path(spec.arg).exists():
            raise PolyeditError(f"{name_of(fmt)}: no file at {spec.arg}")
        files = json_files(Path(spec.arg), name_of(fmt))
        # a folder's files each number their records from 0: the file's stem keeps the case ids apart
        cases = [c for f in files for c in load_easyedit(f, fmt, lang, report, f"@{f.stem}" if len(files) > 1 else "")]
        if not cases and report.problems:
            raise PolyeditError(f"{name_of(fmt)}:{spec.arg}: no usable record; first problem: {report.problems[0]}")
        return report.dataset(f"{name_of(fmt)}:{spec.arg}", cases, spec.arg, PROTOCOLS)

    return load


def _checker(fmt: str):
    def check(path: Path) -> Report:
        """Every problem of a file, or of every `.json` file of a folder (an unreadable one is its problem)."""
        report = Report(exhaustive=True)
        for file in json_files(path, name_of(fmt)):
            load_easyedit(file, fmt, None, report)
        report.field_warnings()
        return report

    return check


for _fmt, _help in (("zsre", "EasyEdit's ZsRE JSON"), ("counterfact", "EasyEdit's CounterFact JSON"),
                    ("knowedit", "KnowEdit's JSON (nested locality/portability groups)")):
    _name = name_of(_fmt)
    _help = f"{_help}: {_name}:PATH[:lang=CODE|auto][:map=FROM:TO,...] (any EasyEdit/KnowEdit layout)"
    register_dataset(_name, _help, options=("lang", "map"))(_loader(_fmt))
    register_format(_name, _help)(_checker(_fmt))
