"""Lifelong runs side by side: for every two sequential runs with checkpoints that made the same edits and
asked the same untouched facts, A − B in retention, recall and locality at each checkpoint both recorded,
with a paired bootstrap interval over the cases both scored (`uncertainty.paired_bootstrap` on the
(case, language, value) rows of their checkpoints.jsonl, the same draws for both runs).

Two runs are comparable when their checkpoints asked the same questions after the same edits: the same
model, data spec and probe languages, the same edited cases in the same order (run.json's `cases`), the
same checkpoints, the same untouched facts (`lifelong.settings.untouched_ids`) and the same retention
sample (its size, and the run seed that draws it). Any other pair is not paired; the report names the
first difference found. Like the tuning comparison (`tuning.py`), a pair is a dict with `why_not` (None
when compared) and its differences.
"""

from __future__ import annotations

import itertools

from polyedit.evaluation.lifelong import MEASURES
from polyedit.evaluation.uncertainty import paired_bootstrap
from polyedit.reports.collect import Run
from polyedit.reports.numbers import interval, pct


def settings(run: Run) -> dict:
    """The run's lifelong settings: summary.json's, else run.json's (both are written by the runner)."""
    return (run.summary.get("lifelong") or {}).get("settings") or run.extra.get("lifelong") or {}


def is_lifelong(run: Run) -> bool:
    return bool((run.summary.get("lifelong") or {}).get("checkpoints"))


#: what two runs must share to be paired: (the difference the report names, how a run records it)
SAME = (("model", lambda r: r.config.get("model")),
        ("data", lambda r: r.config.get("data")),
        ("probe languages", lambda r: r.config.get("langs")),
        ("edited cases", lambda r: r.extra.get("cases")),
        ("checkpoints", lambda r: settings(r).get("checkpoints")),
        ("untouched facts", lambda r: settings(r).get("untouched_ids")),
        ("retention sample", lambda r: settings(r).get("retention_sample")),
        ("seed", lambda r: r.config.get("seed")))


def comparable(a: Run, b: Run) -> str | None:
    """Why a and b are not paired (None: they are)."""
    for r in (a, b):
        if not r.checkpoints:
            return f"{r.dir.name} has no checkpoints.jsonl rows"
        if r.extra.get("cases") is None or settings(r).get("untouched_ids") is None:
            return f"{r.dir.name} does not record its edited cases and untouched facts"
    for what, get in SAME:
        if get(a) != get(b):
            return f"different {what}"
    return None


def checkpoint_differences(rows_a: list[dict], rows_b: list[dict]) -> list[dict]:
    """Per checkpoint both recorded and per measure: A − B over the shared cases (`paired_bootstrap`),
    labelled with the measure's metric and protocol."""
    by_a = {r["after_edits"]: r for r in rows_a}
    by_b = {r["after_edits"]: r for r in rows_b}
    out = []
    for n in sorted(set(by_a) & set(by_b)):
        point = {"after_edits": n}
        for name, protocol, metric in MEASURES:
            a = [tuple(x) for x in by_a[n].get(name) or []]
            b = [tuple(x) for x in by_b[n].get(name) or []]
            if {r[0] for r in a} & {r[0] for r in b}:  # a measure without shared cases has no difference
                point[name] = {"metric": metric, "protocol": protocol, **paired_bootstrap(a, b)}
        out.append(point)
    return out


def label(run: Run, runs: list[Run]) -> str:
    twins = [r for r in runs if r.label == run.label]
    return run.label + (f" [{run.dir.name}]" if len(twins) > 1 else "")


def differences(runs: list[Run]) -> list[dict]:
    """Every two lifelong runs, ordered by method name (then label and folder): A − B where comparable."""
    life = sorted((r for r in runs if is_lifelong(r)),  # the name before twins got their folder's: a stable order
                  key=lambda r: (r.method, r.cache.get("base_label", r.label), str(r.dir)))
    out = []
    for a, b in itertools.combinations(life, 2):
        row = {"a": label(a, life), "b": label(b, life), "a_dir": str(a.dir), "b_dir": str(b.dir),
               "why_not": comparable(a, b), "checkpoints": []}
        if row["why_not"] is None:
            row["checkpoints"] = checkpoint_differences(a.checkpoints, b.checkpoints)
            if not row["checkpoints"]:
                row["why_not"] = "no checkpoint in both checkpoints.jsonl"
        out.append(row)
    return out


DIFF_HEADER = ["A − B", "after edits", "measure", "protocol (metric)", "A − B, points [95% CI]", "p (bootstrap)",
               "shared cases"]


def difference_rows(diffs: list[dict]) -> list[list[str]]:
    rows = []
    for d in diffs:
        for point in d["checkpoints"] if d["why_not"] is None else []:
            for name, _, _ in MEASURES:
                m = point.get(name)
                if m:
                    rows.append([f"{d['a']} − {d['b']}", str(point["after_edits"]), name,
                                 f"{m['protocol']} ({m['metric']})", f"{pct(m['diff'])} {interval(m['ci95'])}",
                                 f"{m['p_value']:.3f}", str(m["n_cases"])])
    return rows


def unpaired(diffs: list[dict]) -> str | None:
    """One line: the pairs left unpaired and why."""
    left = [f"{d['a']} − {d['b']} ({d['why_not']})" for d in diffs if d["why_not"]]
    return "Not paired: " + "; ".join(left) + "." if left else None


def explanation(diffs: list[dict]) -> str:
    method = next((m["method"] for d in diffs for p in d["checkpoints"] for name, _, _ in MEASURES
                   for m in [p.get(name)] if m), None)
    protocols = "; ".join(f"{name}: protocol {protocol}, {metric}" for name, protocol, metric in MEASURES)
    return ("A − B at each checkpoint both runs recorded, in percentage points of the mean over languages, over "
            f"the cases both scored; {protocols}. Runs are paired only when they made the same edits (model, "
            "data, edited cases, checkpoints) and asked the same untouched facts with the same retention sample "
            "and seed." + (f" Intervals: {method}; p: the two-sided bootstrap p-value." if method else ""))
