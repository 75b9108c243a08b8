"""MzsRE, the multilingual zsRE of ReMaKE (Wang et al., "Retrieval-augmented Multilingual Knowledge
Editing", 2023), built on Bi-ZsRE (Wang et al., 2023); 12 languages, 743 facts.

Spec: `mzsre:PATH[:edit_lang=en][:langs=de,zh,...]`; PATH is one file or the `data/MzsRE/` folder. Any
of the 12 languages may be the edit language; every other loaded language is probed. Languages are the
language table's codes (`cs`, `nl`); MzsRE's own `cz` and `du` are aliases in that table
(`languages.json`), and each file that uses one is counted.

Format (checked on the published files, ../shared/data/mzsre/README.md): files
`mzsre_test_duplicate_<l1><l2>.json`, each a JSON array of records `{<l1>: BLOCK, <l2>: BLOCK}` with

    BLOCK = {"src": question, "alt": new answer, "rephrase": paraphrase, "subject": ...,
             "loc": "nq question: <question>" (en) or "<question>", "loc_ans": ...,
             "portability": {"New Question": ..., "New Answer": ...}}

A BMIKE-style `port`/`port_ans` pair and a `case_id` are accepted too (BMIKE-53's zsRE was derived from
MzsRE). The published folder has 121 pair files, but only the 11 `en<X>` files hold different data: each
language's 743 records are identical, in the same order, in every file that holds it. So one fact is one
record position (or its `case_id`) across files, and X->Y cases are joined from the `enX` and `enY` files.
A file is read only if it holds a language not yet read (so the 121-file folder costs 11-12 reads); a
block that disagrees with the same language's block already read for that record is counted and the
first kept.

Mapping: the edit is the `edit_lang` block's `src -> alt` (zsRE has no old answer); in every language,
reliability `src -> alt`, generality `rephrase -> alt`, locality `loc -> loc_ans` with the `nq question: `
prefix removed (counted), portability `New Question -> New Answer`. `case.meta["subject_key"]` is the
English subject, so the same fact edited from different languages lands on the same side of a split.

Published defects, handled and counted (`Dataset.skipped`, `polyedit data stats`):
- translated prompts that do not contain the translated subject (th 604 of 743 even ignoring case and
  spacing, weixuan-wang123/ReMaKE#1):
  the edit is kept and flagged (`Edit.subject_in_prompt`); methods that locate the subject use
  `models.tokens.subject_span`'s fallback rules and the runner records the rule;
- the garbled English portability question of "Volvo B12M" ("Ithe headquarters of ..."): corrected from
  Bi-ZsRE's intact copy (`errata.json`);
- English `alt` values with a leading space (9, e.g. " MAT-49"): stripped;
- a record missing a language block or a probe field loses only that (counted).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.mkeb import json_files
from polyedit.data.problems import (RecordReader, Report, case_key, flag_missing_subject, load_path_dataset,
                                    read_records, register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError, shorten

WHERE = "the mzsre_test_duplicate_en<X>.json files are in github.com/weixuan-wang123/ReMaKE data/MzsRE/"

MZSRE_LANGUAGES = ("en", "cs", "de", "nl", "es", "fr", "pt", "ru", "th", "tr", "vi", "zh")
NQ_PREFIX = "nq question: "
_PAIR = re.compile(r"_([a-z]{2})([a-z]{2})\.json$")


def code(raw: str) -> str:
    """A normalised language from an MzsRE code (`cz` -> `cs`, `du` -> `nl`, `zh-cn` -> `zh`)."""
    return normalize_code(raw)


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


@lru_cache(maxsize=None)
def errata(dataset: str) -> tuple[dict, ...]:
    """Known wrong values of a published file and their fix, with the evidence (`errata.json`)."""
    raw = json.loads(resources.files("polyedit.data").joinpath("errata.json").read_text("utf-8"))
    return tuple(raw.get(dataset, ()))


def _correct(r: RecordReader, block: dict, key: str, lang: str, en_src: str | None, fixes: tuple[dict, ...]) -> dict:
    """`block` with the errata of its language applied (a copy; each fix counted)."""
    for fix in fixes:
        if fix["lang"] != lang or (fix.get("en_src") and fix["en_src"] != en_src):
            continue
        *parents, leaf = fix["field"]
        node = block
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(leaf) == fix["wrong"]:
            block = json.loads(json.dumps(block))  # deep copy: the parsed file stays as published
            node = block
            for p in parents:
                node = node[p]
            node[leaf] = fix["right"]
            r.problem(f"{key}.{'.'.join(fix['field'])}", f"{fix['wrong']!r} corrected to {fix['right']!r} "
                      f"({fix['source']})", f"{lang}: published errors corrected (errata.json)")
    return block


@dataclass
class _Item:
    """One fact: its blocks per language, with where each came from."""

    position: int
    blocks: dict[str, tuple[Path | str, int, str, dict]] = field(default_factory=dict)  # file, index, key, block


class _Joiner:
    """Joins the pair files' records into facts, by `case_id` where present, else by record position."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.items: dict[str, _Item] = {}
        #: blocks of records that join no fact (their blocks disagree on case_id): on an exhaustive report
        #: (`validate`) their fields are still checked (file, index, key, lang, block)
        self.loose: list[tuple[Path | str, int, str, str, dict]] = []

    def add(self, r: RecordReader, rec: Any, expected: tuple[str, ...] = ()) -> None:
        if not isinstance(rec, dict):
            r.problem(None, f"expected an object, got {type(rec).__name__}", "malformed records")
            return
        blocks: dict[str, tuple[str, Any]] = {}
        for key, block in rec.items():
            lang = r.language(key, str(key), "unknown language codes")
            if lang is not None:
                blocks.setdefault(lang, (str(key), block))
        for lang in expected:
            if lang not in blocks:
                r.problem(lang, "no block in this language", f"{lang}: records without the language's block")
        ids = {case_key(b.get("case_id")) for _, b in blocks.values() if isinstance(b, dict)} - {None}
        for key, b in blocks.values():
            if isinstance(b, dict) and "case_id" in b:
                r.mark(f"{key}.case_id")
        if len(ids) > 1:
            r.problem(None, f"blocks disagree on case_id ({', '.join(shorten(x, 30) for x in sorted(ids))})",
                      "records whose blocks disagree")
            self.loose += [(r.file, r.index, key, lang, b) for lang, (key, b) in blocks.items() if isinstance(b, dict)]
            return
        cid = ids.pop() if ids else f"#{r.index}"
        item = self.items.setdefault(cid, _Item(len(self.items)))
        for lang, (key, block) in blocks.items():
            if not isinstance(block, dict):
                r.problem(key, f"expected an object, got {type(block).__name__}", f"{lang}: malformed blocks")
                continue
            if lang in item.blocks:
                r.ignore(key)  # the same language's block, already read from another file
                first = item.blocks[lang]
                if first[3] != block:
                    r.problem(key, f"differs from the {lang} block of the same record in {first[0]}; "
                              "the first is kept", f"{lang}: blocks that differ between files (first kept)")
                continue
            item.blocks[lang] = (r.file, r.index, key, block)


