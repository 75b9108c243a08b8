"""Paired comparisons of any two runs on the same cases: A − B in each probe kind's headline metric, over all
probe languages and in each one, with a paired bootstrap interval over the cases both scored
(`uncertainty.paired_bootstrap`: the same resampled cases for both runs, so the interval reflects only how
the runs differ on them).

Two runs are paired when they asked the same questions: the same data spec, the same edited cases (run.json's
`cases`) and the same probe languages. Any other pair is not, and a run without a partner is named with the
first difference from the nearest run (the same dataset first), in one line.
"""

from __future__ import annotations

import itertools

from polyedit.evaluation.aggregate import rows as flat_rows
from polyedit.evaluation.uncertainty import paired_bootstrap
from polyedit.reports.collect import Run, headline_metric, records
from polyedit.reports.specs import display_spec
from polyedit.reports.leaderboard import kinds_of
from polyedit.reports.numbers import pct
from polyedit.reports.tables import Table

ALL = "all languages"

#: what two runs must share to be paired: (the difference named, how a run records it)
SAME = (("data", lambda r: r.data),
        ("cases", lambda r: sorted(r.extra.get("cases") or [])),
        ("probe languages", lambda r: sorted(r.config.get("langs") or [])))


def why_not(a: Run, b: Run) -> str | None:
    """Why a and b are not paired (None: they are)."""
    for r in (a, b):
        if not r.extra.get("cases"):
            return f"{r.label} does not record its cases"
    for what, get in SAME:
        if get(a) != get(b):
            return f"different {what}"
    return None


def _values(run: Run, kind: str, metric: str) -> list[tuple[str, str, float]]:
    """(case, language, post-edit value) rows; flattened once per run, as every pair of it needs them."""
    if "post_rows" not in run.cache:
        table: dict[tuple[str, str], list] = {}
        for r in flat_rows(records(run)):
            if r["post"] is not None:
                table.setdefault((r["kind"], r["metric"]), []).append((r["case_id"], r["lang"], float(r["post"])))
        run.cache["post_rows"] = table
    return run.cache["post_rows"].get((kind, metric), [])


def compare(a: Run, b: Run) -> dict:
    """{kind: {"metric", language or ALL: paired_bootstrap(...)}} for the kinds both scored with one metric."""
    out = {}
    for kind in kinds_of([a, b]):
        metric = headline_metric(a, kind)
        if metric is None or metric != headline_metric(b, kind):
            continue
        va, vb = _values(a, kind, metric), _values(b, kind, metric)
        if not {x[0] for x in va} & {x[0] for x in vb}:
            continue
        per = {ALL: paired_bootstrap(va, vb)}
        for lang in sorted({x[1] for x in va} & {x[1] for x in vb}):
            per[lang] = paired_bootstrap([x for x in va if x[1] == lang], [x for x in vb if x[1] == lang])
        out[kind] = {"metric": metric, **per}
    return out


def pairs(runs: list[Run]) -> list[dict]:
    """Every two runs that can be paired, in report order: {a, b, data, differences}."""
    out = []
    for a, b in itertools.combinations(runs, 2):
        if why_not(a, b) is None and (diff := compare(a, b)):
            out.append({"a": a.label, "b": b.label, "a_dir": str(a.dir), "b_dir": str(b.dir),
                        "data": display_spec(a.data), "differences": diff})
    return out


def unpaired(runs: list[Run], found: list[dict]) -> list[str]:
    """One line per run that no other run pairs with, naming the difference from the nearest run."""
    paired = {d[k] for d in found for k in ("a_dir", "b_dir")}
    lines = []
    for r in runs:
        if str(r.dir) in paired or len(runs) < 2:
            continue
        others = sorted((o for o in runs if o is not r), key=lambda o: o.family != r.family)
        reason = why_not(r, others[0]) or "no headline metric scored by both"
        lines.append(f"{r.label} on {display_spec(r.data)}: not paired with any run (nearest, {others[0].label}: "
                     f"{reason}).")
    return lines


def summary_table(found: list[dict]) -> Table:
    kinds = list(dict.fromkeys(k for d in found for k in d["differences"]))
    rows = []
    for d in found:
        first = next(iter(d["differences"].values()))
        rows.append([f"{d['a']} − {d['b']}", d["data"], str(first[ALL]["n_cases"])]
                    + [_cell(d["differences"][k][ALL]) if k in d["differences"] else None for k in kinds])
    return Table("paired", "Paired differences, all probe languages", ["A − B", "data", "shared cases"] + kinds,
                 rows, "A − B in percentage points of the post-edit headline metric (mean over languages), "
                       "[95% paired bootstrap interval over the shared cases].")


def pair_table(d: dict, index: int) -> Table:
    """One pair: a row per language (all languages first), a column per probe kind, with p-values."""
    kinds = list(d["differences"])
    langs = list(dict.fromkeys(lang for k in kinds for lang in d["differences"][k] if lang != "metric"))
    rows = [[lang] + [c for k in kinds for c in _cells(d["differences"][k].get(lang))] for lang in langs]
    header = ["language"] + [h for k in kinds for h in (f"{k} ({d['differences'][k]['metric']}) A − B", f"{k} p")]
    return Table(f"paired-{index}", f"{d['a']} − {d['b']} on {d['data']}", header, rows,
                 "Percentage points, [95% paired bootstrap interval over shared cases]; p: two-sided bootstrap p-value.")


def _cell(e: dict) -> dict:
    return {"post": e["diff"], "ci95": e["ci95"]}


def _cells(e: dict | None) -> list:
    return [_cell(e), f"{e['p_value']:.3f}"] if e else [None, None]


def diff_text(e: dict) -> str:
    return f"{pct(e['diff'])} [{pct(e['ci95'][0])}, {pct(e['ci95'][1])}]"
