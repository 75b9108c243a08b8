"""MLaKE (Wei et al., "MLaKE: Multilingual Knowledge Editing Benchmark for Large Language Models", COLING
2025; github.com/Hi-archers/MLaKE): free-form QA in en, de, fr, ja, zh, with answer aliases.

Spec: `mlake:PATH[:edit_lang=en][:langs=...]`; PATH is the repository's `dataset/` folder (holding
`single_hop/` and `multi_hop/`) or a folder above it.

Format (checked on the published files, ../shared/data/mlake/README.md):
- `single_hop/<lang>_qa.json`: `question, o_prompt, o_answer, o_answer_aliases[], e_prompt, e_answer,
  e_answer_aliases[]`; the five files are parallel by position (record i is one fact in every language);
- `multi_hop/new_<lang>_qa.json`: `question, e_prompt, e_answer, e_answer_aliases[]`, not parallel across
  languages, and `e_prompt` is the ENGLISH edit sentence in every language's file;
- `multi_hop/old_<lang>_qa.json`: `question, o_answer, o_answer_aliases[]`: pre-edit questions, naming no edit.

Mapping, one case per single-hop fact, edited in `edit_lang`:
- edit: the question -> `e_answer` (target_true `o_answer`), the form MLaKE asks in;
- reliability in every language: its question -> `e_answer`, aliases `e_answer_aliases`, answer_true
  `o_answer`; the old answer's aliases are kept in `case.meta["answer_true_aliases"][lang]`;
- generality: the `e_prompt` sentence cut before its answer ("Carl Sagan worked at" -> "BBC"), a
  statement form of the same fact, where the answer occurs in the sentence;
- portability: each `new_<lang>` question whose English `e_prompt` is this fact's English `e_prompt`
  (the join, on the English single-hop file) -> its `e_answer` with its aliases; its answer_true is the
  `o_answer` of the `old_<lang>` record asking the same question, where one does (the old files share
  no key with the edits otherwise; the rest are counted and not loaded);
- no locality probes: MLaKE has none.

MLaKE publishes no subject. polyedit derives one, to locate a lookup position (ROME, MEMIT, KN) and to
match IKE's probes: the longest block the question shares with the `e_prompt` sentence before its answer,
cut to whole words in languages written with spaces (`Where did Carl Sagan work ...` and `Carl Sagan
worked at` -> `Carl Sagan`); `case.meta["subject_derived"]` says so. The English fact's derived subject
is `case.meta["subject_key"]`, so splits keep every language of a fact, and every fact about one
English-named subject, on one side.

Counted: duplicate questions (zh single-hop "Valve的领导人是谁？"), malformed alias lists, multi-hop
records that join no fact, files of different lengths (the shorter file's missing facts lose that
language). An empty alias list (most of them: e_answer_aliases is empty for 1,023 of 1,072 English
facts) is no defect: the fact has no other name.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import get_language, normalize_code
from polyedit.data.problems import RecordReader, Report, load_path_dataset, read_records, register_format
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

MLAKE_LANGUAGES = ("en", "de", "fr", "ja", "zh")
WHERE = "the dataset/ folder of github.com/Hi-archers/MLaKE"
#: MLaKE scores free-form answers against the answer and its aliases: the generated-answer headline (which
#: matches any alias), then the strict exact match and token F1 against the main answer alone
PROTOCOLS = ["answer", "generation", "token_f1"]
_EDGE = " \t\n.,;:!?¿¡\"'“”‘’«»„()[]「」『』《》、。，？！：；"


def dataset_dir(path: Path) -> Path:
    """The folder holding `single_hop/`: PATH itself, or its `dataset/`."""
    for candidate in (path, path / "dataset"):
        if (candidate / "single_hop").is_dir():
            return candidate
    raise PolyeditError(f"mlake: no single_hop/ folder in {path} or {path / 'dataset'}")


def _word_trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) of `text` to whole words: drop a partial word at either edge."""
    if start > 0 and text[start - 1].isalnum() and start < end and text[start].isalnum():
        while start < end and not text[start].isspace():
            start += 1
    if end < len(text) and text[end].isalnum() and end > start and text[end - 1].isalnum():
        while end > start and not text[end - 1].isspace():
            end -= 1
    return start, end


