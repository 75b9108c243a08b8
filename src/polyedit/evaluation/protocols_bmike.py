"""BMIKE-53's scores (Nie et al. 2024; reference scorer ercong21/MultiKnow `icl.py`), and language fidelity.

- `bmike_em`, `bmike_f1`, `token_f1`: greedy decoding of 15 new tokens, cut at the first `"` (the in-context
  prompt ends in `Answer: "`). `bmike_em` is string equality. `bmike_f1` is what the authors call F1:
  overlap² / (|pred| · |gold|) over the evaluated model's token ids (multiset overlap), which is
  precision × recall, not their harmonic mean; `token_f1` is the standard F1 on the same tokens.
- `ppl_compare` (CounterFact and WikiFactDiff reliability and generality): 1/perplexity of the new answer
  exceeds that of the same case's locality answer `loc_ans` in the probe's language, as the authors compare
  it. 1/ppl = exp(mean token log-probability), so this compares mean log-probabilities. Every probe counts,
  as in the authors' scorer: where `loc_ans` equals the new answer the two perplexities tie and the probe
  fails (WikiFactDiff: 1,609 target-language records); where `loc_ans` is empty (WikiFactDiff: 260) the
  authors' `target_ids[:, :-0]` masks nothing, so the competitor is the perplexity of the whole sequence
  (demonstrations and prompt), which polyedit reproduces when the tokenizer starts texts with a BOS token
  (without one, the whole sequence but its first token, which nothing predicts).
- `language_fidelity`: whether the answer is written in the query language's script (the language table's
  `script`, matched against Unicode character names). Counted only where the gold answer itself is in that
  script, so a probe whose correct answer is "CBS" in Japanese does not count. In Latin-script languages it
  cannot tell English from the query language (the `answer` protocol's `answer_in_language` can).

A probe whose gold answer is empty (WikiFactDiff's empty `loc_ans`) is scored by `bmike_em`, `bmike_f1` and
their stripped variants as the authors score it: 1 if the answer is empty too, else 0 (`AUTHORS_EMPTY`);
`token_f1` and `language_fidelity`, which the authors do not compute, omit it.

`bmike_em`, `bmike_f1` and `token_f1` are the authors' scorer exactly: the raw continuation up to the first
`"` against the raw gold answer, no whitespace stripped, no other stop. Their named alternative,
`bmike_em_stripped` and `bmike_f1_stripped`, strips surrounding whitespace from both and, on a raw prompt
(no edit handle), also ends the answer at a newline: a raw prompt's continuation " Oslo\nThe ..." is then
comparable, where the authors' rule (made for prompts ending in `Answer: "`) scores it 0. Summaries label
which was used; the two are never averaged together.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, Probe
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


#: the kinds the authors' answer scores may stand for (locality's headline is the answer unchanged: aggregate.py)
_KINDS = (RELIABILITY, GENERALITY, PORTABILITY)
_EXACT = {"decoding": {"strategy": "greedy", "max_new_tokens": BMIKE_NEW_TOKENS, "stop": list(ANSWER_STOP)},
          "normalization": "none (the authors' raw string comparison)", "reference": "ercong21/MultiKnow icl.py"}
_STRIPPED = {"decoding": {"strategy": "greedy", "max_new_tokens": BMIKE_NEW_TOKENS,
                          "stop": "'\"'; also a newline on raw prompts"},
             "normalization": "surrounding whitespace stripped", "reference": "polyedit variant of icl.py"}


#: the authors' rule where the gold answer is empty (WikiFactDiff's empty `loc_ans`): `obtain_f1_and_em`
#: returns (1, 1) when both token lists are empty, (0, 0) when one is
AUTHORS_EMPTY = "scored as the authors' obtain_f1_and_em: 1 if the answer is empty too, else 0"


def _stop(ctx: ProbeContext) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*ctx.stop, *ANSWER_STOP)))


def _stop_stripped(ctx: ProbeContext) -> tuple[str, ...]:
    return _stop(ctx) if ctx.stop else RAW_STOP


def _answer_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs:
    return Needs(generate=((prompt, ctx.max_new_tokens or BMIKE_NEW_TOKENS, _stop(ctx)),))


def _stripped_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs:
    return Needs(generate=((prompt, ctx.max_new_tokens or BMIKE_NEW_TOKENS, _stop_stripped(ctx)),))


def _pred(res: list[Generation]) -> str:
    """The authors' answer: the decoded continuation up to the first `"`, as it is."""
    return res[0].text.split('"')[0]


def _pred_stripped(res: list[Generation]) -> str:
    return res[0].text.split('"')[0].split("\n")[0].strip()


register_protocol("bmike_em", {"generate"}, "BMIKE-53 (authors' scorer): 15 greedy tokens cut at '\"', raw exact match",
                  metrics={"bmike_em": ("the authors' raw exact match", _KINDS)}, settings=_EXACT,
                  empty_answer=AUTHORS_EMPTY)((
    _answer_needs,
    lambda probe, res, ctx: {"bmike_em": float(_pred(res) == probe.answer)},
))

