"""MzsRE, the multilingual zsRE of ReMaKE (Wang et al., "Retrieval-augmented Multilingual Knowledge
Editing", 2023), built on Bi-ZsRE (Wang et al., 2023); 12 languages.

Spec: `mzsre:PATH[:edit_lang=en][:langs=de,zh,...]`; PATH is one file or the `data/MzsRE/` folder. In the
spec, languages are the language table's codes (`cs`, `nl`), not MzsRE's own `cz`, `du`.

Format, as ReMaKE's `run_bizsre.py` reads it (checked against that code; the data files themselves could
not be inspected here): files `mzsre_test_duplicate_<l1><l2>.json`, each a JSON array of records
`{<l1>: BLOCK, <l2>: BLOCK}` with

    BLOCK = {"src": question, "alt": new answer, "rephrase": paraphrase, "subject": ...,
             "loc": "nq question: <question>", "loc_ans": ..., "portability": {"New Question": ..., "New Answer": ...}}

and the language codes en, cz, de, du, es, fr, pt, ru, th, tr, vi, zh, where `cz` is Czech (`cs`) and `du`
is Dutch (`nl`): `MZSRE_CODES` maps them. A BMIKE-style `port`/`port_ans` pair and a `case_id` are accepted
too (BMIKE-53's zsRE was derived from MzsRE).

Mapping: the edit is the `edit_lang` block's `src -> alt` (zsRE has no old answer); in every language,
reliability `src -> alt`, generality `rephrase -> alt`, locality `loc -> loc_ans` with ReMaKE's
`nq question: ` prefix removed, portability `New Question -> New Answer`. Records are matched across files
by `case_id` where present, otherwise by the edit-language `(src, alt)` pair. Files that pair two
languages neither of which is the edit language are not read (counted); a record missing the file's
other language, or a probe field, loses only that (counted); an edit whose `src` lacks its subject (compared
ignoring case and whitespace, as for BMIKE-53) is skipped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from polyedit.data.bmike53 import recover_subject
from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.mkeb import json_files
from polyedit.data.problems import (RecordReader, Report, case_key, load_path_dataset, read_json_array,
                                    register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

#: MzsRE's own language codes that are not ISO 639-1
MZSRE_CODES = {"cz": "cs", "du": "nl"}
MZSRE_LANGUAGES = ("en", "cs", "de", "nl", "es", "fr", "pt", "ru", "th", "tr", "vi", "zh")
NQ_PREFIX = "nq question: "
_PAIR = re.compile(r"_([a-z]{2})([a-z]{2})\.json$")


def code(raw: str) -> str:
    """A normalised language from an MzsRE code (`cz` -> `cs`, `du` -> `nl`, `zh-cn` -> `zh`)."""
    return normalize_code(MZSRE_CODES.get(raw.strip().lower(), raw))


def strip_nq(question: str) -> str:
    """Remove the `nq question: ` marker that zsRE's locality questions carry from Natural Questions."""
    return question[len(NQ_PREFIX):] if question.lower().startswith(NQ_PREFIX) else question


def file_pair(path: Path) -> tuple[str, str] | None:
    """The two languages a file name announces (`..._enzh.json`), or None when it names no known pair."""
    m = _PAIR.search(path.name)
    if not m:
        return None
    try:
        return code(m.group(1)), code(m.group(2))
    except PolyeditError:
        return None


