"""Demonstration pools: the 32 hand-written BMIKE-53 demonstrations per task, or pools built from edit cases
(the knowledge world's own, or the retrieval corpus of MIKE-search).

Every pool is ordered as the authors' files are: ids 1..32, in blocks of eight of one copy, three update,
two retain and two portability demonstrations. A demonstration's role decides which probe of an edit it
shows: copy the edit prompt itself (reliability), update a paraphrase (generality), retain an unrelated
fact that must not move (locality), portability a question whose answer follows from the new fact.

The published `demonstrations/*_multi.json` hold, per language, the question and answer joined without a
separator ("Wer hatte Biggles geschaffen?W. E. Johns"). `split_question_answer` recovers the two parts:
the last question mark (any script's; Greek `;`, Armenian `:`/`։`) that the answer follows without a
space; else the English answer where the text ends with it; else, for a statement (most CounterFact and
WikiFactDiff demonstrations have no question), a cloze before the last word, or, in a language without
spaces between words, the whole statement as the question with an empty answer. How many
demonstrations took each route is in `BmikePool.split_counts`. The authors' later files already hold
`Question: "..." Answer: "..."` strings; those are read exactly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase
from polyedit.data.jsonio import read_json
from polyedit.data.languages import get_language, normalize_code
from polyedit.errors import PolyeditError
from polyedit.methods.ike.prompts import fact_text

COPY, UPDATE, RETAIN = "copy", "update", "retain"
ROLES = (COPY, UPDATE, RETAIN, PORTABILITY)
#: which probe of an edit a demonstration of each role shows
ROLE_PROBE = {COPY: RELIABILITY, UPDATE: GENERALITY, RETAIN: LOCALITY, PORTABILITY: PORTABILITY}
#: the roles of one block of eight, as in the authors' pools (ids 1-8, 9-16, ...)
BLOCK = (COPY, UPDATE, UPDATE, UPDATE, RETAIN, RETAIN, PORTABILITY, PORTABILITY)
POOL_SIZE = 32

#: demonstration files of each BMIKE-53 task (`demonstrations/<stem>_multi.json`)
BMIKE_POOL_FILES = {"zsre": "zsre", "counterfact": "mcounterfact", "wikifactdiff": "wfd"}
POOL_ALIASES = {"cf": "counterfact", "mcounterfact": "counterfact", "wfd": "wikifactdiff"}


@dataclass(frozen=True)
class Demo:
    id: int  # 1-based position in the pool
    role: str
    fact: str  # the English new fact, "<question_en> <answer_en>"
    question: str  # in the query language
    answer: str

    def parts(self) -> tuple[str, str, str]:
        return self.fact, self.question, self.answer


# ---- splitting "question+answer" strings -------------------------------------------------------------

_NEWER = re.compile(r'^Question: "(?P<q>.*)" Answer: "(?P<a>.*)"$', re.S)
_NEWER_FACT = re.compile(r'^New fact: "(?P<f>.*)"$', re.S)
#: question marks that are not named so in Unicode: the Greek question mark is `;` after NFC, Armenian
#: writes `:` or the full stop `։` where the translations end a question
_EXTRA_MARKS = frozenset(";:։")


def _is_question_mark(ch: str) -> bool:
    if ch in _EXTRA_MARKS:
        return True
    try:
        return "QUESTION MARK" in unicodedata.name(ch)
    except ValueError:
        return False


def split_question_answer(text: str, lang: str, english_answer: str | None = None) -> tuple[str, str, str]:
    """(question, answer, route) of a demonstration string of the authors' files (see the module doc)."""
    m = _NEWER.match(text)
    if m:
        return m["q"], m["a"], "formatted"
    for i in range(len(text) - 2, -1, -1):
        if _is_question_mark(text[i]) and not text[i + 1].isspace() and text[i + 1:].strip():
            return text[:i + 1].strip(), text[i + 1:].strip(), "question_mark"
    if english_answer and text.endswith(english_answer) and len(text) > len(english_answer):
        return text[:-len(english_answer)].strip(), english_answer, "english_answer"
    if get_language(lang).spaces and " " in text.strip():
        q, _, a = text.strip().rpartition(" ")
        return q, a, "cloze"
    return text.strip(), "", "statement"


def _english_answer(prompt: str) -> str | None:
    q, sep, a = prompt.rpartition("? ")
    return a.strip() if sep and a.strip() else None


# ---- pools ---------------------------------------------------------------------------------------------