register_protocol("bmike_f1", {"generate"},
                  "BMIKE-53's F1 (authors' scorer): overlap²/(|pred|·|gold|) of token ids (precision × recall)",
                  metrics={"bmike_f1": ("the authors' F1: precision x recall of token ids", _KINDS)}, settings=_EXACT,
                  empty_answer=AUTHORS_EMPTY)((
    _answer_needs,
    lambda probe, res, ctx: {"bmike_f1": bmike_f1(ctx.tokenize(_pred(res)), ctx.tokenize(probe.answer))},
))

register_protocol("token_f1", {"generate"}, "standard token F1 of the BMIKE-53 answer (15 tokens cut at '\"')",
                  metrics={"token_f1": "standard token F1 of the BMIKE-53 answer"}, settings=_EXACT)((
    _answer_needs,
    lambda probe, res, ctx: {"token_f1": token_f1(ctx.tokenize(_pred(res)), ctx.tokenize(probe.answer))},
))

register_protocol("bmike_em_stripped", {"generate"},
                  "BMIKE-53 exact match, whitespace stripped and raw prompts cut at a newline (polyedit's variant)",
                  metrics={"bmike_em_stripped": ("exact match, whitespace stripped", _KINDS)}, settings=_STRIPPED,
                  empty_answer=AUTHORS_EMPTY)((
    _stripped_needs,
    lambda probe, res, ctx: {"bmike_em_stripped": float(_pred_stripped(res) == probe.answer.strip())},
))

register_protocol("bmike_f1_stripped", {"generate"},
                  "BMIKE-53's F1, whitespace stripped and raw prompts cut at a newline (polyedit's variant)",
                  metrics={"bmike_f1_stripped": ("the authors' F1, whitespace stripped", _KINDS)},
                  settings=_STRIPPED, empty_answer=AUTHORS_EMPTY)((
    _stripped_needs,
    lambda probe, res, ctx: {"bmike_f1_stripped": bmike_f1(ctx.tokenize(_pred_stripped(res)),
                                                           ctx.tokenize(probe.answer.strip()))},
))


def _fidelity_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    return _answer_needs(probe, prompt, ctx) if language_fidelity(probe.answer, probe.lang) == 1.0 else None


def _fidelity_score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    value = language_fidelity(_pred(res), probe.lang)
    return {"language_fidelity": 0.0 if value is None else value}  # an empty answer is not in the script


register_protocol("language_fidelity", {"generate"},
                  "share of answers written in the query language's script (where the gold answer is)",
                  metrics={"language_fidelity": "the answer is written in the query language's script"},
                  settings=_EXACT)((
    _fidelity_needs, _fidelity_score,
))


def locality_answer(case, lang: str) -> str | None:
    """The case's locality answer in `lang` (BMIKE's `loc_ans`, as published: possibly empty), the authors'
    competitor in ppl_compare; cases from other loaders offer their locality probe's answer."""
    if case is None:
        return None
    published = (case.meta.get("loc_ans") or {}).get(lang)
    if published is not None:
        return published
    return next((p.answer for p in case.probes if p.kind == LOCALITY and p.lang == lang), None)


def whole_sequence_request(text: str, bos: bool) -> tuple[str, str]:
    """A score request over every token of `text` that can be predicted: all of them after a BOS token,
    all but the first without one."""
    return ("", text) if bos else (text[:1], text[1:])


def _ppl_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    if probe.kind not in (RELIABILITY, GENERALITY):
        return None
    loc = locality_answer(ctx.case, probe.lang)
    if loc is None:
        return None
    # An empty loc_ans: the authors' label mask `[:, :-0]` keeps every position, the whole sequence competes.
    # loc_ans equal to the answer: the same request twice, a tie, which fails (as in the authors' scorer).
    other = answer_request(probe, prompt, loc) if loc.strip() else whole_sequence_request(prompt.rstrip(), ctx.bos)
    return Needs(score=(answer_request(probe, prompt), other))


def _ppl_score(probe: Probe, res: list[ScoreResult], ctx: ProbeContext) -> dict[str, float]:
    # 1/ppl = exp(mean log p): comparing inverse perplexities is comparing mean log-probabilities.
    return {"ppl_compare": float(res[0].mean_logprob > res[1].mean_logprob)}


register_protocol("ppl_compare", {"score"},
                  "BMIKE-53: 1/perplexity of the new answer > that of the case's loc_ans (reliability, generality)",
                  metrics={"ppl_compare": "1/perplexity of the new answer exceeds that of loc_ans"},
                  settings={"reference": "ercong21/MultiKnow icl.py", "counts": "every probe; ties fail; "
                            "an empty loc_ans competes with the whole sequence"})((
    _ppl_needs, _ppl_score,
))
