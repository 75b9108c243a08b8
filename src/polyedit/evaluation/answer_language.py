"""Is an answer written in the query's language? Offline language identification that knows its limits.

The script alone cannot tell German from French, so an identifier is needed; but answers are short names,
where identifiers guess wildly (py3langid over all of its 97 languages: "Milano" -> Tagalog, "Милан" ->
Uzbek, "巴黎" -> Wu). So, in order:

1. the candidates are the run's languages (the case's languages) whose script the answer is written in
   (the language table's `script`); no candidate in that script means: not the query language;
2. one candidate left decides (Cyrillic among en/de/ru is Russian; Hangul is Korean);
3. several (de, fr, it in Latin script): py3langid (bundled model, nothing downloaded; its model file is
   npz, never a pickle) ranks only those candidates, and its answer counts when the text has at least
   `MIN_LETTERS` letters and the normalised probability reaches `MIN_CONFIDENCE`;
4. otherwise the text is too short to tell, and the script decides (counted as the query language).

How far to trust this is measured, not assumed: `gold_in_language` applies the same rule to the
dataset's own gold answers, whose language is known; its mean is the detector's ceiling.
"""

from __future__ import annotations

from functools import lru_cache

from polyedit.data.languages import get_language, normalize_code
from polyedit.evaluation.protocols_bmike import in_script

DETECTOR = "py3langid"
MIN_LETTERS = 4
MIN_CONFIDENCE = 0.5
DESCRIPTION = (f"{DETECTOR} restricted to the run's languages in the answer's script; below {MIN_LETTERS} "
               f"letters or probability {MIN_CONFIDENCE}, the script decides")


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # the package's own model


@lru_cache(maxsize=4096)
def _rank(text: str, candidates: tuple[str, ...]) -> tuple[str, float] | None:
    ident = _identifier()
    known = [c for c in candidates if c in ident.nb_classes]
    if len(known) < 2:
        return None
    ident.set_languages(known)
    try:
        lang, prob = ident.classify(text)
    finally:
        ident.set_languages(None)
    return str(lang), float(prob)


def in_language(text: str, lang: str, candidates: tuple[str, ...] | list[str] = ()) -> bool | None:
    """Whether `text` is written in `lang`, telling apart only `candidates` (plus `lang`); None without letters."""
    lang = normalize_code(lang)
    script = get_language(lang).script
    own = in_script(text, script)
    if own is None:
        return None
    if not own:
        return False
    same_script = tuple(sorted({c for c in (normalize_code(x) for x in candidates) if get_language(c).script == script}
                               | {lang}))
    if len(same_script) == 1:
        return True
    letters = sum(ch.isalpha() for ch in text)
    ranked = _rank(text, same_script) if letters >= MIN_LETTERS else None
    if ranked is None or ranked[1] < MIN_CONFIDENCE:
        return True  # too short or too close to tell: the script is all the evidence there is
    return ranked[0] == lang
