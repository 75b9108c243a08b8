"""The capability table of docs/capability.md: what editing costs the model's other abilities, measured.

    python benchmarks/capability_table.py [--out runs/capability-table] [--rows single,seq100,seq1000]
                                          [--methods ft-m,lora,...] [--capability-limit 50] [--table-only]
                                          [--compact]

Every tuned weight editor of `world:medium` (its `editing.yaml` settings), and IKE/ReMaKE, whose model is
unchanged except through the prompt, run by `polyedit bench --capability world_knowledge,world_fluency`:

- `single`: the first 20 cases of the test split, each edit checked (`--capability-sample 20`) and restored;
  the row is the mean over the 20 edited models against the unedited one;
- `seq100`: 100 sequential edits of the test split, the edit language cycling through the 12 languages,
  checked after the 100th;
- `seq1000`: 1,000 sequential edits, likewise, checked after the 100th and the 1,000th; the test split holds
  395 distinct facts, so these are the first 1,000 of the whole world (dev and test), as docs/results.md's
  lifelong table does; each edit is scored right after it on its edit prompt only (`--edit-probes edit`,
  which changes no capability number: scoring never changes the model), not on its ~100 probes before
  and after, which would cost more than the edits.

Runs go one at a time, in the order of `--rows` (default: the 100 sequential edits, the cheapest row
that moves the model most, first), each over `--methods`; a finished run (summary.json with a
capability section) is not run again, so the script resumes where it was stopped. Each run's command,
wall and CPU seconds go to OUT/times.jsonl; the table (only cells some run measured) is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

TASKS = "world_knowledge,world_fluency"
#: the weight editors `polyedit tune` tuned on world:medium (its editing.yaml), then the prompt-only ones
WEIGHT_EDITORS = ["ft-m", "memit", "alphaedit", "grace", "rome", "lora", "ft-l", "emmet", "langedit", "kn",
                  "memla", "memla-random", "memla-lora", "memla-specific", "memla-independent"]
IN_CONTEXT = ["ike", "remake"]
TEST = "world:medium:split=test"
ROWS = {
    "single": ["--data", TEST, "--limit", "20", "--capability-sample", "20"],
    "seq100": ["--data", f"{TEST}:edit_lang=all:mix=cycle", "--limit", "100", "--mode", "sequential",
               "--checkpoints", "100", "--retention-sample", "50", "--recall-sample", "20"],
    "seq1000": ["--data", "world:medium:edit_lang=all:mix=cycle", "--limit", "1000", "--mode", "sequential",
                "--checkpoints", "100,1000", "--retention-sample", "50", "--recall-sample", "20",
                "--edit-probes", "edit"],
}
#: what a prompt-only method is checked with: its model never changes, so two checks show it
IN_CONTEXT_SINGLE = ["--data", TEST, "--limit", "20", "--capability-sample", "2"]


def command(row: str, method: str, out: Path, limit: int) -> list[str]:
    args = IN_CONTEXT_SINGLE if method in IN_CONTEXT else ROWS[row]
    return ["polyedit", "bench", "--model", "world:medium", "--method", method, *args, "--capability", TASKS,
            "--capability-limit", str(limit), "--device", "cpu", "--no-log-samples", "--out", str(out)]


def finished(folder: Path) -> bool:
    path = folder / "summary.json"
    return path.exists() and bool((json.loads(path.read_text()).get("capability") or {}).get("points"))


def run(cmd: list[str], folder: Path, times: Path) -> None:
    """`cmd` (a `polyedit ...` command) single-threaded, resumed if `folder` exists; its command, exit code,
    wall and CPU seconds appended to `times`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "polyedit.cli.main", *cmd[1:], *(["--resume"] if folder.exists() else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.log", "w") as log:
        rc = subprocess.call(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = {"command": shlex.join(cmd), "rc": rc, "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)}
    with open(times, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


def signed(x: float, sign: str = "+") -> str:
    return f"{x:{sign}.3f}".replace("-", "−")  # the minus sign of the docs' tables


def change(entry: dict) -> str:
    ci = entry.get("ci95")
    return signed(entry["diff"]) + (f" [{signed(ci[0])}, {signed(ci[1])}]" if ci else "")


def cell(entry: dict | None) -> str:
    if not entry:
        return "not measured"
    return f"{signed(entry['before'], '')} → {signed(entry['after'], '')}, {change(entry)}"


def checks(summary: dict) -> list[tuple[str, dict]]:
    """(what, tasks) per reported comparison: the mean over sampled edits, or each sequential checkpoint."""
    cap = summary["capability"]
    if cap.get("mean_over_points"):
        return [(f"mean over {cap['mean_over_points']['points']} edits", cap["mean_over_points"]["tasks"])]
    return [(p["point"], p["tasks"]) for p in cap["points"]]


def table(out: Path, rows: list[str], methods: list[str]) -> str:
    lines = ["| editor | run | check | `world_knowledge` `acc` | `world_fluency` `logprob_per_char` |",
             "|---|---|---|---|---|"]
    for method in methods:
        for row in (["single"] if method in IN_CONTEXT else rows):
            folder = out / row / method
            if not finished(folder):
                lines.append(f"| {method} | {row} | – | not measured | not measured |")
                continue
            for what, tasks in checks(json.loads((folder / "summary.json").read_text())):
                know = tasks.get("world_knowledge", {}).get("metrics", {}).get("acc")
                flu = tasks.get("world_fluency", {}).get("metrics", {}).get("logprob_per_char")
                lines.append(f"| {method} | {row} | {what} | {cell(know)} | {cell(flu)} |")
    return "\n".join(lines)


def compact(out: Path, methods: list[str]) -> str:
    """The README's table: per editor, the change of `world_knowledge` `acc` (after - before, [95% interval])
    after single edits (the mean over the checked edits), and at the last check of the 100- and 1,000-edit
    sequences; a prompt-only editor's weights never change, so only its single row is run."""
    head = ["| editor | single edits (mean of 20) | 100 sequential | 1,000 sequential |", "|---|---|---|---|"]
    rows = []
    for method in methods:
        cells = []
        for row in ROWS:
            folder = out / row / method
            if method in IN_CONTEXT and row != "single":
                cells.append("weights unchanged")
            elif not finished(folder):
                cells.append("not measured")
            else:
                _, tasks = checks(json.loads((folder / "summary.json").read_text()))[-1]
                entry = tasks.get("world_knowledge", {}).get("metrics", {}).get("acc")
                cells.append(change(entry) if entry else "not measured")
        rows.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(head + rows)


def plan(rows: list[str], methods: list[str]) -> list[tuple[str, str]]:
    """The rows in the order of `--rows` (each over every editor of `--methods`); a prompt-only method only
    in single mode."""
    return [(row, m) for row in rows for m in methods if m not in IN_CONTEXT or row == "single"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/capability-table")
    ap.add_argument("--rows", default="seq100,single,seq1000")
    ap.add_argument("--methods", default=",".join(WEIGHT_EDITORS + IN_CONTEXT))
    ap.add_argument("--capability-limit", type=int, default=50, help="examples per task and language")
    ap.add_argument("--table-only", action="store_true", help="print the table of the finished runs")
    ap.add_argument("--compact", action="store_true", help="print the README's table (world_knowledge only)")
    args = ap.parse_args()
    out, rows, methods = Path(args.out), args.rows.split(","), args.methods.split(",")
    if not args.table_only:
        for row, method in plan(rows, methods):
            folder = out / row / method
            if not finished(folder):
                run(command(row, method, folder, args.capability_limit), folder, out / "times.jsonl")
    print(compact(out, methods) if args.compact else table(out, rows, methods))


if __name__ == "__main__":
    main()
