"""Answer normalisation that is right in every script: what "the same answer" means for exact match and F1.

SQuAD's normaliser (lower-case, drop English articles and ASCII punctuation, split on spaces) is wrong
outside English: it keeps 「」 and 。, leaves full-width forms unequal to their ASCII twins, and scores a
Chinese answer as one "word". Here, following MLQA's multilingual variant:

1. Unicode NFKC (full-width ＡＢＣ and half-width ｶﾅ fold to their usual forms) and casefold (ß -> ss);
2. every punctuation character of every script (Unicode category P*: 。「」、«»¿¡‘’…) becomes a space;
3. the language's articles (the language table's `articles` column: data, never an `if`) are dropped as
   whole words; an elided article (`l'`) is dropped where it starts a word;
4. whitespace of every script is collapsed; in languages written without spaces (the table's `spaces`
   column: zh, ja, th) it is removed, so "東京 都" equals "東京都".

F1 counts words in languages written with spaces and characters in the others (MLQA's mixed segmentation:
a run of Latin letters or digits stays one word), so a Thai or Japanese answer earns partial credit per
character, not all-or-nothing, and a Latin name in a Chinese answer is not split into letters.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Iterable

from polyedit.data.languages import get_language

#: bumped whenever a rule here changes, and recorded in every generated-answer protocol descriptor
NORMALIZER_VERSION = "1"
DESCRIPTION = "NFKC, casefold, punctuation (Unicode P*) and whitespace of all scripts, the language's articles"

_APOSTROPHES = "'\u2019\u02bc"


def _strip_punct(text: str) -> str:
    # Apostrophes survive this step only long enough to find elided articles (l'Aquila), then go too.
    return "".join(" " if unicodedata.category(c).startswith("P") and c not in _APOSTROPHES else c for c in text)


def normalize_answer(text: str, lang: str) -> str:
    """The comparable form of an answer in `lang` (see the module docstring for the rules, in order)."""
    language = get_language(lang)
    text = unicodedata.normalize("NFKC", text).casefold()
    for a in _APOSTROPHES[1:]:
        text = text.replace(a, "'")
    words = []
    articles = {a.casefold() for a in language.articles}
    elided = tuple(a for a in articles if a.endswith("'"))
    for word in _strip_punct(text).split():
        for e in elided:
            if word.startswith(e) and len(word) > len(e):
                word = word[len(e):]
        word = word.replace("'", " ").strip()
        if word and word not in articles:
            words.append(" ".join(word.split()))
    return " ".join(words) if language.spaces else "".join(words).replace(" ", "")


def _is_word_char(ch: str) -> bool:
    # Latin letters and digits inside a Chinese or Japanese answer ("CBS", "2024") form words, as in MLQA's
    # mixed segmentation; every other character of a language without spaces is a unit of its own.
    return ch.isdigit() or (ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"))


def answer_units(text: str, lang: str) -> list[str]:
    """What F1 counts: words of the normalised answer; where the language has no spaces, its characters
    (runs of Latin letters and digits stay words)."""
    norm = normalize_answer(text, lang)
    if get_language(lang).spaces:
        return norm.split()
    units: list[str] = []
    for ch in norm:
        if units and _is_word_char(ch) and _is_word_char(units[-1][-1]):
            units[-1] += ch
        else:
            units.append(ch)
    return units


def unit_f1(pred: list[str], gold: list[str]) -> float:
    """SQuAD-style F1 over multisets of units; both empty counts as a match."""
    if not pred and not gold:
        return 1.0
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)


def exact_match(pred: str, answers: Iterable[str], lang: str) -> float:
    """1.0 if the normalised prediction equals the normalised form of any accepted answer (answer or alias)."""
    norm = normalize_answer(pred, lang)
    return float(any(norm == normalize_answer(a, lang) for a in answers))


def answer_f1(pred: str, answers: Iterable[str], lang: str) -> float:
    """The best F1 of the prediction against any accepted answer (SQuAD takes the max over gold answers)."""
    units = answer_units(pred, lang)
    return max((unit_f1(units, answer_units(a, lang)) for a in answers), default=0.0)


#: sentence-final punctuation of the scripts in the language table; a generated answer ends at the first
#: one. Those written with a following space (., !, ?) end an answer only when a space or newline follows,
#: so "D.C." and "3.5" survive; the others (。！？।॥؟۔።) end it where they stand.
SPACED_SENTENCE_END = (".", "!", "?")
SENTENCE_END = ("。", "！", "？", "．", "।", "॥", "؟", "۔", "።", "჻", "။", "։")
#: an answer that opens with one of these ends at its closing partner (the dataset's quote convention,
#: read off the prompt: BMIKE's in-context prompts end in `Answer: "`)
QUOTE_PAIRS = {'"': '"', "“": "”", "„": "“", "«": "»", "»": "«", "「": "」", "『": "』", "‘": "’", "'": "'", "‹": "›"}


def answer_stops(prompt: str) -> tuple[str, ...]:
    """Where a greedy answer to `prompt` ends, in any script: a newline, sentence-final punctuation, and the
    closing quote when the prompt ends by opening one."""
    stops = ["\n", *(p + " " for p in SPACED_SENTENCE_END), *SENTENCE_END]
    tail = prompt.rstrip(" ")
    if tail and tail[-1] in QUOTE_PAIRS:
        stops.append(QUOTE_PAIRS[tail[-1]])
    return tuple(dict.fromkeys(stops))


def cut_answer(text: str, stops: tuple[str, ...]) -> str:
    """The text before the first stop (a backend may run past a stop by part of a token)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]
