"""EasyEdit's JSON files (zjunlp/EasyEdit), so users can bring the data they already edit with.

Specs: `easyedit-zsre:PATH[:lang=en]` and `easyedit-counterfact:PATH[:lang=en]`. The files carry no
language, so `lang` (default `en`) states it; every probe is in that language.

ZsRE format (`zsre_mend_eval*.json`), a JSON array of
    {"subject", "src", "alt", "answers": [str], "rephrase", "loc": "nq question: ...", "loc_ans",
     "portability": {"New Question", "New Answer"} (optional)}
-> edit `src -> alt` with target_true `answers[0]` (EasyEdit's `ground_truth`), generality `rephrase`,
locality `loc` (the `nq question: ` marker removed) -> `loc_ans`, portability where present.

CounterFact format (`counterfact-*.json`, KnowEdit style), a JSON array of
    {"subject", "prompt", "target_new", "ground_truth", "rephrase_prompt", "locality_prompt",
     "locality_ground_truth", "portability_prompt"/"portability_ground_truth" (optional)}
-> edit `prompt -> target_new` with target_true `ground_truth`, generality `rephrase_prompt`, locality
`locality_prompt -> locality_ground_truth`, portability where present. Fields that EasyEdit allows to be a
list (`ground_truth`, `rephrase_prompt`, ...) are accepted as lists: the first answer is the answer, every
prompt is a probe.

A record whose prompt does not contain its subject (compared ignoring case and whitespace, as for BMIKE-53)
is kept and counted (methods that locate the subject use `models.tokens.subject_span`'s fallback).
Scored by default as EasyEdit does: teacher-forced token accuracy, and locality as unchanged predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyedit.data.bmike53 import recover_subject
from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.mzsre import strip_nq
from polyedit.data.mkeb import json_files
from polyedit.data.problems import RecordReader, Report, flag_missing_subject, read_records, register_format
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

PROTOCOLS = ["token_accuracy", "locality"]

# Per format: the record fields that fill each role.
FIELDS = {
    "zsre": {"prompt": "src", "target_new": "alt", "target_true": "answers", "rephrase": "rephrase",
             "loc": "loc", "loc_ans": "loc_ans"},
    "counterfact": {"prompt": "prompt", "target_new": "target_new", "target_true": "ground_truth",
                    "rephrase": "rephrase_prompt", "loc": "locality_prompt", "loc_ans": "locality_ground_truth"},
}


def _first(r: RecordReader, rec: dict, field: str, reason: str, required: bool = True) -> str | None:
    """A string, or the first string of a list (EasyEdit stores `answers` and sometimes answers as lists)."""
    value = rec.get(field)
    if isinstance(value, list):
        texts = r.texts(rec, field, field, reason, required)
        return texts[0] if texts else None
    return r.text(rec, field, field, reason, required)


def convert_record(r: RecordReader, rec: Any, fmt: str, lang: str, index: int) -> EditCase | None:
    """The record's case, or None when its edit is unusable. On an exhaustive report (`validate`) the
    probes of such a record are still read, so every problem of the record is listed."""
    if not isinstance(rec, dict):
        r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
        return None
    f = FIELDS[fmt]
    reason = "records without a usable edit"
    subject = r.text(rec, "subject", "subject", reason)
    prompt = r.text(rec, f["prompt"], f["prompt"], reason)
    new = _first(r, rec, f["target_new"], reason)
    true = _first(r, rec, f["target_true"], "empty ground truths ignored", required=False)
    usable = subject is not None and prompt is not None and new is not None
    if not usable and not r.report.exhaustive:
        return None
    probes = _probes(r, rec, fmt, lang, new or "?", true, subject)
    if not usable:
        return None
    # BMIKE-53's rule for a subject written differently in the prompt (whitespace, case)
    case = make_case(f"easyedit-{fmt}-{index}", lang, recover_subject(subject, prompt) or subject, prompt, new, true)
    flag_missing_subject(r, case.edit, f["prompt"])
    case.meta.update({"benchmark": f"easyedit-{fmt}", "index": index})
    case.probes.extend(probes)
    return case


def _probes(r: RecordReader, rec: dict, fmt: str, lang: str, new: str, true: str | None,
            subject: str | None) -> list[Probe]:
    """Generality, locality and portability probes of a record, each malformed field recorded."""
    f = FIELDS[fmt]
    out = [Probe(GENERALITY, lang, p, new, true, subject)
           for p in r.texts(rec, f["rephrase"], f["rephrase"], "generality probes dropped", required=False) or []]
    locs = r.texts(rec, f["loc"], f["loc"], "locality probes dropped", required=False)
    loc_ans = _first(r, rec, f["loc_ans"], "locality probes with an empty or missing answer", required=locs is not None)
    if locs and loc_ans is not None:
        out.extend(Probe(LOCALITY, lang, strip_nq(q), loc_ans) for q in locs if strip_nq(q).strip())
    out.extend(Probe(PORTABILITY, lang, q, a, None, subject) for q, a in portability(r, rec))
    return out


def portability(r: RecordReader, rec: dict) -> list[tuple[str, str]]:
    """(question, answer) pairs from either EasyEdit layout; absent is fine, malformed is reported."""
    reason = "portability probes dropped"
    port = rec.get("portability")
    if isinstance(port, dict) and "New Question" in port:
        q = r.text(port, "New Question", "portability.New Question", reason)
        a = r.text(port, "New Answer", "portability.New Answer", reason)
        return [(q, a)] if q and a else []
    if port is not None and not isinstance(port, dict):
        r.problem("portability", "expected an object", reason)
        return []
    qs = r.texts(rec, "portability_prompt", "portability_prompt", reason, required=False)
    if qs:
        a = _first(r, rec, "portability_ground_truth", reason)
        return [(q, a) for q in qs] if a else []
    return []


def load_easyedit(path: Path, fmt: str, lang: str, report: Report) -> list[EditCase]:
    if not path.is_file():
        raise PolyeditError(f"easyedit-{fmt}: no file at {path}")
    cases = []
    for i, rec in enumerate(read_records(path, report)):
        case = convert_record(RecordReader(report, path, i), rec, fmt, lang, i)
        if case is not None:
            cases.append(case)
    return cases


def _loader(fmt: str):
    def load(spec: DatasetSpec) -> Dataset:
        if not spec.arg:
            raise PolyeditError(f"easyedit-{fmt} dataset needs a path: easyedit-{fmt}:PATH")
        lang = normalize_code(spec.options.get("lang", "en"))
        report = Report()
        cases = load_easyedit(Path(spec.arg), fmt, lang, report)
        if not cases and report.problems:
            raise PolyeditError(f"easyedit-{fmt}:{spec.arg}: no usable record; first problem: {report.problems[0]}")
        return Dataset(f"easyedit-{fmt}:{spec.arg}", cases, report.skipped, spec.arg, list(PROTOCOLS))

    return load


def _checker(fmt: str):
    def check(path: Path) -> Report:
        """Every problem of a file, or of every `.json` file of a folder (an unreadable one is its problem)."""
        report = Report(exhaustive=True)
        for file in json_files(path, f"easyedit-{fmt}"):
            load_easyedit(file, fmt, "en", report)
        return report

    return check


for _fmt, _help in (("zsre", "EasyEdit's ZsRE JSON: easyedit-zsre:PATH[:lang=en]"),
                    ("counterfact", "EasyEdit's CounterFact JSON: easyedit-counterfact:PATH[:lang=en]")):
    register_dataset(f"easyedit-{_fmt}", _help)(_loader(_fmt))
    register_format(f"easyedit-{_fmt}", _help)(_checker(_fmt))