def derive_subject(question: str, statement: str, lang: str, hint: str | None = None) -> str | None:
    """A subject for an MLaKE fact, which publishes none; None when the two texts share nothing usable.

    Rules, in order: `hint` (the English fact's subject) where the question contains it verbatim (names
    kept in Latin script: de, fr); else the longest opening of `statement` (the edit sentence before its
    answer) that the question contains, MLaKE's sentences opening with their subject ("Carl Sagan worked
    at"); else the longest block the two share. Cut to whole words where the language separates words by
    spaces, edge punctuation stripped."""
    if hint and hint in question:
        return hint
    spaces = get_language(lang).spaces
    ends = [m.end() for m in re.finditer(r"\S+", statement)] if spaces else range(len(statement), 0, -1)
    for end in sorted(ends, reverse=True):
        head = statement[:end].strip(_EDGE)
        if len(head) >= 2 and _contains_words(question, head, spaces):
            return head
    m = difflib.SequenceMatcher(None, question, statement, autojunk=False).find_longest_match(
        0, len(question), 0, len(statement))
    start, end = m.a, m.a + m.size
    if spaces:
        start, end = _word_trim(question, start, end)
    found = question[start:end].strip(_EDGE)
    return found if len(found) >= 2 else None


def _contains_words(text: str, part: str, spaces: bool) -> bool:
    """`part` occurs in `text`, and (with spaces) not as the start or end of a longer word."""
    i = text.find(part)
    while spaces and i >= 0:
        before, after = text[i - 1:i], text[i + len(part):i + len(part) + 1]
        if not (before.isalnum() or after.isalnum()):
            return True
        i = text.find(part, i + 1)
    return i >= 0


def _statement(e_prompt: str, e_answer: str) -> str | None:
    """The edit sentence before its answer ("Carl Sagan worked at"), or None when the answer is not in it
    or opens it."""
    i = e_prompt.find(e_answer)
    head = e_prompt[:i].rstrip() if i > 0 else ""
    return head if head.strip(_EDGE) else None


class _Reader:
    def __init__(self, root: Path, report: Report) -> None:
        self.root, self.report = root, report

    def records(self, rel: str) -> list[Any] | None:
        """The records of `rel`; None when it is absent, or unreadable on an exhaustive report (recorded)."""
        path = self.root / rel
        return read_records(path, self.report, none_if_unreadable=True) if path.is_file() else None

    def fields(self, r: RecordReader, rec: Any, names: tuple[str, ...], reason: str) -> dict | None:
        """The named fields of a record; None (counted under `reason`) when a text field is unusable. A
        malformed alias list loses only the aliases (counted); an absent or empty one is no aliases. A run
        stops at the first unusable field; an exhaustive report (`validate`) has every one listed."""
        if not isinstance(rec, dict):
            r.problem(None, f"expected an object, got {type(rec).__name__}", reason)
            return None
        out: dict[str, Any] = {}
        usable = True
        for name in names:
            if name.endswith("_aliases"):
                out[name] = r.texts(rec, name, name, "malformed alias lists (aliases dropped)", required=False) or []
                continue
            out[name] = r.text(rec, name, name, reason)
            if out[name] is None:
                usable = False
                if not self.report.exhaustive:
                    return None
        return out if usable else None


SINGLE = ("question", "o_answer", "o_answer_aliases", "e_prompt", "e_answer", "e_answer_aliases")  # o_prompt unused
NEW = ("question", "e_prompt", "e_answer", "e_answer_aliases")
OLD = ("question", "o_answer", "o_answer_aliases")


