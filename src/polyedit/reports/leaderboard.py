"""The leaderboard in the field's shape: per dataset, for each run (method and model) and its edit language,
each probe kind's headline metric in the edit language, as the mean over the other probe languages (the
cross-lingual number BMIKE-53 and MLaKE report) and as the mean over all probe languages, each post-edit with
its 95% interval and the pre-edit value.

The numbers are the run's summary.json (`evaluation.aggregate`): the edit language's per-language entry,
`mean_excluding_edit_language` and `mean`. A run whose edits were made in several languages has no single
edit-language entry there; its edit-language cell is recomputed from results.jsonl (each probe in its own
case's edit language, the same bootstrap over cases, `evaluation.uncertainty`).
"""

from __future__ import annotations

from polyedit.data.cases import PROBE_KINDS
from polyedit.evaluation.aggregate import rows as flat_rows
from polyedit.evaluation.uncertainty import bootstrap_ci, macro_mean
from polyedit.reports import capability
from polyedit.reports.collect import (Run, edit_languages_of, headline_metric, language_entry, mean_entry,
                                      records)
from polyedit.reports.specs import display_spec
from polyedit.reports.tables import Table

GROUPS = ("script", "family", "resource")  # the languages' attributes summary.json groups by (data/languages)
SCOPES = (("edit", "edit language"), ("other", "other languages"), ("all", "all languages"))
CAPABILITY = "capability"  # the heading over the lm-eval tasks' columns (`reports.capability`)


def kinds_of(runs: list[Run]) -> list[str]:
    return [k for k in PROBE_KINDS if any(mean_entry(r, k) for r in runs)]


def _estimate(e: dict | None) -> dict | None:
    if not e or e.get("post") is None:
        return None
    out = {"post": e["post"], "pre": e.get("pre")}
    if e.get("ci95"):
        out["ci95"] = e["ci95"]
    return out


def _in_edit_language(run: Run, kind: str) -> dict | None:
    """Every probe in its own case's edit language, from results.jsonl (a run edited in several languages)."""
    metric = headline_metric(run, kind)
    table = [r for r in flat_rows(records(run)) if r["kind"] == kind and r["metric"] == metric
             and r["lang"] == r["edit_lang"] and r["post"] is not None]
    if not table:
        return None
    post = [(r["case_id"], r["lang"], float(r["post"])) for r in table]
    pre = [(r["case_id"], r["lang"], float(r["pre"])) for r in table if r["pre"] is not None]
    return {"post": macro_mean(post), "ci95": bootstrap_ci(post), "pre": macro_mean(pre) if pre else None}


def scores(run: Run, kind: str) -> dict[str, dict | None]:
    """{edit, other, all}: the three estimates of one probe kind."""
    els = edit_languages_of(run)
    edit = _estimate(language_entry(run, els[0], kind)) if len(els) == 1 else _in_edit_language(run, kind)
    return {"edit": edit, "other": _estimate(mean_entry(run, kind, other_languages=True)),
            "all": _estimate(mean_entry(run, kind))}


def protocol_note(runs: list[Run], kinds: list[str]) -> str:
    """Which metric (and protocol) each kind's columns are; several are joined when runs disagree."""
    parts = []
    for k in kinds:
        metrics = sorted({str(headline_metric(r, k)) for r in runs if mean_entry(r, k)})
        protos = sorted({_protocol((mean_entry(r, k) or {}).get("protocol")) for r in runs if mean_entry(r, k)})
        parts.append(f"{k}: {' / '.join(metrics)} (protocol {' / '.join(protos)})")
    return "; ".join(parts)


def _protocol(p) -> str:
    return f"{p.get('name', 'n/a')} ({p.get('kind', 'n/a')})" if isinstance(p, dict) else "n/a"


def family_table(family: str, runs: list[Run], index: int) -> Table:
    kinds = kinds_of(runs)
    tasks = capability.tasks_of([r.summary for r in runs])
    header = (["edit language", "run", "cases"] + [f"{k}, {what}" for k in kinds for _, what in SCOPES]
              + [f"{CAPABILITY}, {capability.column_name(*t)}" for t in tasks])
    rows = []
    for r in sorted(runs, key=lambda r: ",".join(edit_languages_of(r))):  # stable: the runs' order per language
        s = {k: scores(r, k) for k in kinds}
        rows.append([",".join(edit_languages_of(r)) or "n/a", r.label, str(r.summary.get("n_cases", "n/a"))]
                    + [s[k][scope] for k in kinds for scope, _ in SCOPES]
                    + [capability.change_text((capability.headline(r.summary, t) or (None, None))[1])
                       for t, _, _ in tasks])
    note = ("Post-edit headline metric in %, [95% interval], (pre-edit): in the edit language, mean over the other "
            "probe languages, mean over all." + (f" {protocol_note(runs, kinds)}." if kinds else ""))
    if tasks:
        note += (f" {CAPABILITY}: each lm-eval task's headline metric on its own scale, after the edits minus "
                 "before, mean over its languages, [95% paired bootstrap interval over the task's examples]; "
                 "for single edits the mean over the checked edits, for a sequential run after its last edit.")
    return Table(f"leaderboard-{index}", f"Leaderboard: {display_spec(family)}", header, rows, note,
                 [("", 3)] + [(k, len(SCOPES)) for k in kinds] + ([(CAPABILITY, len(tasks))] if tasks else []))


def tables(families: dict[str, list[Run]]) -> list[Table]:
    return [family_table(fam, rs, i + 1) for i, (fam, rs) in enumerate(families.items())]


def group_tables(family: str, runs: list[Run], index: int) -> list[Table]:
    """Per language attribute (script, family, resource level): each run's mean over the probe languages of
    each group, post-edit with its interval and the pre-edit value (summary.json's `groups`)."""
    kinds = kinds_of(runs)
    out = []
    for attr in GROUPS:
        rows = [[r.label, str(value)] + [_estimate(entry.get(k)) for k in kinds]
                for r in runs for value, entry in ((r.summary.get("groups") or {}).get(attr) or {}).items()]
        if rows:
            out.append(Table(f"groups-{index}-{attr}", f"{display_spec(family)}: by {attr}", ["run", attr] + kinds, rows,
                             "Post-edit headline metric in %, [95% interval], (pre-edit), mean over the group's probe "
                             "languages."))
    return out
