"""MKEB, the multilingual knowledge-editing format of MEMLA (Xie et al., "MEMLA: Enhancing Multilingual
Knowledge Editing with Neuron-Masked Low-Rank Adaptation"; code jiakuan01/memla4mke).

Spec: `mkeb:PATH[:edit_lang=en][:langs=zh,fr,...]`; PATH is a JSON file, or a folder whose `*.json` files
are all read (in name order).

Format, as MEMLA's `memla/main.py` and `utils/util_funcs.py` read it: a JSON array of records

    {"example_id": 0, "relation_description": "...",
     "edit": {LANG: {"prompt": "{} was born in", "subject": "...", "target_new": "...", "target_true": "..."}},
     "paraphrase_prompts": {LANG: [str, ...]},
     "neighborhood_prompts": {LANG: [str, ...]}, "neighborhood_answers": {LANG: [str, ...]},
     "multi_hop_questions": {LANG: [str, ...]}, "multi_hop_new_answer": {LANG: str}}

for 12 languages (en zh fr de it es pt pl ru ja ko th); the multi-hop pair is optional. MEMLA edits in one
source language (`edit_lang`, default `en`) and probes in all of them. Mapping to polyedit:
- edit: `edit[edit_lang]`, the prompt with `{}` replaced by the subject;
- reliability in LANG: `edit[LANG]` filled the same way -> target_new, answer_true target_true;
- generality: each paraphrase prompt -> target_new (answer_true target_true), MEMLA's paraphrase score;
- locality: each neighbourhood prompt -> its answer (MEMLA's neighbourhood score), with no subject: the
  prompt is about another entity;
- portability: each multi-hop question -> multi_hop_new_answer (MEMLA's multi-hop score).

MEMLA's scores are `prob_compare_total` (edit success and paraphrase score: the new answer's total
probability beats the old one's) and `token_set_f1` (neighbourhood and multi-hop: F1 over token-id sets of
a greedy answer as long as the gold one), both in `polyedit.evaluation.protocols_memla`.

Defects handled: a record without the edit-language block is skipped and counted; an edit whose filled
prompt lacks its subject is kept and counted; a language block
missing in one field drops only those probes (counted per language); neighbourhood prompts and answers of
different lengths drop that language's locality probes; unknown language codes are reported and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.problems import (RecordReader, Report, case_key, flag_missing_subject, load_path_dataset,
                                    read_records, register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError, shorten

MKEB_LANGUAGES = ("en", "zh", "fr", "de", "it", "es", "pt", "pl", "ru", "ja", "ko", "th")
PER_LANGUAGE_FIELDS = ("edit", "paraphrase_prompts", "neighborhood_prompts", "neighborhood_answers",
                       "multi_hop_questions", "multi_hop_new_answer")
PROTOCOLS = ["prob_compare_total", "token_set_f1"]


def json_files(path: Path, what: str) -> list[Path]:
    """The `.json` files of a file or folder argument (only `.json`: pickles beside them are ignored)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())
        if not files:
            raise PolyeditError(f"{what}: no .json files in {path}")
        return files
    raise PolyeditError(f"{what}: no file or folder at {path}")


def fill(template: str, subject: str) -> str:
    """MEMLA's `prompt.format(subject)`, without str.format's other brace rules: only `{}` is a slot; a
    prompt without one is used as it is."""
    return template.replace("{}", subject, 1) if "{}" in template else template


def _lang_map(r: RecordReader, value: Any, field: str, reason: str) -> dict[str, Any]:
    """A per-language object with its keys normalised; unknown codes are reported and dropped."""
    out: dict[str, Any] = {}
    if not isinstance(value, dict):
        return out
    for key, item in value.items():
        lang = r.language(key, f"{field}.{key}", reason)
        if lang is not None:
            if lang in out:  # `zh-cn` beside `zh`: the first is kept
                r.ignore(f"{field}.{key}")
            elif lang != key:  # read under its normalised code (`zh-cn` as `zh`)
                r.mark(f"{field}.{key}")
            out.setdefault(lang, item)
    return out


def convert_record(r: RecordReader, rec: Any, edit_lang: str, langs: set[str] | None) -> EditCase | None:
    """The record's case, or None when it has no usable edit. A run stops reading a record at the first
    problem that spoils it; on an exhaustive report (`validate`) every field is still checked, so every
    problem of the record is listed."""
    if not isinstance(rec, dict):
        r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
        return None
    go_on = r.report.exhaustive
    r.mark("example_id"), r.mark("relation_description")  # the id names the case; the description is kept
    rid = case_key(rec.get("example_id"))
    usable = rid is not None
    if rid is None:
        r.problem("example_id", f"expected an int or string id, got {shorten(rec.get('example_id'), 40)}",
                  "records without an example_id")
        if not go_on:
            return None
    for field in ("edit", "paraphrase_prompts", "neighborhood_prompts", "neighborhood_answers"):
        if r.obj(rec, field, field, f"records without {field}") is None:
            usable = False
            if not go_on:
                return None
    for field in ("multi_hop_questions", "multi_hop_new_answer"):
        r.obj(rec, field, field, f"malformed {field}", required=False)
    maps = {f: _lang_map(r, rec.get(f), f, "unknown language codes") for f in PER_LANGUAGE_FIELDS}
    edits = maps["edit"]
    has_edits = isinstance(rec.get("edit"), dict)  # an absent or ill-typed `edit` is already its one problem
    if has_edits and edit_lang not in edits:
        r.problem(f"edit.{edit_lang}", "no block in the edit language",
                  f"{edit_lang}: records without the edit-language block")
        usable = False
    main = _edit_block(r, edits, edit_lang) if edit_lang in edits else None
    usable = usable and main is not None
    if not usable and not go_on:
        return None
    case = None
    if usable:
        case = make_case(f"mkeb-{rid}", edit_lang, main[1], main[0], main[2], main[3])
        flag_missing_subject(r, case.edit, f"edit.{edit_lang}.prompt", f"{edit_lang}: ")
        en = edits.get("en")  # the English subject groups a fact's edits from every language in splits
        en_subject = en.get("subject") if isinstance(en, dict) else None
        case.meta.update({"benchmark": "mkeb", "example_id": rec.get("example_id"),
                          "subject_key": en_subject if isinstance(en_subject, str) and en_subject.strip() else main[1]})
        if isinstance(rec.get("relation_description"), str):
            case.meta["relation_description"] = rec["relation_description"]
    probes = _probes(r, maps, edit_lang, main, langs, has_edits)
    if case is None:
        return None
    case.probes.extend(probes)
    return case


