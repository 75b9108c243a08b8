"""Wall time of one `polyedit tune` trial per weight-editing method, in one run, to size a search's budget.

    python benchmarks/bench_tune_trial.py [--model world:medium] [--data world:medium] [--cases 3]
        [--trials 2] [--methods ft-l,ft-m,...] [--out DIR]

For each method, a search of `--trials` trials on the first `--cases` dev cases (every probe language),
exactly as `polyedit tune` runs it (one model loaded for all methods). Prints each trial's seconds, the
seconds per case of the last trial (the first may include one-off work such as ROME's and MEMIT's second
moments, cached after), and the ratio to the first method. A budget of T trials x N cases then costs
about T x N x (seconds per case).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from polyedit.methods.base import METHODS, method_names
from polyedit.models.load import load_model
from polyedit.tune.config import TuneConfig
from polyedit.tune.study import run_tune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:medium")
    ap.add_argument("--data", default="world:medium")
    ap.add_argument("--cases", type=int, default=3)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--methods", default=",".join(n for n in method_names() if not METHODS.get(n).edits_in_context))
    ap.add_argument("--out", default=None, help="keep the searches here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    root = Path(args.out or tempfile.mkdtemp(prefix="polyedit-tune-timing-"))
    rows = []
    for name in args.methods.split(","):
        cfg = TuneConfig(model=args.model, method=name, data=args.data, trials=args.trials, cases=args.cases)
        t0 = time.perf_counter()
        run_tune(cfg, root / name, lm=lm, progress=False)
        total = time.perf_counter() - t0
        trials = json.loads((root / name / "trials.json").read_text())
        secs = [t["seconds"] for t in trials]
        last = secs[-1] / args.cases
        rows.append((name, secs, last, total, sum(t["state"] == "FAIL" for t in trials)))
        print(f"{name:18s} trials {', '.join(f'{s:.1f}' for s in secs)} s; last trial {last:.2f} s/case; "
              f"search {total:.1f} s", flush=True)
    base = rows[0][2]
    print(f"\n{args.model}, dev split, {args.cases} cases per trial, every probe language, "
          f"{args.threads} torch thread(s); seconds per case of the last trial, ratio to {rows[0][0]}:")
    for name, _, last, _, failed in rows:
        print(f"  {name:18s} {last:7.2f} s/case  x{last / base:5.2f}" + (f"  ({failed} failed)" if failed else ""))


if __name__ == "__main__":
    main()
