"""`make demo`'s runs with and without the shared pre-edit cache, in one run of this script.

    python benchmarks/bench_pre_cache.py [--cases 30] [--methods a,b,...] [--threads 1]

Runs `polyedit demo` twice, each in a process of its own: once with `--no-cache` (every method scores the
unedited model itself, as before the cache) and once with the cache in an empty folder (the first method
scores the unedited model and stores it; every later method, and the heatmap's runs, read it). Prints the
CPU seconds (user + system of the child) and wall seconds of each, their ratios, and whether the two
demos' summaries are identical (every number but timings and the cache's own counters).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARYING = ("second", "pre_edit_cache", "wall")  # keys that are timings or the cache's own counters


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if not any(w in k for w in VARYING)}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def run_demo(out: Path, args, extra: list[str], env: dict) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "polyedit.cli.main", "demo", "--out", str(out), "--cases", str(args.cases), *extra]
    if args.methods:
        cmd += ["--methods", args.methods]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--methods", default=None, help="comma-separated (default: the demo's, every method)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each demo (OMP_NUM_THREADS)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "POLYEDIT_CACHE_DIR": str(tmp / "cache")}
        cpu_off, wall_off = run_demo(tmp / "off", args, ["--no-cache"], env)
        cpu_on, wall_on = run_demo(tmp / "on", args, [], env)
        same = (strip(json.loads((tmp / "off" / "summaries.json").read_text("utf-8")))
                == strip(json.loads((tmp / "on" / "summaries.json").read_text("utf-8"))))
    print(f"demo ({args.cases} cases, methods: {args.methods or 'every'}; {args.threads} thread(s))")
    print(f"  without the cache: {cpu_off:8.1f} CPU s  {wall_off:8.1f} wall s")
    print(f"  with the cache:    {cpu_on:8.1f} CPU s  {wall_on:8.1f} wall s")
    print(f"  ratio: {cpu_off / cpu_on:.2f}x less CPU, {wall_off / wall_on:.2f}x less wall")
    print(f"  summaries identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
