"""Seconds per edit and peak memory of each baseline editor, single and batched (MEMIT with 1, 10, 100 edits).

    python benchmarks/bench_methods.py [--model world:small] [--data world:small] [--edits 10] [--threads 1]
                                       [--defaults]

Each configuration runs in two fresh child processes. The first times it: one untimed edit fills what a
session computes once (the second moment C of ROME/MEMIT, cached on disk; the context prefixes), then
"single" applies and restores `--edits` edits one at a time and "batch k" applies k edits in one call. The
second measures its peak memory with no edit before it (a warm-up edit of the same kind would already have
raised the high-water mark, and the measured edit would read 0): on CPU the peak resident set size above
the resident size once the model is loaded (the kernel's high-water mark VmHWM, reset to the current size
after loading through /proc/self/clear_refs, so that the loading's own peak does not hide the edit's), on
CUDA `torch.cuda.max_memory_allocated`; C comes from the disk cache the first child filled, the prefixes
are generated in it. Hyperparameters: the model's recommended ones (its `editing.yaml`: FT-L, ROME, MEMIT
on world:small), else its defaults (`--defaults`: defaults for all). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = [("ft-l", 1), ("ft-l", 10), ("ft-m", 1), ("ft-m", 10), ("lora", 1), ("lora", 10), ("rome", 1),
           ("memit", 1), ("memit", 10), ("memit", 100), ("kn", 1), ("memla", 1)]


EXTRA_LANGS = ("de", "fr", "es")


def status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit(f"/proc/self/status has no {field}: this script measures memory on Linux")


def reset_peak() -> float:
    """Reset the high-water mark to the current resident size (Linux >= 4.0) and return that size."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def run_one(args) -> dict:
    """One configuration in this (fresh) process: `--one METHOD:BATCH:time` or `METHOD:BATCH:memory`."""
    import torch

    from polyedit.data.registry import load_dataset
    from polyedit.methods import get_method
    from polyedit.models.load import load_model

    torch.set_num_threads(args.threads)
    method, batch, phase = args.one.split(":")
    batch = int(batch)
    lm = load_model(args.model, device=args.device)
    edits = load_dataset(args.data).cases  # whole cases: MEMLA reads the edit's other languages
    for lang in EXTRA_LANGS:  # a small world has too few cases for 100 edits: the same facts edited in more languages
        if len(edits) > 101 or not args.data.startswith("world"):
            break
        edits += load_dataset(f"{args.data}:edit_lang={lang}").cases
    n = max(batch, args.edits if batch == 1 else batch)
    if len(edits) < n + 1:
        raise SystemExit(f"{args.data} has {len(edits)} cases; {n + 1} needed")
    m = get_method(method) if args.defaults else get_method(method, None, lm)  # lm: the model's editing.yaml

    def edit_all():
        if batch == 1:
            for e in edits[:n]:
                m.apply_cases(lm, [e]).restore()
        else:
            m.apply_cases(lm, edits[:n]).restore()

    if phase == "memory":
        base = reset_peak()
        if lm.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        edit_all()
        peak = (torch.cuda.max_memory_allocated() / 2**20) if lm.device.type == "cuda" else status_mb("VmHWM") - base
        return {"peak_mb": peak, "model_rss_mb": base}
    t0 = time.perf_counter()
    m.apply_cases(lm, [edits[-1]]).restore()  # warm-up: C, prefixes
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    edit_all()
    seconds = time.perf_counter() - t0
    return {"method": method, "batch": batch, "edits": n, "seconds_per_edit": seconds / n, "warmup_s": warm_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--data", default="world:small")
    ap.add_argument("--edits", type=int, default=10, help="edits timed in single mode")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated methods")
    ap.add_argument("--defaults", action="store_true", help="class defaults, not the model's editing.yaml")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # METHOD:BATCH:PHASE, in the child
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args)))
        return
    rows = []
    for method, batch in CONFIGS:
        if args.only and method not in args.only.split(","):
            continue
        row = {}
        for phase in ("time", "memory"):  # time first: it fills the disk cache of C the memory child reads
            cmd = [sys.executable, __file__, "--one", f"{method}:{batch}:{phase}", "--model", args.model,
                   "--data", args.data, "--edits", str(args.edits), "--device", args.device,
                   "--threads", str(args.threads)]
            cmd += ["--defaults"] if args.defaults else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{method} batch {batch} ({phase}): failed\n{done.stderr[-2000:]}", file=sys.stderr)
                break
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            rows.append(row)
    kind = "GPU peak MiB" if args.device.startswith("cuda") else "peak RSS over model, MiB"
    print(f"\n{args.model}, {args.device}, {args.threads} thread(s), "
          + ("default hyperparameters" if args.defaults else "the model's editing.yaml where present") + "\n")
    print(f"| method | edits per call | edits timed | s / edit | {kind} | warm-up s (C, prefixes) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['batch']} | {r['edits']} | {r['seconds_per_edit']:.3f} | {r['peak_mb']:.0f} | "
              f"{r['warmup_s']:.2f} |")


if __name__ == "__main__":
    main()