class _Builder:
    """Cases of one edit language from joined facts."""

    def __init__(self, benchmark: str, edit_lang: str, wanted: set[str] | None, fixes: tuple[dict, ...],
                 report: Report) -> None:
        self.benchmark, self.edit_lang, self.wanted, self.fixes = benchmark, edit_lang, wanted, fixes
        self.report = report
        self.asked: dict[tuple[str, str], int] = {}  # (lang, src) -> first case index asking it

    def answer(self, r: RecordReader, block: dict, name: str, path: str, reason: str) -> str | None:
        value = r.text(block, name, path, reason)
        if value is not None and value != value.strip():
            r.problem(path, f"{value!r} has surrounding whitespace (stripped)",
                      "answers with surrounding whitespace (stripped)")
            value = value.strip()
        return value

    def probes(self, r: RecordReader, block: dict, key: str, lang: str, own: bool) -> list[Probe]:
        out = []
        alt = self.answer(r, block, "alt", f"{key}.alt", f"{lang}: blocks without alt")
        subject = r.text(block, "subject", f"{key}.subject", f"{lang}: blocks without a subject", required=False)
        port = block.get("portability")
        dropped = f"{lang}: portability probes dropped"
        if isinstance(port, dict):
            port_q = r.text(port, "New Question", f"{key}.portability.New Question", dropped)
            port_a = self.answer(r, port, "New Answer", f"{key}.portability.New Answer", dropped)
        elif port is not None:
            r.problem(f"{key}.portability", "expected an object with 'New Question' and 'New Answer'", dropped)
            port_q = port_a = None
        else:
            port_q = r.text(block, "port", f"{key}.port", dropped, required=False)
            port_a = r.text(block, "port_ans", f"{key}.port_ans", dropped, required=False)
        src = r.text(block, "src", f"{key}.src", f"{lang}: reliability probes dropped")
        rephrase = r.text(block, "rephrase", f"{key}.rephrase", f"{lang}: generality probes dropped")
        loc = r.text(block, "loc", f"{key}.loc", f"{lang}: locality probes dropped")
        loc_ans = self.answer(r, block, "loc_ans", f"{key}.loc_ans",
                              f"{lang}: locality probes with an empty or missing loc_ans")
        if alt is not None and src is not None and not own:  # own: the edit is its reliability probe
            out.append(Probe(RELIABILITY, lang, src, alt, None, subject))
        if alt is not None and rephrase is not None:
            out.append(Probe(GENERALITY, lang, rephrase, alt, None, subject))
        if loc is not None and loc_ans is not None and strip_nq(loc).strip():
            if strip_nq(loc) != loc:
                r.problem(f"{key}.loc", "'nq question: ' marker removed", f"{lang}: 'nq question: ' markers removed")
            out.append(Probe(LOCALITY, lang, strip_nq(loc), loc_ans))
        if port_q is not None and port_a is not None:
            out.append(Probe(PORTABILITY, lang, port_q, port_a, None, subject))
        return out

    def check_only(self, item: _Item) -> None:
        """Record the problems of every block of a fact that makes no case (exhaustive reports only)."""
        if not self.report.exhaustive:
            return
        for lang, (file, index, key, block) in item.blocks.items():
            self.probes(RecordReader(self.report, file, index), block, key, lang, own=lang == self.edit_lang)

    def case(self, item: _Item, index: int) -> EditCase | None:
        if self.edit_lang not in item.blocks:
            first = next(iter(item.blocks.values()), None)
            if first is not None:
                RecordReader(self.report, first[0], first[1]).problem(
                    self.edit_lang, "no block in the edit language", "records without the edit-language block")
            self.check_only(item)
            return None
        en = item.blocks.get("en")
        en_src = en[3].get("src") if en else None
        efile, eindex, ekey, eblock = item.blocks[self.edit_lang]
        r = RecordReader(self.report, efile, eindex)
        eblock = _correct(r, eblock, ekey, self.edit_lang, en_src, self.fixes)
        reason = "records without a usable edit"
        src, alt = r.text(eblock, "src", f"{ekey}.src", reason), r.text(eblock, "alt", f"{ekey}.alt", reason)
        subject = r.text(eblock, "subject", f"{ekey}.subject", reason)
        if src is None or alt is None or subject is None:
            self.check_only(item)
            return None
        from polyedit.data.bmike53 import recover_subject  # BMIKE-53's rule: a subject spaced or cased differently

        # the edit language's probes (below) count a stripped alt
        case = make_case(f"{self.benchmark}-{index}", self.edit_lang, recover_subject(subject, src) or subject, src,
                         alt.strip())
        flag_missing_subject(r, case.edit, f"{ekey}.src", f"{self.edit_lang}: ")
        if (self.edit_lang, src) in self.asked:
            r.problem(f"{ekey}.src", f"also the prompt of {self.benchmark}-{self.asked[self.edit_lang, src]} "
                      "(distinct English questions translated alike; both kept)",
                      f"{self.edit_lang}: edit prompts shared by several records (kept)")
        self.asked.setdefault((self.edit_lang, src), index)
        en_subject = en[3].get("subject") if en else None
        key = en_subject if isinstance(en_subject, str) and en_subject.strip() else subject
        case.meta.update({"benchmark": self.benchmark, "file": str(r.file), "index": r.index,
                          "subject_key": " ".join(key.split()).casefold()})
        if self.wanted is not None and self.edit_lang not in self.wanted:
            case.probes = []  # the edit's own reliability probe too: `langs` names the probed languages
        for lang, (file, index, key_, block) in item.blocks.items():
            if self.wanted is not None and lang not in self.wanted:
                RecordReader(self.report, file, index).ignore(key_)  # langs= leaves it out (the edit's own
                continue  # fields, read above, stay read)
            lr = RecordReader(self.report, file, index)
            block = eblock if lang == self.edit_lang else _correct(lr, block, key_, lang, en_src, self.fixes)
            case.probes.extend(self.probes(lr, block, key_, lang, own=lang == self.edit_lang))
        return case


