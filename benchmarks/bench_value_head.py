"""v* (ROME/MEMIT's value optimisation) with the LM head at the target positions only, against full logits, in
one run: the time of each, their ratio, and how far the two δ are apart (they should be the same numbers).

    python benchmarks/bench_value_head.py [--model world:medium] [--facts 32] [--threads 1] [--repeats 3]

The facts are the world's own cases in every edit language, optimised in MEMIT's groups of 16 with the
contexts and settings of the lifelong MEMIT entry (5 prefixes of 10 tokens, 40 steps, no early stop so both
paths run every step). Each path runs `--repeats` times, alternating; the best time of each is compared.
"""

from __future__ import annotations

import argparse
import time

import torch

from polyedit.data.registry import load_dataset
from polyedit.methods.locate_then_edit.rank_one import context_prefixes, fact_contexts, optimise_values
from polyedit.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:medium")
    ap.add_argument("--facts", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    cases = load_dataset(f"world:{args.model.removeprefix('world:')}:edit_lang=all:mix=cycle").cases[:args.facts]
    contexts = [fact_contexts(lm, c.edit, context_prefixes(lm, c.edit.lang, 5, 10, 0), "prompt_last")
                for c in cases]
    module = lm.arch.block(lm.arch.n_layers - 1)
    settings = dict(lr=0.2, steps=args.steps, kl_factor=0.0625, weight_decay=0.5, clamp_norm_factor=4.0,
                    early_stop_loss=0.0)
    times: dict[bool, list[float]] = {True: [], False: []}
    deltas: dict[bool, torch.Tensor] = {}
    for _ in range(args.repeats):
        for at_targets in (False, True):
            start = time.perf_counter()
            deltas[at_targets] = optimise_values(lm, contexts, module, head_at_targets=at_targets, **settings).delta
            times[at_targets].append(time.perf_counter() - start)
    full, fast = min(times[False]), min(times[True])
    diff = (deltas[True] - deltas[False]).abs().max().item()
    print(f"{args.model}: {len(contexts)} facts, {args.steps} steps, {args.threads} thread(s), best of {args.repeats}")
    print(f"  full logits           {full:8.2f} s")
    print(f"  head at targets only  {fast:8.2f} s")
    print(f"  ratio full / targets  {full / fast:8.2f}x")
    print(f"  max |δ_targets − δ_full| = {diff:.3g} (bit-identical: {torch.equal(deltas[True], deltas[False])})")


if __name__ == "__main__":
    main()
