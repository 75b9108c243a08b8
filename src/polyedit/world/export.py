"""Write edit cases as benchmark files, so the benchmark loaders are exercised on the world too.

- MKEB (MEMLA): one JSON array; per record and language an `edit` block whose prompt has a `{}` slot,
  `paraphrase_prompts`, `neighborhood_prompts`/`neighborhood_answers`, `multi_hop_questions` and
  `multi_hop_new_answer`. Read back with `mkeb:PATH`.
- BMIKE-53 (CounterFact layout): `CounterFact/counterfact_test.json` with the English blocks and
  `counterfact_test_<lang>.json` with `{"en": ..., "<lang>": ...}` records; a block holds one probe of
  each kind (`src, rephrase, old, alt, loc, loc_ans, port, port_ans`). Read back with
  `bmike53:counterfact:dir=PATH`.

Both are written from `EditCase`s: the case model is the one source of truth.
"""

from __future__ import annotations

import json
from pathlib import Path

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase
from polyedit.errors import PolyeditError

BMIKE_TASK_DIR = "CounterFact"
BMIKE_PREFIX = "counterfact"


def _reliability(case: EditCase, lang: str):
    if lang == case.edit.lang:
        return case.edit.prompt, case.edit.subject, case.edit.target_new, case.edit.target_true
    probe = next((p for p in case.probes_for(lang, RELIABILITY)), None)
    if probe is None:
        return None
    return probe.prompt, probe.subject or case.edit.subject, probe.answer, probe.answer_true


def _slot(prompt: str, subject: str) -> str:
    if subject not in prompt:
        raise PolyeditError(f"cannot write an MKEB template: {prompt!r} does not contain {subject!r}")
    return prompt.replace(subject, "{}", 1)


def mkeb_record(case: EditCase, index: int) -> dict:
    rec: dict = {"example_id": index, "relation_description": case.meta.get("relation", ""), "edit": {},
                 "paraphrase_prompts": {}, "neighborhood_prompts": {}, "neighborhood_answers": {},
                 "multi_hop_questions": {}, "multi_hop_new_answer": {}}
    for lang in case.languages:
        rel = _reliability(case, lang)
        if rel is not None:
            prompt, subject, new, true = rel
            rec["edit"][lang] = {"prompt": _slot(prompt, subject), "subject": subject, "target_new": new,
                                 "target_true": true or ""}
            rec["paraphrase_prompts"][lang] = [p.prompt for p in case.probes_for(lang, GENERALITY)]
        local = case.probes_for(lang, LOCALITY)
        rec["neighborhood_prompts"][lang] = [p.prompt for p in local]
        rec["neighborhood_answers"][lang] = [p.answer for p in local]
        port = case.probes_for(lang, PORTABILITY)
        if port:
            rec["multi_hop_questions"][lang] = [p.prompt for p in port]
            rec["multi_hop_new_answer"][lang] = port[0].answer
    return rec


def export_mkeb(cases: list[EditCase], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [mkeb_record(c, i) for i, c in enumerate(cases)]
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return path


def bmike_block(case: EditCase, index: int, lang: str) -> dict | None:
    rel = _reliability(case, lang)
    para = case.probes_for(lang, GENERALITY)
    loc = case.probes_for(lang, LOCALITY)
    port = case.probes_for(lang, PORTABILITY)
    if rel is None or not (para and loc and port):
        return None
    prompt, subject, new, true = rel
    return {"case_id": index, "subject": subject, "src": prompt, "rephrase": para[-1].prompt, "old": true or "",
            "alt": new, "loc": loc[0].prompt, "loc_ans": loc[0].answer, "port": port[0].prompt,
            "port_ans": port[0].answer}


def export_bmike53(cases: list[EditCase], root: str | Path) -> Path:
    """Write the task folder under `root`; returns the folder (`root/CounterFact`)."""
    folder = Path(root) / BMIKE_TASK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    english, per_lang = [], {}
    for i, case in enumerate(cases):
        en = bmike_block(case, i, case.edit.lang)
        if en is None:
            continue
        english.append({"en": en})
        for lang in case.languages:
            if lang == case.edit.lang:
                continue
            block = bmike_block(case, i, lang)
            if block is not None:
                per_lang.setdefault(lang, []).append({"en": en, lang: block})
    _write(folder / f"{BMIKE_PREFIX}_test.json", english)
    for lang, records in per_lang.items():
        _write(folder / f"{BMIKE_PREFIX}_test_{lang}.json", records)
    return folder


def _write(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")
