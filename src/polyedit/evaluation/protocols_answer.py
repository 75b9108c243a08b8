"""The headline protocols: what the model generates, scored the same way in every script.

`answer` (reliability, generality, portability; locality too, as accuracy): greedy decoding, stopped by
`polyedit.data.normalize.answer_stops` (a newline, sentence-final punctuation of every script, the closing
quote of a quote the prompt opens, plus an edit handle's own stops), for at most the longest accepted
answer's token count + `ANSWER_SLACK` tokens (the stop rules, not the gold's length, end an answer; the
slack only bounds the cost). Scored against the answer and every alias (`Probe.answers`) after
per-language normalisation:

- `answer_em`: the normalised answer equals an accepted answer's (the headline);
- `answer_f1`: the best word F1, character F1 in languages without spaces;
- `answer_in_language`: the answer is written in the query's language (`answer_language.py`);
  `gold_in_language`: the same detector on the gold answer, whose language is known: its mean is the
  detector's ceiling. Both are absent where the gold answer has no letters (a year);
- `answer_em_strict`: `answer_em`, except that a right answer in the wrong language is wrong (only
  where the detector recognises the gold answer as the query's language, so its limits cost nothing);
- `old_answer_em`: the answer equals the probe's old answer (`answer_true`, where the data has one): before
  the edit, whether the model knew the fact it is asked to change (`edit_success.known_facts`).

`answer_locality` (locality probes, the headline): the normalised generated answer is the same after the
edit as before it (`answer_unchanged`); before the edit it is unchanged by definition. It needs no gold
answer, so it scores a locality probe whose gold is empty too (BMIKE-53's empty `loc_ans`), with the
generation budget of an empty answer; `answer` omits such probes.
"""

from __future__ import annotations

from polyedit.data import normalize
from polyedit.data.cases import LOCALITY, PORTABILITY, RELIABILITY, GENERALITY, Probe
from polyedit.data.languages import join_target
from polyedit.evaluation import answer_language
from polyedit.evaluation.protocols import Needs, ProbeContext, register_protocol
from polyedit.models.backend import Generation

#: the probe kinds a generated answer is scored against the gold for
_ANSWER_KINDS = (RELIABILITY, GENERALITY, PORTABILITY)
#: tokens allowed beyond the longest accepted answer
ANSWER_SLACK = 8

_DECODING = {"strategy": "greedy",
             "max_new_tokens": f"longest accepted answer + {ANSWER_SLACK} tokens, rounded up to a power of two",
             "stop": "newline, sentence-final punctuation of all scripts, the prompt's open quote, the edit's stops"}
_SETTINGS = {"normalization": f"{normalize.DESCRIPTION} (v{normalize.NORMALIZER_VERSION})",
             "f1": "words; characters where the language has no spaces", "aliases": True,
             "decoding": _DECODING, "language_id": answer_language.DESCRIPTION}


def stops_for(prompt: str, ctx: ProbeContext) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*normalize.answer_stops(prompt), *ctx.stop)))


def budget(longest: int) -> int:
    """Tokens to generate: the longest accepted answer + `ANSWER_SLACK`, rounded up to a power of two, so
    that probes of different answer lengths share one batched generation call (the stop rules end each)."""
    n = longest + ANSWER_SLACK
    return 1 << (n - 1).bit_length()


def _needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs:
    n = ctx.max_new_tokens or budget(max(len(ctx.tokenize(join_target(prompt, a, probe.lang)[1])) for a in probe.answers))
    return Needs(generate=((prompt, n, stops_for(prompt, ctx)),))


def generated_answer(res: list[Generation], prompt: str, ctx: ProbeContext) -> str:
    return normalize.cut_answer(res[0].text, stops_for(prompt, ctx))


def _score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    prompt = ctx.prompt or probe.prompt
    pred = generated_answer(res, prompt, ctx)
    out = {"answer_em": normalize.exact_match(pred, probe.answers, probe.lang),
           "answer_f1": normalize.answer_f1(pred, probe.answers, probe.lang)}
    if probe.answer_true:  # before the edit: whether the model generated the old answer (it knew the fact)
        out["old_answer_em"] = normalize.exact_match(pred, (probe.answer_true,), probe.lang)
    candidates = tuple(ctx.case.languages) if ctx.case is not None else (probe.lang,)
    gold_ok = answer_language.in_language(probe.answer, probe.lang, candidates)
    if gold_ok is not None:
        pred_ok = bool(answer_language.in_language(pred, probe.lang, candidates))  # no letters: not the language
        out["answer_in_language"] = float(pred_ok)
        out["gold_in_language"] = float(gold_ok)
        out["answer_em_strict"] = out["answer_em"] * float(pred_ok or not gold_ok)
    return out


register_protocol("answer", {"generate"},
                  "generated answer, stopped in any script, exact match / F1 after per-language normalisation, aliases",
                  metrics={"answer_em": ("normalised generated answer equals the answer or an alias", _ANSWER_KINDS),
                           "answer_f1": "best word (or character) F1 against the answer and aliases",
                           "answer_in_language": "the generated answer is in the query's language",
                           "gold_in_language": "the detector recognises the gold answer's language (its ceiling)",
                           "answer_em_strict": "answer_em, a right answer in the wrong language counted wrong",
                           "old_answer_em": "the generated answer is the old answer (target_true), where the data "
                                            "gives one: what the model knew before the edit"},
                  settings=_SETTINGS)((
    _needs, _score,
))


def _locality_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    return _needs(probe, prompt, ctx) if probe.kind == LOCALITY else None


def _locality_score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    pred = generated_answer(res, ctx.prompt or probe.prompt, ctx)
    before = (ctx.before or {}).get("answer_locality")
    if before is None:  # before the edit: unchanged by definition
        return {"answer_unchanged": 1.0}
    before = normalize.cut_answer(before[0], normalize.answer_stops(""))  # as cut when it was scored
    return {"answer_unchanged": float(normalize.normalize_answer(pred, probe.lang)
                                      == normalize.normalize_answer(before, probe.lang))}


register_protocol("answer_locality", {"generate"},
                  "locality: the normalised generated answer is the same after the edit as before",
                  metrics={"answer_unchanged": ("normalised generated answer as before the edit", (LOCALITY,))},
                  settings=_SETTINGS, empty_answer="needs no gold: the answer after the edit against the one before")((
    _locality_needs, _locality_score,
))
