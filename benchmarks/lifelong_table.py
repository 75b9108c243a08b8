"""The lifelong table of docs/lifelong.md: each lifelong editor's first N edits of the 10,000-edit sequence.

    python benchmarks/lifelong_table.py --edits 1000 [--methods grace,lora,...] [--settings tuned|hand]
                                        [--out runs/lifelong-table] [--table-only] [--compact]

The sequence is `world_lifelong:medium:n=10000` (every fact of world:medium edited once, the edit language
cycling through the 12 languages, then 8,665 facts of new persons inserted one at a time). `--edits N` runs
its first N edits (`--limit N`, checkpoints at 100, 1,000 and 10,000 up to N): the first 1,000 edits of
the sequence are the same cases, retention samples and untouched facts whether the run stops there or goes
on, so a 1,000-edit run's checkpoints are a 10,000-edit run's first two.

Settings: `tuned` (default) is `--hparams configs/tuned-lifelong/world-medium.yaml`, the entry `polyedit tune
--objective lifelong` wrote for the editor; `hand` is `configs/lifelong/M.yaml` where it exists, else the
editor's class defaults. Edits per step: 100 for the batch editors (UltraEdit, AlphaEdit, MEMIT, the summed
control memit-sum), as their papers edit long sequences; 1 for the others.

A finished run (summary.json with its last checkpoint) is not run again; a stopped one is resumed. Runs go
one at a time, single-threaded; each command, wall and CPU seconds go to OUT/times.jsonl. The tables (only
runs that finished) are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capability_table import run  # one polyedit run, resumed if stopped, its times logged (same folder)

DATA = "world_lifelong:medium:n=10000"
TUNED = "configs/tuned-lifelong/world-medium.yaml"
#: edits per step: the batch editors edit in batches of 100, as their papers run long sequences
STEP = {"ultraedit": 100, "alphaedit": 100, "memit": 100, "memit-sum": 100}
METHODS = ["ultraedit", "wise", "grace", "alphaedit", "memit", "memit-sum", "lora", "ft-m"]
CHECKPOINTS = (100, 1000, 10000)
SCRIPTS = [("Latin", "Latin (en fr de it es pt pl)"), ("Cyrillic", "Cyrillic (ru)"), ("Han", "Han (zh)"),
           ("Japanese", "Japanese (ja)"), ("Hangul", "Hangul (ko)"), ("Thai", "Thai (th)")]
RESOURCE = [("high", "high-resource (11)"), ("medium", "medium-resource (th)")]


def hparams(method: str, settings: str) -> list[str]:
    if settings == "tuned":
        return ["--hparams", TUNED]
    hand = Path(f"configs/lifelong/{method}.yaml")
    return ["--hparams", str(hand)] if hand.exists() else []


def command(method: str, edits: int, settings: str, out: Path) -> list[str]:
    points = ",".join(str(c) for c in CHECKPOINTS if c <= edits)
    return ["polyedit", "bench", "--model", "world:medium", "--method", method, *hparams(method, settings),
            "--data", DATA, "--limit", str(edits), "--mode", "sequential", "--edits-per-step",
            str(STEP.get(method, 1)), "--checkpoints", points, "--edit-probes", "edit", "--protocols",
            "answer,answer_locality", "--recall-sample", "50", "--device", "cpu", "--no-log-samples",
            "--out", str(out)]


def points(folder: Path) -> list[dict]:
    path = folder / "summary.json"
    return (json.loads(path.read_text()).get("lifelong") or {}).get("checkpoints", []) if path.exists() else []


def finished(folder: Path, edits: int) -> bool:
    return any(p["after_edits"] == edits for p in points(folder))


def checkpoints(out: Path, edits: list[int], method: str):
    """`method`'s checkpoints from its runs of `edits` (longest first), each edit count once: a longer run's
    earlier checkpoints are a shorter run's."""
    seen = set()
    for n in edits:
        for p in points(out / str(n) / method):
            if p["after_edits"] not in seen:
                seen.add(p["after_edits"])
                yield p


def pct(entry: dict | None) -> str:
    if not entry:
        return "–"
    lo, hi = entry.get("ci95") or (None, None)
    return f"{100 * entry['mean']:.1f}" + (f" [{100 * lo:.1f}–{100 * hi:.1f}]" if lo is not None else "")


