"""MQuAKE (Zhong et al., "MQuAKE: Assessing Knowledge Editing in Language Models via Multi-Hop Questions",
EMNLP 2023): multi-hop questions whose answers change as a consequence of edited facts, with answer aliases.

Spec: `mquake:PATH[:lang=en]`; PATH is `MQuAKE-CF-3k.json`, `MQuAKE-CF.json`, `MQuAKE-T.json` (from
github.com/princeton-nlp/MQuAKE `datasets/`) or a folder of such files. The files are English; `lang`
states the language of a translated copy in the same format.

Format (the repository's README): a JSON array of instances

    {"case_id": 2500,
     "requested_rewrite": [{"prompt": "{} is a citizen of", "subject": "Vince McMahon",
                            "target_new": {"str": ..., "id": ...}, "target_true": {"str": ..., "id": ...},
                            "question": "What is the country of citizenship of Vince McMahon?", ...}, ...],
     "questions": [three multi-hop questions], "answer": ..., "answer_alias": [...],
     "new_answer": ..., "new_answer_alias": [...], "single_hops": [...], "new_single_hops": [...], "orig": {...}}

Mapping: one case per requested rewrite, `mquake-<case_id>-<k>`:
- edit: the cloze prompt with `{}` filled by the subject -> `target_new.str` (target_true `target_true.str`);
- generality: the rewrite's own `question` -> `target_new.str`;
- portability: each multi-hop question -> `new_answer`, aliases `new_answer_alias`, answer_true `answer`,
  only on instances with ONE rewrite: with several, the new answer holds only once every rewrite of the
  instance is applied, which a case of one edit cannot state. Their multi-hop probes are dropped and
  counted; `case.meta["instance"]` and `meta["rewrites"]` name the group, for a batch that applies them
  together.
- no locality probes: MQuAKE has none. `answer_extended` (MQuAKE-T's other pre-edit answers) is unused.

`case.meta["subject_key"]` is the rewrite's subject, so the split keeps one subject's edits together.
Scored by default on generated answers (MQuAKE's own test: the answer or an alias is generated).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, PORTABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.mkeb import fill, json_files
from polyedit.data.mapping import parse_mapping
from polyedit.data.problems import (RecordReader, Report, case_key, flag_missing_subject, read_records,
                                    register_format, require_path)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError, shorten

PROTOCOLS = ["generation", "token_f1"]
#: published fields no probe needs: the pre-edit answer's aliases, the chains of single-hop facts, the
#: original triples, Wikidata ids and MQuAKE-T's other pre-edit answers
UNUSED = ("answer_alias", "single_hops", "new_single_hops", "orig", "answer_extended",
          "requested_rewrite[].relation_id", "requested_rewrite[].target_new.id", "requested_rewrite[].target_true.id")
WHERE = "MQuAKE-CF-3k.json, MQuAKE-CF.json and MQuAKE-T.json are in github.com/princeton-nlp/MQuAKE datasets/"


def _answer(r: RecordReader, value: Any, path: str, reason: str) -> str | None:
    """`{"str": ...}` as the README writes targets; a bare string is accepted too."""
    if isinstance(value, dict):
        return r.text(value, "str", f"{path}.str", reason)
    if isinstance(value, str) and value.strip():
        return value
    r.problem(path, f"expected an object with 'str', got {value!r:.40}", reason)
    return None


def convert_record(r: RecordReader, rec: Any, lang: str) -> list[EditCase]:
    """One case per usable rewrite of an instance. A run drops the instance (or a rewrite) at its first
    problem; on an exhaustive report (`validate`) its other fields are still checked."""
    if not isinstance(rec, dict):
        r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
        return []
    go_on = r.report.exhaustive
    r.mark("case_id"), r.mark("requested_rewrite")
    for unused in UNUSED:
        r.ignore(unused)
    cid = case_key(rec.get("case_id"))
    if cid is None:
        r.problem("case_id", f"expected an int or string id, got {shorten(rec.get('case_id'), 40)}",
                  "records without a case_id")
        if not go_on:
            return []
    rewrites = rec.get("requested_rewrite")
    if not isinstance(rewrites, list) or not rewrites:
        r.problem("requested_rewrite", "expected a non-empty list of rewrites", "records without a rewrite")
        if not go_on:
            return []
        rewrites = []
    port = "multi-hop probes dropped"
    questions = r.texts(rec, "questions", "questions", port, required=False) or []
    new_answer = r.text(rec, "new_answer", "new_answer", port, required=bool(questions))
    old_answer = r.text(rec, "answer", "answer", "empty old answers ignored", required=False)
    aliases = r.texts(rec, "new_answer_alias", "new_answer_alias", "malformed alias lists (aliases dropped)",
                      required=False) or []
    cases = []
    for k, rw in enumerate(rewrites):
        path, reason = f"requested_rewrite[{k}]", "rewrites without a usable edit"
        if not isinstance(rw, dict):
            r.problem(path, "expected an object", reason)
            continue
        prompt = r.text(rw, "prompt", f"{path}.prompt", reason)
        subject = r.text(rw, "subject", f"{path}.subject", reason)
        new = _answer(r, rw.get("target_new"), f"{path}.target_new", reason)
        usable = cid is not None and prompt is not None and subject is not None and new is not None
        if not usable and not go_on:
            continue
        true = _answer(r, rw["target_true"], f"{path}.target_true", "empty old answers ignored") \
            if rw.get("target_true") is not None else None
        if not usable:  # validate: the rewrite's other fields are still checked
            r.text(rw, "question", f"{path}.question", "generality probes dropped", required=False)
            continue
        case = make_case(f"mquake-{cid}-{k}", lang, subject, fill(prompt, subject), new, true)
        flag_missing_subject(r, case.edit, f"{path}.prompt")
        question = r.text(rw, "question", f"{path}.question", "generality probes dropped", required=False)
        if question is not None:
            case.probes.append(Probe(GENERALITY, lang, question, new, true, subject))
        case.meta.update({"benchmark": "mquake", "instance": rec.get("case_id"), "rewrites": len(rewrites),
                          "subject_key": subject})
        cases.append(case)
    if questions and new_answer is not None:
        if len(rewrites) == 1 and cases:
            cases[0].probes.extend(Probe(PORTABILITY, lang, q, new_answer, old_answer, None, tuple(aliases))
                                   for q in questions)
        elif len(rewrites) > 1:
            r.problem("questions", f"{len(rewrites)} rewrites: the new answer needs them all applied",
                      "multi-hop probes of multi-edit instances dropped")
    return cases


def load_mquake(path: Path, lang: str, report: Report) -> list[EditCase]:
    cases = []
    for file in json_files(path, "mquake"):
        for i, rec in enumerate(read_records(file, report)):
            cases += convert_record(RecordReader(report, file, i), rec, lang)
    return cases


@register_dataset("mquake", "MQuAKE (English multi-hop, aliases): mquake:PATH[:lang=en]; files: "
                            "github.com/princeton-nlp/MQuAKE datasets/MQuAKE-CF-3k.json, MQuAKE-T.json",
                  options=("lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    if not spec.arg:
        raise PolyeditError(f"mquake dataset needs a path: mquake:PATH; {WHERE}")
    require_path(Path(spec.arg), "mquake", WHERE)
    report = Report(mapping=parse_mapping(spec.options.get("map")))
    cases = load_mquake(Path(spec.arg), normalize_code(spec.options.get("lang", "en")), report)
    if not cases and report.problems:
        raise PolyeditError(f"mquake:{spec.arg}: no usable record; first problem: {report.problems[0]}")
    return report.dataset(f"mquake:{spec.arg}", cases, spec.arg, PROTOCOLS)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_mquake(path, "en", report)
    return report


register_format("mquake", "MQuAKE JSON (MQuAKE-CF-3k.json, MQuAKE-CF.json, MQuAKE-T.json)")(check)