def load_mlake(path: Path, edit_lang: str, langs: list[str] | None, report: Report) -> list[EditCase]:
    root = dataset_dir(path)
    wanted = [normalize_code(x) for x in langs] if langs else list(MLAKE_LANGUAGES)
    reader = _Reader(root, report)
    single: dict[str, list[dict | None]] = {}
    for lang in dict.fromkeys(["en", edit_lang, *wanted]):  # English: the multi-hop join and the split key
        file = root / f"single_hop/{lang}_qa.json"
        if not file.is_file():
            if lang == edit_lang:
                raise PolyeditError(f"mlake: no single_hop/{lang}_qa.json in {root} for the edit language")
            report.add(root / "single_hop", None, None, f"no {lang}_qa.json", f"{lang}: no single-hop file")
            continue
        recs = reader.records(f"single_hop/{lang}_qa.json")
        if recs is None:  # unreadable (validate): its one problem is recorded, the other files are still checked
            continue
        rows, seen = [], {}
        for i, rec in enumerate(recs):
            r = RecordReader(report, file, i)
            r.ignore("o_prompt")  # the old fact as a sentence: the edit is asked as the question
            row = reader.fields(r, rec, SINGLE, f"{lang}: malformed single-hop records")
            if row is not None:
                if row["question"] in seen:
                    r.problem("question", f"also the question of record {seen[row['question']]} (both kept)",
                              f"{lang}: single-hop questions shared by several records (kept)")
                seen.setdefault(row["question"], i)
                row["_r"] = r
            rows.append(row)
        single[lang] = rows
    n = max((len(v) for v in single.values()), default=0)
    for lang, rows in single.items():
        if len(rows) < n:
            report.add(root / f"single_hop/{lang}_qa.json", None, None, f"{len(rows)} records, {n} in another "
                       "language: the files are parallel by position", f"{lang}: facts missing from the file")
    english = {row["e_prompt"]: i for i, row in enumerate(single.get("en", [])) if row}
    portability = _multi_hop(reader, root, wanted, english, report)
    cases = []
    for i, row in enumerate(single.get(edit_lang, [])):
        if row is None:
            continue
        case = _case(i, row, edit_lang, single, wanted, portability.get(i, []), report)
        if case is not None:
            cases.append(case)
    _merge_keys(cases)
    return cases


def _merge_keys(cases: list[EditCase]) -> None:
    """A derived subject sometimes keeps a word of the relation ("yao ming typically" beside "yao ming"):
    a key whose opening words (two or more) are another fact's whole key joins that key, so splits keep the subject's
    facts together. Computed over the English file, which is always read: stable under `langs`."""
    keys = {c.meta["subject_key"] for c in cases}
    for case in cases:
        words = case.meta["subject_key"].split()
        case.meta["subject_key"] = next((" ".join(words[:n]) for n in range(2, len(words))
                                         if " ".join(words[:n]) in keys), case.meta["subject_key"])


def _multi_hop(reader: _Reader, root: Path, wanted: list[str], english: dict[str, int],
               report: Report) -> dict[int, list[Probe]]:
    """Portability probes per fact index, from the `new_*` files joined on the English e_prompt."""
    out: dict[int, list[Probe]] = {}
    for lang in wanted:
        new = reader.records(f"multi_hop/new_{lang}_qa.json")
        old = reader.records(f"multi_hop/old_{lang}_qa.json") or []
        if new is None:
            continue
        old_file, new_file = root / f"multi_hop/old_{lang}_qa.json", root / f"multi_hop/new_{lang}_qa.json"
        old_answer: dict[str, str] = {}
        old_index: dict[str, int] = {}
        for i, rec in enumerate(old):
            row = reader.fields(RecordReader(report, old_file, i), rec, OLD, f"{lang}: malformed multi-hop records")
            if row is not None:
                old_answer.setdefault(row["question"], row["o_answer"])
                old_index.setdefault(row["question"], i)
        used: set[str] = set()
        for i, rec in enumerate(new):
            r = RecordReader(report, new_file, i)
            row = reader.fields(r, rec, NEW, f"{lang}: malformed multi-hop records")
            if row is None:
                continue
            fact = english.get(row["e_prompt"])
            if fact is None:
                r.problem("e_prompt", f"{row['e_prompt']!r} is no English single-hop edit sentence",
                          f"{lang}: new multi-hop questions joining no fact")
                continue
            true = old_answer.get(row["question"])
            used |= {row["question"]} if true is not None else set()
            if true is not None and true.strip() == row["e_answer"].strip():
                true = None  # the edit does not change this answer: no competing old one
            out.setdefault(fact, []).append(Probe(PORTABILITY, lang, row["question"], row["e_answer"], true,
                                                  aliases=tuple(row["e_answer_aliases"])))
        for q in old_answer:
            if q not in used:
                report.add(old_file, old_index[q], "question", f"asks what no new_{lang} question asks; the old "
                           "files name no edit, so it joins none", f"{lang}: old multi-hop questions joining no edit "
                           "(not loaded)")
    return out