def group(entry: dict | None, grouping: str, name: str) -> dict | None:
    return ((entry or {}).get("groups") or {}).get(grouping, {}).get(name)


def cells(p: dict) -> tuple[dict | None, dict | None, str, str]:
    """What both tables show of a checkpoint: retention in the edit language and in all 12, the edit language's
    retention by segment, the state bytes (formatted)."""
    own, every = p.get("retention_edit_language"), p.get("retention")
    segs = " / ".join(pct(group(own, "segment", s)) for s in ("counterfactual", "insertion"))
    state = p.get("state_bytes")
    return own, every, segs, "–" if state is None else f"{state:,}"


def cost(p: dict) -> str:
    if p.get("cpu_seconds_per_edit") is None:
        return "–"
    w = p.get("window") or ["?", "?"]
    return f"{p['cpu_seconds_per_edit']:.3g} / {p['seconds_per_edit']:.3g} ({w[0]:,}–{w[1]:,})"


def tables(out: Path, edits: list[int], methods: list[str]) -> str:
    main = ["| method | edits | retention, edit language | retention, 12 languages | edit language: counterfactual "
            "/ insertion | recall of untouched facts | locality | CPU / wall s per edit (window) | state bytes |",
            "|---|---|---|---|---|---|---|---|---|"]
    groups = ["| method | edits | " + " | ".join(h for _, h in SCRIPTS + RESOURCE) + " |",
              "|---|---|" + "---|" * (len(SCRIPTS) + len(RESOURCE))]
    for method in methods:
        for p in checkpoints(out, edits, method):
            own, every, segs, state = cells(p)
            main.append(f"| {method} | {p['after_edits']} | {pct(own)} | {pct(every)} | {segs} | "
                        f"{pct(p.get('recall'))} | {pct(p.get('locality'))} | {cost(p)} | {state} |")
            groups.append(f"| {method} | {p['after_edits']} | "
                          + " | ".join(pct(group(every, "script", s)) for s, _ in SCRIPTS) + " | "
                          + " | ".join(pct(group(every, "resource", r)) for r, _ in RESOURCE) + " |")
    return "\n".join(main) + "\n\nRetention of the edits so far by the probe language's script and resource " \
                             "level, all 12 languages:\n\n" + "\n".join(groups)


def compact(out: Path, edits: list[int], methods: list[str]) -> str:
    """The README's table: one row per editor and checkpoint, the language groups by resource level."""
    rows = ["| editor (edits per step) | edits | retention, edit language | counterfactual / insertion | "
            "12 languages: high-resource (11) / th | recall of untouched facts | CPU s per edit | state bytes |",
            "|---|---|---|---|---|---|---|---|"]
    for method in methods:
        for p in checkpoints(out, edits, method):
            own, every, segs, state = cells(p)
            langs = " / ".join(pct(group(every, "resource", r)) for r, _ in RESOURCE)
            per_edit = p.get("cpu_seconds_per_edit")
            rows.append(f"| {method} ({STEP.get(method, 1)}) | {p['after_edits']:,} | {pct(own)} | {segs} | {langs} | "
                        f"{pct(p.get('recall'))} | {'–' if per_edit is None else f'{per_edit:.3g}'} | {state} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edits", type=int, default=1000, choices=CHECKPOINTS)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--settings", default="tuned", choices=["tuned", "hand"])
    ap.add_argument("--out", default="runs/lifelong-table")
    ap.add_argument("--table-only", action="store_true", help="print the tables of the finished runs")
    ap.add_argument("--compact", action="store_true", help="print the README's table (one per editor and checkpoint)")
    args = ap.parse_args()
    out, methods = Path(args.out) / args.settings, args.methods.split(",")
    if not args.table_only:
        for method in methods:
            folder = out / str(args.edits) / method
            if not finished(folder, args.edits):
                run(command(method, args.edits, args.settings, folder), folder, out / "times.jsonl")
    edits = sorted(CHECKPOINTS, reverse=True)
    print(compact(out, edits, methods) if args.compact else tables(out, edits, methods))


if __name__ == "__main__":
    main()
