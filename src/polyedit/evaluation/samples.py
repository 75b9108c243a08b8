"""The per-sample log, `samples.jsonl` beside `results.jsonl` (as lm-evaluation-harness's --log_samples).

One line per probe and finished case: the prompt exactly as sent before and after the edit (an in-context
method's rewritten prompt after it), every text the protocols generated, the gold answer and its aliases,
and each metric with the protocol that produced it. Appended and fsynced with the case's results, so a
resumed run continues it; `polyedit bench --no-log-samples` turns it off.
"""

from __future__ import annotations

from polyedit.data.cases import EditCase
from polyedit.evaluation.engine import Evaluation, ProbeResult


def _stage(r: ProbeResult) -> dict:
    return {"prompt": r.prompt, "generated": r.outputs, "metrics": r.metrics}


def sample_lines(pre: Evaluation, post: Evaluation, cases: list[EditCase], method: str) -> list[dict]:
    pre_k, post_k = pre.by_key(), post.by_key()
    out = []
    for case in cases:
        for i, probe in enumerate(case.probes):
            a, b = pre_k[(case.case_id, i)], post_k[(case.case_id, i)]
            out.append({"case_id": case.case_id, "index": i, "method": method, "kind": probe.kind,
                        "lang": probe.lang, "gold": probe.answer, "aliases": list(probe.aliases),
                        "gold_true": probe.answer_true, "protocol": {**a.protocol_of, **b.protocol_of},
                        "pre": _stage(a), "post": _stage(b)})
    return out