def join_files(files: list[Path], need: set[str] | None, report: Report) -> _Joiner:
    """The facts of pair files, joined across files; only files holding a language in `need` (None: any)."""
    joiner, read = _Joiner(report), set()
    for file in files:
        pair = file_pair(file)
        if pair is not None:
            if need is not None and not set(pair) & need:
                continue
            if set(pair) <= read:  # the 121-file folder: every language's records repeat in 11 files
                report.add(file, None, None, f"holds only {pair[0]} and {pair[1]}, already read",
                           "files adding no language (not read)")
                continue
        records = read_records(file, report)
        mapped = sorted({str(k) for rec in records if isinstance(rec, dict) for k in rec
                         if isinstance(k, str) and _is_alias(k)})
        for raw in mapped:
            report.add(file, None, raw, f"language code {raw!r} read as {code(raw)!r} (languages.json aliases)",
                       f"language codes mapped ({raw} -> {code(raw)})")
        for i, rec in enumerate(records):
            joiner.add(RecordReader(report, file, i), rec, pair or ())
        read |= set(pair) if pair else {lang for it in joiner.items.values() for lang in it.blocks}
    return joiner


def convert(joiner: _Joiner, benchmark: str, edit_lang: str, wanted: set[str] | None, report: Report,
            fixes: tuple[dict, ...] = ()) -> list[EditCase]:
    """Cases of `edit_lang` from joined facts, probing the `wanted` languages (None: all)."""
    builder = _Builder(benchmark, edit_lang, wanted, fixes, report)
    if report.exhaustive:
        for file, index, key, lang, block in joiner.loose:
            builder.probes(RecordReader(report, file, index), block, key, lang, own=lang == edit_lang)
    cases = []
    for item in sorted(joiner.items.values(), key=lambda it: it.position):
        case = builder.case(item, item.position)  # a fact keeps its id whatever the edit language
        if case is not None:
            cases.append(case)
    return cases


