"""Batched versus one-prompt-at-a-time probe scoring, same model, same probes, same run.

    python benchmarks/bench_eval_batching.py [--model world:small] [--data world:small] [--cases 20]

"Batched" is polyedit's engine: every probe of every case, all protocols, pooled and scored in padded
batches sorted by length. "One at a time" sends each (prompt, answer) request to the model alone, as a
per-prompt evaluation loop does. Both produce the same numbers (checked); the script prints both times
and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from polyedit.data.registry import load_dataset
from polyedit.evaluation.engine import evaluate
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
from polyedit.models.backend import HFBackend
from polyedit.models.load import load_model


class OneAtATime(HFBackend):
    """The reference loop: one request per forward pass."""

    def score(self, requests):
        return [r for req in requests for r in HFBackend.score(self, [req])]

    def generate(self, prompts, max_new_tokens, stop=()):
        return [g for p in prompts for g in HFBackend.generate(self, [p], max_new_tokens, stop)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--data", default="world:small")
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    cases = load_dataset(args.data, limit=args.cases).cases
    n_probes = sum(len(c.probes) for c in cases)
    protocols = list(DEFAULT_PROTOCOLS)

    evaluate(HFBackend(lm, args.batch_size), cases[:1], protocols)  # warm-up
    t0 = time.perf_counter()
    batched = evaluate(HFBackend(lm, args.batch_size), cases, protocols)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = evaluate(OneAtATime(lm, 1), cases, protocols)
    t_single = time.perf_counter() - t0

    same = all(a.metrics == b.metrics for a, b in zip(batched.results, single.results))
    print(f"model {args.model}, {len(cases)} cases, {n_probes} probes, protocols {', '.join(protocols)}")
    print("| scoring | seconds | probes/s |\n|---|---|---|")
    print(f"| one at a time | {t_single:.2f} | {n_probes / t_single:.0f} |")
    print(f"| batched (batch {args.batch_size}) | {t_batched:.2f} | {n_probes / t_batched:.0f} |")
    print(f"speed-up: {t_single / t_batched:.1f}x; identical metrics: {same}")


if __name__ == "__main__":
    main()