def _case(i: int, row: dict, edit_lang: str, single: dict, wanted: list[str], port: list[Probe],
          report: Report) -> EditCase | None:
    r = row["_r"]
    en = single.get("en", [])
    en_row = en[i] if i < len(en) else None
    key = None  # the English fact's subject: the split key, and the hint for the other languages
    if en_row is not None:
        key = derive_subject(en_row["question"], _statement(en_row["e_prompt"], en_row["e_answer"])
                             or en_row["e_prompt"], "en")
    hint = key  # a derived English subject, which a Latin-script question may contain verbatim
    if key is None and en_row is not None:
        key = en_row["question"]  # no derivable English subject: the English fact itself groups it
    statement = _statement(row["e_prompt"], row["e_answer"])
    subject = derive_subject(row["question"], statement or row["e_prompt"], edit_lang, hint)
    if subject is None:
        r.problem("question", "shares no words with e_prompt; the question itself stands for the subject",
                  f"{edit_lang}: subjects not derivable (the question used)")
        subject = row["question"]
    case = make_case(f"mlake-{i}", edit_lang, subject, row["question"], row["e_answer"], row["o_answer"])
    case.probes[0] = Probe(RELIABILITY, edit_lang, row["question"], row["e_answer"], row["o_answer"], subject,
                           tuple(row["e_answer_aliases"]))
    case.meta.update({"benchmark": "mlake", "index": i, "subject_derived": True,
                      "subject_key": " ".join((key or subject).split()).casefold(), "answer_true_aliases": {}})
    if edit_lang not in wanted:
        case.probes = []
    for lang in wanted:
        rows = single.get(lang, [])
        other = rows[i] if i < len(rows) else None
        if other is None:
            continue
        case.meta["answer_true_aliases"][lang] = other["o_answer_aliases"]
        head = _statement(other["e_prompt"], other["e_answer"])
        sub = subject if lang == edit_lang else derive_subject(other["question"], head or other["e_prompt"], lang, hint)
        aliases = tuple(other["e_answer_aliases"])
        if lang != edit_lang:
            case.probes.append(Probe(RELIABILITY, lang, other["question"], other["e_answer"], other["o_answer"],
                                     sub, aliases))
        if head is not None:
            case.probes.append(Probe(GENERALITY, lang, head, other["e_answer"], other["o_answer"], sub, aliases))
        else:
            other["_r"].problem("e_prompt", "does not contain e_answer after some text: no statement probe",
                                f"{lang}: generality probes dropped (answer not in e_prompt)")
    case.probes.extend(p for p in port if p.lang in wanted)
    return case


@register_dataset("mlake", "MLaKE (en de fr ja zh, answer aliases): mlake:PATH[:edit_lang=en][:langs=...]; "
                           "files: github.com/Hi-archers/MLaKE dataset/",
                  options=("edit_lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    return load_path_dataset(spec, "mlake", load_mlake, PROTOCOLS, where=WHERE)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_mlake(path, "en", None, report)
    return report


register_format("mlake", "MLaKE's dataset/ folder (single_hop/<lang>_qa.json, "
                         "multi_hop/{old,new}_<lang>_qa.json)")(check)