def build_cases(benchmark: str, files: list[Path], edit_lang: str, langs: list[str] | None, report: Report,
                fixes: tuple[dict, ...] = ()) -> list[EditCase]:
    """Cases of `edit_lang` from pair files: join, then convert (shared with Bi-ZsRE)."""
    wanted = {code(x) for x in langs} if langs else None
    joiner = join_files(files, None if wanted is None else wanted | {edit_lang}, report)
    return convert(joiner, benchmark, edit_lang, wanted, report, fixes)


def _is_alias(raw: str) -> bool:
    try:
        return normalize_code(raw) != raw.strip().lower()
    except PolyeditError:
        return False


def load_mzsre(path: Path, edit_lang: str, langs: list[str] | None, report: Report) -> list[EditCase]:
    return build_cases("mzsre", json_files(path, "mzsre"), edit_lang, langs, report, errata("mzsre"))


@register_dataset("mzsre", "ReMaKE's MzsRE: mzsre:PATH[:edit_lang=en][:langs=...] (12 languages, any one the edit "
                           "language); files: github.com/weixuan-wang123/ReMaKE data/MzsRE/",
                  options=("edit_lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    # ReMaKE scores with EasyEdit's teacher-forced token accuracy.
    return load_path_dataset(spec, "mzsre", load_mzsre, ["token_accuracy"], normalize=code, where=WHERE)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_mzsre(path, "en", None, report)
    return report


register_format("mzsre", "ReMaKE's MzsRE JSON (mzsre_test_duplicate_<l1><l2>.json; edit language en)")(check)
