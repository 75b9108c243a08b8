"""Wall time of one sweep on a local Ray cluster with 1 and with 2 workers, and the ratio.

    PYTHONPATH=src python benchmarks/bench_sweep.py [--limit 4] [--shard-size 2] [--cpus 2] [--steps 10]

The grid is the issue's: ft-m and lora x world:small and world:small:edit_lang=de x probes in en, de, fr,
`--limit` cases per cell. One cluster (`--cpus` CPUs, loopback, no dashboard) serves both runs; each run
starts its own actors (so model loading is inside the time, as in a real sweep) and writes a fresh folder.
Both runs' numbers are checked equal before the times are printed. The time to start the actors (a process
each, importing torch, loading the model) is printed apart from the time running the shards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def grid(folder: Path, workers: int, limit: int, shard_size: int, steps: int) -> Path:
    (folder / "ftm.yaml").write_text(json.dumps({"lr": 0.02, "steps": steps}))
    (folder / "lora.yaml").write_text(json.dumps({"lr": 0.01, "steps": steps}))
    doc = {"models": ["world:small"],
           "methods": [{"name": "ft-m", "hparams": "ftm.yaml"}, {"name": "lora", "hparams": "lora.yaml"}],
           "datasets": ["world:small", "world:small:edit_lang=de"], "langs": ["en", "de", "fr"],
           "limit": limit, "shard_size": shard_size, "resources": {"workers": workers, "cpus_per_worker": 1}}
    (folder / f"sweep{workers}.yaml").write_text(json.dumps(doc))
    return folder / f"sweep{workers}.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--shard-size", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="optimisation steps per edit (ft-m and lora)")
    args = ap.parse_args()

    import ray

    from polyedit.sweep import load_sweep
    from polyedit.sweep.ray_runner import init_ray, make_actors, run_ray

    init_ray(None, num_cpus=args.cpus)
    times, startup, results = {}, {}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 2):
                sweep = load_sweep(grid(Path(tmp), workers, args.limit, args.shard_size, args.steps))
                t0 = time.perf_counter()
                actors = make_actors(sweep)
                ray.get([a.warm.remote("world:small") for a in actors])  # processes up, model loaded
                ready = time.perf_counter() - t0
                summaries = run_ray(sweep, Path(tmp) / f"out{workers}", progress=False, actors=actors)
                times[workers] = time.perf_counter() - t0
                startup[workers] = ready
                for a in actors:
                    ray.kill(a)
                results[workers] = {k: {kind: m["post"] for kind, m in s["mean"].items()} for k, s in summaries.items()}
    finally:
        ray.shutdown()
    assert results[1] == results[2], "1 and 2 workers gave different numbers"
    print(f"sweep: 2 methods x 2 datasets x 3 languages, {args.limit} cases per cell ({4 * args.limit} edits), "
          f"shards of {args.shard_size}, Ray cluster of {args.cpus} CPUs")
    print("| workers | wall s | starting the actors and loading the model | running the shards | edits/s while running |")
    print("|---|---|---|---|---|")
    for w, t in times.items():
        print(f"| {w} | {t:.1f} | {startup[w]:.1f} | {t - startup[w]:.1f} | {4 * args.limit / (t - startup[w]):.2f} |")
    run1, run2 = times[1] - startup[1], times[2] - startup[2]
    print(f"speed-up, 2 workers over 1: {times[1] / times[2]:.2f}x in all, {run1 / run2:.2f}x running the shards "
          "(numbers identical: yes)")


if __name__ == "__main__":
    main()
