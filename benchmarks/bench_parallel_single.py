"""Single-mode edits one at a time vs `--parallel-edits K`, in one run of this script.

    python benchmarks/bench_parallel_single.py [--cases 100] [--methods rome,lora] [--parallel 32]
                                               [--model world:medium] [--device cpu]

For each method: `bench --mode single` on the first N cases of the model's world test split (the model's
editing.yaml settings), once one edit at a time and once with K edits scored together (each batch row under
its own edit, `polyedit.evaluation.parallel`). By default both runs score the unedited model themselves (no
pre-edit cache); with `--pre-cache warm` an untimed first pass fills a fresh cache that both runs then read,
so only editing and the edited models' scoring are timed (a study's steady state). Prints each run's CPU seconds
(this process, user + system) and wall seconds, their ratios, where the time went (editing / scoring), and
checks that every metric of every probe (before and after) agrees within 1e-5 and every generated answer
(samples.jsonl) is identical; exits 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TOLERANCE = 1e-5


def run(lm, method: str, data: str, out: Path, cases: int, parallel, batch_size, cache: bool = False,
        dataset=None) -> dict:
    """One `bench` run, timed (the dataset loaded before: building world:medium's cases is the same in both)."""
    import polyedit as pe

    dataset = dataset if dataset is not None else pe.load_dataset(data)
    cpu, wall = time.process_time(), time.perf_counter()
    pe.bench(lm, method, data, out, limit=cases, progress=False, cache=cache, parallel_edits=parallel,
             eval_batch_size=batch_size, dataset=dataset)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    records = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text("utf-8").splitlines()]
    return {"cpu": cpu, "wall": wall, "records": records, "samples": samples,
            "edit": sum(r["seconds_per_edit"] for r in records)}


def differences(a: dict, b: dict) -> tuple[float, int, int]:
    """(largest metric difference, metrics that differ by more than TOLERANCE, generated answers that differ)."""
    worst, over = 0.0, 0
    for ra, rb in zip(a["records"], b["records"], strict=True):
        assert ra["case_id"] == rb["case_id"]
        for pa, pb in zip(ra["probes"], rb["probes"], strict=True):
            for phase in ("pre", "post"):
                assert pa[phase].keys() == pb[phase].keys()
                for m, x in pa[phase].items():
                    y = pb[phase][m]
                    d = 0.0 if x == y else abs(x - y) if None not in (x, y) else float("inf")
                    worst, over = max(worst, d), over + (d > TOLERANCE)
    texts = 0
    for sa, sb in zip(a["samples"], b["samples"], strict=True):
        texts += {k: v for k, v in sa.items() if k not in ("pre", "post")} != \
            {k: v for k, v in sb.items() if k not in ("pre", "post")}
        texts += _outputs(sa) != _outputs(sb)
    return worst, over, texts


def _outputs(sample: dict) -> list:
    """The texts a sample's model generated, before and after the edit."""
    return [sample[p].get("generated") if isinstance(sample.get(p), dict) else None for p in ("pre", "post")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:medium")
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--methods", default="rome,lora")
    ap.add_argument("--parallel", default="32", help="K, or auto")
    ap.add_argument("--batch-size", default="32", help="evaluation batch size (rows per forward), or auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--pre-cache", choices=["off", "warm"], default="off")
    args = ap.parse_args()
    import torch

    import polyedit as pe

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    lm = pe.load_model(args.model, device=args.device)
    data = f"{args.model}:split=test"
    parallel = args.parallel if args.parallel == "auto" else int(args.parallel)
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    print(f"{args.cases} single edits per method on {data}, {lm.device}, {torch.get_num_threads()} thread(s); "
          f"parallel: K = {parallel}, evaluation batch {batch}; pre-edit cache {args.pre_cache}", flush=True)
    ok = True
    warm = args.pre_cache == "warm"
    dataset = pe.load_dataset(data)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POLYEDIT_CACHE_DIR"] = str(Path(tmp, "cache"))  # never the user's own cache
        for method in args.methods.split(","):
            if warm:  # fills the cache with the unedited model's results (not timed)
                run(lm, method, data, Path(tmp, method, "warm"), args.cases, parallel, batch, True, dataset)
            one = run(lm, method, data, Path(tmp, method, "one"), args.cases, 1, batch, warm, dataset)
            par = run(lm, method, data, Path(tmp, method, "parallel"), args.cases, parallel, batch, warm, dataset)
            worst, over, texts = differences(one, par)
            ok &= over == 0 and texts == 0
            print(f"{method}:")
            for name, r in (("one at a time", one), ("parallel", par)):
                print(f"  {name:14s} {r['cpu']:8.1f} CPU s {r['wall']:8.1f} wall s  (editing {r['edit']:7.1f} s, "
                      f"the rest {r['wall'] - r['edit']:7.1f} s)")
            rest = (one['wall'] - one['edit']) / (par['wall'] - par['edit'])
            print(f"  ratio: {one['cpu'] / par['cpu']:.2f}x less CPU, {one['wall'] / par['wall']:.2f}x less wall; "
                  f"scoring alone (wall minus editing): {rest:.2f}x")
            print(f"  largest metric difference {worst:.2e}; metrics over {TOLERANCE:g}: {over}; "
                  f"generated answers that differ: {texts}", flush=True)
    print("identical: " + ("yes" if ok else "NO"))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
