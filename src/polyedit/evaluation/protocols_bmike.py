"""BMIKE-53's scores (Nie et al. 2024; reference scorer ercong21/MultiKnow `icl.py`), and language fidelity.

- `bmike_em`, `bmike_f1`, `token_f1`: greedy decoding of 15 new tokens, cut at the first `"` (the in-context
  prompt ends in `Answer: "`). `bmike_em` is string equality. `bmike_f1` is what the authors call F1:
  overlap² / (|pred| · |gold|) over the evaluated model's token ids (multiset overlap), which is
  precision × recall, not their harmonic mean; `token_f1` is the standard F1 on the same tokens.
- `ppl_compare` (CounterFact and WikiFactDiff reliability and generality): 1/perplexity of the new answer
  exceeds that of the same case's locality answer `loc_ans` in the probe's language, as the authors compare
  it. 1/ppl = exp(mean token log-probability), so this compares mean log-probabilities.
- `language_fidelity`: whether the answer is written in the query language's script (the language table's
  `script`, matched against Unicode character names). Counted only where the gold answer itself is in that
  script, so a probe whose correct answer is "CBS" in Japanese does not count. In Latin-script languages it
  cannot tell English from the query language.

Where polyedit departs from the reference, on purpose: predictions and golds are compared with surrounding
whitespace stripped (after `Answer: "` the continuation has no leading space, so in-context prompts score
the same; a raw prompt's " Oslo" becomes comparable), and without an edit handle's stop strings (the
unedited model on a raw prompt) the answer is also cut at the first newline.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from polyedit.data.cases import GENERALITY, LOCALITY, RELIABILITY, Probe
from polyedit.data.languages import get_language
from polyedit.evaluation.protocols import Needs, ProbeContext, answer_request, register_protocol, token_f1
from polyedit.models.backend import Generation, ScoreResult

#: the authors' generation length
BMIKE_NEW_TOKENS = 15
#: where the authors cut a continuation; raw prompts (no edit handle) also end an answer at a newline
ANSWER_STOP = ('"',)
RAW_STOP = ('"', "\n")

#: Unicode character-name prefixes of each script named in languages.json; a script not listed here is
#: matched by its own name in capitals (Latin -> LATIN, Cyrillic -> CYRILLIC, ...)
SCRIPT_NAME_PREFIXES = {
    "Han": ("CJK",),
    "Japanese": ("HIRAGANA", "KATAKANA", "CJK"),
    "Hangul": ("HANGUL",),
}


def bmike_f1(pred: list[int], gold: list[int]) -> float:
    """The authors' "F1": |pred ∩ gold|² / (|pred| · |gold|) with multiset overlap (= precision × recall).
    Both empty: 1; one empty: 0 (as in the reference)."""
    if not pred and not gold:
        return 1.0
    if not pred or not gold:
        return 0.0
    common = sum((Counter(pred) & Counter(gold)).values())
    return common * common / (len(pred) * len(gold))


def char_script(ch: str) -> str | None:
    """The Unicode name of a letter's script block word (`LATIN`, `CJK`, `HIRAGANA`, ...); None for non-letters."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return None


def in_script(text: str, script: str) -> bool | None:
    """Whether most letters of `text` belong to `script` (a languages.json script name); None without letters."""
    prefixes = SCRIPT_NAME_PREFIXES.get(script, (script.upper(),))
    names = [n for n in (char_script(c) for c in text) if n is not None]
    if not names:
        return None
    hits = sum(any(n.startswith(p) for p in prefixes) for n in names)
    return hits * 2 > len(names)


def language_fidelity(answer: str, lang: str) -> float | None:
    ok = in_script(answer, get_language(lang).script)
    return None if ok is None else float(ok)


def _stop(ctx: ProbeContext) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*ctx.stop, *ANSWER_STOP))) if ctx.stop else RAW_STOP


def _answer_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs:
    return Needs(generate=((prompt, ctx.max_new_tokens or BMIKE_NEW_TOKENS, _stop(ctx)),))


def _pred(res: list[Generation]) -> str:
    return res[0].text.split('"')[0].strip()


register_protocol("bmike_em", {"generate"}, "BMIKE-53: 15 greedy tokens cut at '\"', exact match")((
    _answer_needs,
    lambda probe, res, ctx: {"bmike_em": float(_pred(res) == probe.answer.strip())},
))

register_protocol("bmike_f1", {"generate"},
                  "BMIKE-53's F1: overlap²/(|pred|·|gold|) of token ids (precision × recall)")((
    _answer_needs,
    lambda probe, res, ctx: {"bmike_f1": bmike_f1(ctx.tokenize(_pred(res)), ctx.tokenize(probe.answer.strip()))},
))

register_protocol("token_f1", {"generate"}, "standard token F1 of the BMIKE-53 answer (15 tokens cut at '\"')")((
    _answer_needs,
    lambda probe, res, ctx: {"token_f1": token_f1(ctx.tokenize(_pred(res)), ctx.tokenize(probe.answer.strip()))},
))


def _fidelity_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    return _answer_needs(probe, prompt, ctx) if language_fidelity(probe.answer, probe.lang) == 1.0 else None


def _fidelity_score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    value = language_fidelity(_pred(res), probe.lang)
    return {"language_fidelity": 0.0 if value is None else value}  # an empty answer is not in the script


register_protocol("language_fidelity", {"generate"},
                  "share of answers written in the query language's script (where the gold answer is)")((
    _fidelity_needs, _fidelity_score,
))


def locality_answer(case, lang: str) -> str | None:
    """The case's locality answer in `lang` (BMIKE's `loc_ans`), the authors' competitor in ppl_compare."""
    if case is None:
        return None
    return next((p.answer for p in case.probes if p.kind == LOCALITY and p.lang == lang), None)


def _ppl_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    if probe.kind not in (RELIABILITY, GENERALITY):
        return None
    # The engine hands protocols the probe's case once ProbeContext carries it (see the IKE report);
    # until then the comparison does not apply.
    loc = locality_answer(getattr(ctx, "case", None), probe.lang)
    if loc is None or loc.strip() == probe.answer.strip():
        return None
    return Needs(score=(answer_request(probe, prompt), answer_request(probe, prompt, loc)))


def _ppl_score(probe: Probe, res: list[ScoreResult], ctx: ProbeContext) -> dict[str, float]:
    # 1/ppl = exp(mean log p): comparing inverse perplexities is comparing mean log-probabilities.
    return {"ppl_compare": float(res[0].mean_logprob > res[1].mean_logprob)}


register_protocol("ppl_compare", {"score"},
                  "BMIKE-53: 1/perplexity of the new answer > that of the case's loc_ans (reliability, generality)")((
    _ppl_needs, _ppl_score,
))