class _Builder:
    def __init__(self, edit_lang: str, wanted: set[str] | None, report: Report) -> None:
        self.edit_lang, self.wanted, self.report = edit_lang, wanted, report
        self.cases: dict[str, EditCase] = {}
        self.probed: set[tuple[str, str]] = set()  # (case, language) already given probes

    def probes(self, r: RecordReader, block: dict, key: str, lang: str, own: bool) -> list[Probe]:
        out = []
        alt = r.text(block, "alt", f"{key}.alt", f"{lang}: blocks without alt")
        subject = r.text(block, "subject", f"{key}.subject", f"{lang}: blocks without a subject", required=False)
        port = block.get("portability")
        if isinstance(port, dict):
            dropped = f"{lang}: portability probes dropped"
            port_q = r.text(port, "New Question", f"{key}.portability.New Question", dropped)
            port_a = r.text(port, "New Answer", f"{key}.portability.New Answer", dropped)
        elif port is not None:
            r.problem(f"{key}.portability", "expected an object with 'New Question' and 'New Answer'",
                      f"{lang}: portability probes dropped")
            port_q = port_a = None
        else:
            port_q = r.text(block, "port", f"{key}.port", f"{lang}: portability probes dropped", required=False)
            port_a = r.text(block, "port_ans", f"{key}.port_ans", f"{lang}: portability probes dropped", required=False)
        src = r.text(block, "src", f"{key}.src", f"{lang}: reliability probes dropped")
        rephrase = r.text(block, "rephrase", f"{key}.rephrase", f"{lang}: generality probes dropped")
        loc = r.text(block, "loc", f"{key}.loc", f"{lang}: locality probes dropped")
        loc_ans = r.text(block, "loc_ans", f"{key}.loc_ans",
                         f"{lang}: locality probes with an empty or missing loc_ans")
        if alt is not None and src is not None and not own:  # own: the edit is its reliability probe
            out.append(Probe(RELIABILITY, lang, src, alt, None, subject))
        if alt is not None and rephrase is not None:
            out.append(Probe(GENERALITY, lang, rephrase, alt, None, subject))
        if loc is not None and loc_ans is not None and strip_nq(loc).strip():
            out.append(Probe(LOCALITY, lang, strip_nq(loc), loc_ans))
        if port_q is not None and port_a is not None:
            out.append(Probe(PORTABILITY, lang, port_q, port_a, None, subject))
        return out

    def add(self, r: RecordReader, rec: Any, expected: tuple[str, ...] = ()) -> None:
        if not isinstance(rec, dict):
            r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
            return
        blocks: dict[str, tuple[str, Any]] = {}
        for key, block in rec.items():
            try:
                blocks.setdefault(code(key), (key, block))
            except PolyeditError:
                r.problem(str(key), f"unknown language code {key!r}", "unknown language codes")
        if self.edit_lang not in blocks:
            r.problem(self.edit_lang, "no block in the edit language", "records without the edit-language block")
            return
        for lang in expected:
            if lang not in blocks and (self.wanted is None or lang in self.wanted):
                r.problem(lang, "no block in the file's second language",
                          f"{lang}: records without the target-language block")
        ekey, eblock = blocks[self.edit_lang]
        if not isinstance(eblock, dict):
            r.problem(ekey, "expected an object", "malformed records")
            return
        reason = "records without a usable edit"
        src, alt = r.text(eblock, "src", f"{ekey}.src", reason), r.text(eblock, "alt", f"{ekey}.alt", reason)
        subject = r.text(eblock, "subject", f"{ekey}.subject", reason)
        if src is None or alt is None or subject is None:
            return
        cid = case_key(eblock.get("case_id")) or f"{src}\x00{alt}"
        case = self.cases.get(cid)
        if case is None:
            try:
                # BMIKE-53's rule for a subject written differently in the prompt (whitespace, case)
                found = recover_subject(subject, src) or subject
                case = make_case(f"mzsre-{len(self.cases)}", self.edit_lang, found, src, alt)
            except PolyeditError as e:
                r.problem(f"{ekey}.src", str(e), "edits whose prompt lacks the subject")
                return
            case.meta.update({"benchmark": "mzsre", "file": str(r.file), "index": r.index})
            self.cases[cid] = case
        for lang, (key, block) in blocks.items():
            if (cid, lang) in self.probed or (self.wanted is not None and lang not in self.wanted):
                continue
            if not isinstance(block, dict):
                r.problem(str(key), "expected an object", f"{lang}: malformed blocks")
                continue
            self.probed.add((cid, lang))
            case.probes.extend(self.probes(r, block, str(key), lang, own=lang == self.edit_lang))


def load_mzsre(path: Path, edit_lang: str, langs: list[str] | None, report: Report) -> list[EditCase]:
    wanted = {code(x) for x in langs} if langs else None
    builder = _Builder(edit_lang, wanted, report)
    for file in json_files(path, "mzsre"):
        pair = file_pair(file)
        if pair is not None and edit_lang not in pair:
            report.add(file, None, None, f"pairs {pair[0]} and {pair[1]}, not the edit language {edit_lang}",
                       "files without the edit language")
            continue
        if pair is not None and wanted is not None and not set(pair) & wanted:
            continue
        for i, rec in enumerate(read_json_array(file)):
            builder.add(RecordReader(report, file, i), rec, pair or ())
    cases = list(builder.cases.values())
    for i, case in enumerate(cases):  # stable ids in file order
        case.case_id = f"mzsre-{i}"
    return cases


@register_dataset("mzsre", "ReMaKE's MzsRE: mzsre:PATH[:edit_lang=en][:langs=...] (12 languages)")
def load(spec: DatasetSpec) -> Dataset:
    # ReMaKE scores with EasyEdit's teacher-forced token accuracy.
    return load_path_dataset(spec, "mzsre", load_mzsre, ["token_accuracy"], normalize=code)


def check(path: Path) -> Report:
    report = Report()
    load_mzsre(path, "en", None, report)
    return report


register_format("mzsre", "ReMaKE's MzsRE JSON (mzsre_test_duplicate_<l1><l2>.json; edit language en)")(check)
