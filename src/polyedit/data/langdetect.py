"""A record's language when its file does not say: the script first, then py3langid among the language
table's languages written in that script (its bundled model is npz, never a pickle; nothing is downloaded).

Short texts fool identifiers, so a record's whole text is used, and a detection below `MIN_CONFIDENCE` is
"unsure": the loader gives it the file's most common sure language of the same script, and counts it so.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any

from polyedit.data.languages import all_languages, get_language

MIN_CONFIDENCE = 0.5
#: Unicode name words of a table script where they differ from its upper-cased name (kana decides Japanese)
_SCRIPT_WORDS = {"Han": ("CJK",), "Japanese": ("HIRAGANA", "KATAKANA"), "Hangul": ("HANGUL",)}


def _letter_script(ch: str) -> str | None:
    if not unicodedata.category(ch).startswith("L"):
        return None
    word = unicodedata.name(ch, "").split(" ")[0]
    for script, words in _SCRIPT_WORDS.items():
        if word in words:
            return script
    return word.capitalize() or None


def script_of(text: str) -> str | None:
    """The table script most letters of `text` are written in (any kana makes it Japanese); None without letters."""
    counts = Counter(s for s in map(_letter_script, text) if s is not None)
    if not counts:
        return None
    if counts["Japanese"]:
        return "Japanese"
    return counts.most_common(1)[0][0]


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, bool] | None:
    """(language code, sure) for `text`, or None when no table language is written in its script."""
    script = script_of(text)
    ident = _identifier()
    candidates = [lang.code for lang in all_languages() if lang.script == script and lang.code in ident.nb_classes]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0], True
    ident.set_languages(candidates)
    try:
        code, prob = ident.classify(text)
    finally:
        ident.set_languages(None)
    return str(code), float(prob) >= MIN_CONFIDENCE


def record_text(value: Any) -> str:
    """Every string of a record, joined: more text, surer detection."""
    out, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return " ".join(out)


class Languages:
    """The language of each record of one file: its own field, else the option, else detected. Detections
    are settled once the whole file is seen (`settle`), so an unsure one can take the file's majority."""

    def __init__(self, option: str | None) -> None:
        self.option = option  # a normalised code, or None: detect
        self.found: list[tuple[str | None, str, bool]] = []  # (code, how, sure) per record, in order
        self.unsure = 0  # detections below MIN_CONFIDENCE with no sure majority of their script to take

    def add(self, field_code: str | None, field_name: str | None, rec: Any) -> int:
        if field_code is not None:
            self.found.append((field_code, f"field {field_name}", True))
        elif self.option is not None:
            self.found.append((self.option, "option lang=", True))
        else:
            got = detect(record_text(rec))
            self.found.append((got[0], "detected", got[1]) if got else (None, "detected", False))
        return len(self.found) - 1

    def settle(self, counts: Counter) -> list[str | None]:
        """Each record's code; counted in `counts` as 'code (how)'."""
        sure = Counter(code for code, how, ok in self.found if ok and how == "detected")
        out = []
        for code, how, ok in self.found:
            if not ok and code is not None:
                script = script_of_code(code)
                major = next((c for c, _ in sure.most_common() if script_of_code(c) == script), None)
                code, how = (major, "detected, unsure: the file's majority") if major else (code, "detected, unsure")
                self.unsure += major is None
            if code is not None:
                counts[f"{code} ({how})"] += 1
            out.append(code)
        return out


def script_of_code(code: str) -> str:
    return get_language(code).script
