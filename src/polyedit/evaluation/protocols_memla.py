"""MEMLA's scores on MKEB (Xie et al.; reference code jiakuan01/memla4mke, `utils/evaluator.py`).

- `prob_compare_total` (edit success ES and paraphrase score PS): the new answer's total probability,
  the product of its token probabilities given the prompt, exceeds the old answer's. This differs from
  `prob_compare` (ROME/CounterFact's mean log-probability) whenever the answers differ in token count:
  the product favours the shorter answer, which is what MEMLA reports.
- `token_set_f1` (neighbourhood score NS and multi-hop score QS): greedy-decode exactly as many tokens as
  the gold answer has (MEMLA: `steps = len(tok.encode(" " + answer))`), then F1 between the *sets* of
  predicted and gold token ids: P = |S_pred ∩ S_gold| / |S_pred|, R = |S_pred ∩ S_gold| / |S_gold|,
  F1 = 2PR / (P + R). Sets, not multisets: a repeated token counts once (unlike `token_f1`).

Where polyedit departs from the reference code, on purpose: the gold answer is joined to the prompt by
the language table's rule (a leading space only in space-separated languages; MEMLA always prepends one),
and token counts exclude special tokens (`tok.encode` adds a BOS for Llama tokenizers, which lengthens the
generation by one token and puts the BOS id into the gold set). MEMLA re-tokenizes the decoded text at
every step; polyedit decodes ordinary greedy continuations.
"""

from __future__ import annotations

from polyedit.data.cases import LOCALITY, PORTABILITY, Probe
from polyedit.evaluation.protocols import Needs, ProbeContext, answer_request, register_protocol
from polyedit.models.backend import Generation, ScoreResult

#: MEMLA scores neighbourhood prompts and multi-hop questions by token-set F1
TOKEN_SET_F1_KINDS = (LOCALITY, PORTABILITY)


def token_set_f1(pred: list[int], gold: list[int]) -> float:
    """F1 between the sets of predicted and gold token ids (MEMLA's `calc_f1`); 0 when either is empty."""
    p, g = set(pred), set(gold)
    common = len(p & g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _token_set_f1_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    if probe.kind not in TOKEN_SET_F1_KINDS:
        return None
    _, continuation = answer_request(probe, prompt)
    # The length is the definition of the metric, so the run's max_new_tokens knob does not apply.
    n = max(1, len(ctx.tokenize(continuation)))
    return Needs(generate=((prompt, n, ctx.stop),))


def _token_set_f1_score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    # The prompt the model saw (an edit handle may have rewritten it) decides the gold's leading space;
    # ProbeContext carries it once the engine provides `prompt`, the probe's own prompt until then.
    _, continuation = answer_request(probe, getattr(ctx, "prompt", None) or probe.prompt)
    return {"token_set_f1": token_set_f1(res[0].token_ids, ctx.tokenize(continuation))}


register_protocol("token_set_f1", {"generate"},
                  "MEMLA: F1 of token-id sets of a greedy answer as long as the gold (locality, portability)",
                  metrics={"token_set_f1": "F1 of the token-id sets of a greedy answer as long as the gold"},
                  settings={"decoding": {"strategy": "greedy", "max_new_tokens": "the gold answer's token count"},
                            "reference": "jiakuan01/memla4mke utils/evaluator.py"})((
    _token_set_f1_needs, _token_set_f1_score,
))


def _prob_compare_total_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    if probe.answer_true is None or probe.kind == LOCALITY:
        return None
    return Needs(score=(answer_request(probe, prompt), answer_request(probe, prompt, probe.answer_true)))


def _prob_compare_total_score(probe: Probe, res: list[ScoreResult], ctx: ProbeContext) -> dict[str, float]:
    # Sums of log-probabilities compare as the products of probabilities MEMLA compares, without underflow.
    return {"prob_compare_total": float(sum(res[0].logprobs) > sum(res[1].logprobs))}


register_protocol("prob_compare_total", {"score"},
                  "MEMLA: total probability of the new answer > the old answer's",
                  metrics={"prob_compare_total": "the new answer's total probability beats the old answer's"},
                  settings={"reference": "jiakuan01/memla4mke utils/evaluator.py"})((
    _prob_compare_total_needs, _prob_compare_total_score,
))
