"""What the generated-answer headline costs against the old teacher-forced default, same cases, one run.

    python benchmarks/bench_headline_cost.py [--model world:small] [--data world:small] [--cases 10]

Three evaluations of the same cases (every probe, every language), each repeated `--repeats` times in
alternation so a busy machine slows all of them alike; the best of each is kept:

- `teacher-forced` : the old default protocols (token_accuracy, prob_compare, locality): one padded
  forward pass per request;
- `generated`      : the new headline alone (answer, answer_locality): batched greedy decoding
  (`models/generation.py`), stopped by the script-aware stop rules;
- `new default`    : both, as `polyedit bench` now runs them (headline + labelled diagnostics).

Prints CPU seconds of this process (one thread, robust to other load) and wall seconds, and the ratios
to the teacher-forced run.
"""

from __future__ import annotations

import argparse
import time

import torch

from polyedit.data.registry import load_dataset
from polyedit.evaluation.engine import evaluate
from polyedit.models.backend import HFBackend
from polyedit.models.load import load_model

RUNS = {
    "teacher-forced": ["token_accuracy", "prob_compare", "locality"],
    "generated": ["answer", "answer_locality"],
    "new default": ["answer", "answer_locality", "token_accuracy", "prob_compare", "locality"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--data", default="world:small")
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lm = load_model(args.model)
    cases = load_dataset(args.data, limit=args.cases).cases
    n_probes = sum(len(c.probes) for c in cases)
    backend = HFBackend(lm, args.batch_size)
    evaluate(backend, cases[:1], RUNS["new default"])  # warm-up
    best = {name: (float("inf"), float("inf")) for name in RUNS}
    for _ in range(args.repeats):
        for name, protocols in RUNS.items():
            c0, w0 = time.process_time(), time.perf_counter()
            evaluate(backend, cases, protocols)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            best[name] = (min(best[name][0], cpu), min(best[name][1], wall))
    base_cpu, base_wall = best["teacher-forced"]
    print(f"model {args.model}, {len(cases)} cases, {n_probes} probes, batch {args.batch_size}, "
          f"best of {args.repeats}, 1 thread")
    print("| evaluation | protocols | CPU s | wall s | ratio to teacher-forced (CPU) |\n|---|---|---:|---:|---:|")
    for name, protocols in RUNS.items():
        cpu, wall = best[name]
        print(f"| {name} | {', '.join(protocols)} | {cpu:.2f} | {wall:.2f} | {cpu / base_cpu:.2f}x |")


if __name__ == "__main__":
    main()