def pool_task(name: str) -> str:
    key = POOL_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in BMIKE_POOL_FILES:
        raise PolyeditError(f"ike: unknown demonstration pool {name!r} "
                            f"(known: {', '.join(BMIKE_POOL_FILES)}, world)")
    return key


class BmikePool:
    """The 32 demonstrations of one BMIKE-53 task, from `<root>/demonstrations/<stem>_multi.json`."""

    def __init__(self, task: str, root: str | Path) -> None:
        self.task = pool_task(task)
        self.path = Path(root) / "demonstrations" / f"{BMIKE_POOL_FILES[self.task]}_multi.json"
        if not self.path.is_file():
            raise PolyeditError(f"ike: demonstration pool {self.path} does not exist")
        rows = read_json(self.path)
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise PolyeditError(f"{self.path}: expected a JSON array of demonstration objects")
        self.rows = rows
        self.name = f"bmike53:{self.task}"
        self.split_counts: dict[str, int] = {}
        self._cache: dict[str, list[Demo]] = {}

    def _row_text(self, row: dict, lang: str) -> str | None:
        if lang == "en":
            return row.get("en", row.get("prompt"))
        for key, value in row.items():
            if key in ("case_id", "type", "new_fact", "prompt", "id"):
                continue
            try:
                if normalize_code(key) == lang:
                    return value
            except PolyeditError:
                continue
        return None

    def demos(self, lang: str) -> list[Demo]:
        lang = normalize_code(lang)
        if lang in self._cache:
            return self._cache[lang]
        out = []
        for i, row in enumerate(self.rows):
            text = self._row_text(row, lang)
            if not isinstance(text, str):
                raise PolyeditError(f"{self.path}: demonstration {i + 1} has no {lang!r} text")
            fact = str(row.get("new_fact", ""))
            m = _NEWER_FACT.match(fact)
            fact = m["f"] if m else fact
            english = row.get("en", row.get("prompt"))
            eng_answer = None
            if isinstance(english, str):
                m2 = _NEWER.match(english)
                eng_answer = m2["a"] if m2 else _english_answer(english)
            q, a, route = split_question_answer(text, lang, eng_answer)
            self.split_counts[route] = self.split_counts.get(route, 0) + 1
            role = str(row.get("type", BLOCK[i % len(BLOCK)]))
            out.append(Demo(int(row.get("case_id", row.get("id", i + 1))), role, fact, q, a))
        self._cache[lang] = out
        return out


def demo_from_case(case: EditCase, role: str, lang: str, demo_id: int = 0) -> Demo | None:
    """A demonstration of `role` built from an edit case: its English edit as the new fact and, in `lang`,
    the probe the role shows; None when the case has no such probe in that language."""
    kind = ROLE_PROBE[role]
    probe = next((p for p in case.probes if p.kind == kind and p.lang == lang and p.answer), None)  # one to show
    if probe is None:
        return None
    fact = fact_text(case.edit.prompt, case.edit.target_new, case.edit.lang)
    return Demo(demo_id, role, fact, probe.prompt, probe.answer.strip())


class CasePool:
    """A 32-demonstration pool built from edit cases (the knowledge world's, in its own languages): the
    authors' layout, each demonstration from a different case while there are enough, cases taken in order."""

    def __init__(self, name: str, cases: list[EditCase], size: int = POOL_SIZE) -> None:
        self.name, self.cases, self.size = name, cases, size
        self.split_counts: dict[str, int] = {}
        self._cache: dict[str, list[Demo]] = {}
        self._sources: dict[str, set[str]] = {}

    def sources(self, lang: str) -> set[str]:
        """Ids of the cases the demonstrations in `lang` come from."""
        self.demos(lang)
        return self._sources[normalize_code(lang)]

    def demos(self, lang: str) -> list[Demo]:
        lang = normalize_code(lang)
        if lang not in self._cache:
            out, used = [], set()
            for i in range(self.size):
                role = BLOCK[i % len(BLOCK)]
                # a case not used yet; in a small world, one already used (for another demonstration)
                for j in sorted(range(len(self.cases)), key=lambda j: j in used):
                    d = demo_from_case(self.cases[j], role, lang, i + 1)
                    if d is not None:
                        out.append(d)
                        used.add(j)
                        break
                else:
                    raise PolyeditError(f"ike: no case of pool {self.name} has a {ROLE_PROBE[role]} probe in "
                                        f"{lang!r}; choose another pool or setting")
            self._cache[lang] = out
            self._sources[lang] = {self.cases[j].case_id for j in used}
        return self._cache[lang]


@lru_cache(maxsize=8)
def bmike_pool(task: str, root: str) -> BmikePool:
    return BmikePool(task, root)