def _edit_block(r: RecordReader, edits: dict[str, Any], lang: str) -> tuple[str, str, str, str | None] | None:
    """(filled prompt, subject, target_new, target_true) of the edit block of `lang`; None when unusable (every
    bad field of it recorded)."""
    block, path = edits[lang], f"edit.{lang}"
    reason = f"{lang}: malformed edit blocks"
    if not isinstance(block, dict):
        r.problem(path, f"expected an object, got {type(block).__name__}", reason)
        return None
    prompt = r.text(block, "prompt", f"{path}.prompt", reason)
    subject = r.text(block, "subject", f"{path}.subject", reason)
    new = r.text(block, "target_new", f"{path}.target_new", reason)
    true = r.text(block, "target_true", f"{path}.target_true", reason, required=False)
    if prompt is None or subject is None or new is None:
        return None
    return fill(prompt, subject), subject, new, true


def _probes(r: RecordReader, maps: dict[str, dict], edit_lang: str, main, langs: set[str] | None,
            has_edits: bool) -> list[Probe]:
    """The probes of a record in every language it holds (those in `langs`), each malformed field recorded."""
    edits, out = maps["edit"], []
    for lang in sorted(set().union(*(m.keys() for m in maps.values()))):
        if langs is not None and lang not in langs:
            continue
        if lang not in edits:
            if has_edits and lang != edit_lang:  # the edit language's absence is the record's own problem
                r.problem(f"edit.{lang}", "no edit block: no reliability or generality probes",
                          f"{lang}: records without an edit block")
            filled = None
        else:
            filled = _edit_block(r, edits, lang) if lang != edit_lang else main
        if filled is not None:
            prompt, subject, new, true = filled
            if lang != edit_lang:  # the edit-language reliability probe is the edit (make_case)
                out.append(Probe(RELIABILITY, lang, prompt, new, true, subject))
            paras = r.texts(maps["paraphrase_prompts"], lang, f"paraphrase_prompts.{lang}",
                            f"{lang}: generality probes dropped (malformed paraphrase_prompts)", required=False)
            out.extend(Probe(GENERALITY, lang, p, new, true, subject) for p in paras or [])
        elif r.report.exhaustive:  # no usable edit in this language: validate still checks its paraphrases
            r.texts(maps["paraphrase_prompts"], lang, f"paraphrase_prompts.{lang}",
                    f"{lang}: generality probes dropped (malformed paraphrase_prompts)", required=False)
        subject = filled[1] if filled else None
        prompts = r.texts(maps["neighborhood_prompts"], lang, f"neighborhood_prompts.{lang}",
                          f"{lang}: locality probes dropped (malformed neighborhood_prompts)", required=False)
        answers = r.texts(maps["neighborhood_answers"], lang, f"neighborhood_answers.{lang}",
                          f"{lang}: locality probes dropped (malformed neighborhood_answers)", required=False)
        if prompts is not None and answers is not None:
            if len(prompts) != len(answers):
                r.problem(f"neighborhood_answers.{lang}", f"{len(answers)} answers for {len(prompts)} prompts",
                          f"{lang}: locality probes dropped (prompts and answers differ in number)")
            else:
                out.extend(Probe(LOCALITY, lang, p, a) for p, a in zip(prompts, answers))
        questions = r.texts(maps["multi_hop_questions"], lang, f"multi_hop_questions.{lang}",
                            f"{lang}: portability probes dropped (malformed multi_hop_questions)", required=False)
        if questions:
            answer = r.text(maps["multi_hop_new_answer"], lang, f"multi_hop_new_answer.{lang}",
                            f"{lang}: portability probes dropped (no multi_hop_new_answer)")
            if answer is not None:
                out.extend(Probe(PORTABILITY, lang, q, answer, None, subject) for q in questions)
    return out


def load_mkeb(path: Path, edit_lang: str, langs: list[str] | None, report: Report) -> list[EditCase]:
    wanted = {normalize_code(x) for x in langs} if langs else None
    cases = []
    for file in json_files(path, "mkeb"):
        for i, rec in enumerate(read_records(file, report)):
            case = convert_record(RecordReader(report, file, i), rec, edit_lang, wanted)
            if case is not None:
                cases.append(case)
    return cases


@register_dataset("mkeb", "MEMLA's MKEB format: mkeb:PATH[:edit_lang=en][:langs=...] (12 languages)",
                  options=("edit_lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    return load_path_dataset(spec, "mkeb", load_mkeb, PROTOCOLS)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_mkeb(path, "en", None, report)
    return report


register_format("mkeb", "MEMLA's MKEB JSON (edit language en)")(check)
