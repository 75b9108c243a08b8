"""summary.json's `capability` as tables: the change each check found, per task and language.

`capability_rows` is what a report reads (one row per check, task, metric and language); `capability_markdown`
the section of summary.md. Values are lm-eval's, on its own scale (accuracy as a fraction, log-likelihood
per character in nats), so they are printed as they are, not as percentages.
"""

from __future__ import annotations

from polyedit.evaluation.capability import compare

ALL = "all"  # the row of a task's mean over its languages


def capability_rows(summary: dict, headline_only: bool = True) -> list[dict]:
    """{point, after_edits, task, version, metric, lang, before, after, diff, ci95, p_value, protocol} rows."""
    cap = summary.get("capability") or {}
    checks = list(cap.get("points", []))
    if cap.get("mean_over_points"):
        checks.append({"point": f"mean over {cap['mean_over_points']['points']} checks", "after_edits": None,
                       "tasks": cap["mean_over_points"]["tasks"]})
    out = []
    for check in checks:
        for task, entry in check["tasks"].items():
            for metric, e in entry["metrics"].items():
                if headline_only and metric != entry["headline"]:
                    continue
                for lang, one in [(ALL, e), *e.get("per_language", {}).items()]:
                    out.append({"point": check["point"], "after_edits": check.get("after_edits"), "task": task,
                                "version": entry["version"], "metric": metric, "lang": lang,
                                **{k: one.get(k) for k in ("before", "after", "diff", "ci95", "p_value", "protocol")}})
    return out


def _num(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def _diff(row: dict) -> str:
    ci = row.get("ci95")
    return f"{row['diff']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def capability_markdown(summary: dict) -> list[str]:
    """The capability section of summary.md (nothing when the run asked for no check): per task, a row per
    check with the mean over languages before and after, and each language's difference with its interval."""
    cap = summary.get("capability")
    if not cap or not cap.get("points"):
        return []
    settings = cap.get("settings", {})
    lines = ["", "## Capability (lm-evaluation-harness)", "",
             f"Tasks {', '.join(settings.get('tasks', []))}, {settings.get('limit') or 'all'} examples per task and "
             f"language, run by {cap.get('harness')} on the edited model: each task's headline metric before the "
             f"edits and after (mean over languages), and the difference per language with a 95% interval "
             f"({cap.get('ci')}).", ""]
    if settings.get("note"):
        lines += [f"**Note:** {settings['note']}.", ""]
    rows = capability_rows(summary)
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        langs = list(dict.fromkeys(r["lang"] for r in mine))
        lines += [f"### `{task}` ({mine[0]['version']}), `{mine[0]['metric']}`", "",
                  "| check | before | after | " + " | ".join(langs) + " |", "|---|---|---|" + "---|" * len(langs)]
        for point in dict.fromkeys(r["point"] for r in mine):
            by_lang = {r["lang"]: r for r in mine if r["point"] == point}
            total = by_lang[ALL]
            lines.append(f"| {point} | {_num(total['before'])} | {_num(total['after'])} | "
                         + " | ".join(_diff(by_lang[x]) if x in by_lang else "–" for x in langs) + " |")
        lines.append("")
    return lines


# What `polyedit report` shows of several runs' checks (report.html, report.md, the CSV and LaTeX tables).

def overall(summary: dict) -> dict | None:
    """{"what", "tasks"}: the check that stands for the run's edits in a leaderboard (`compare.edits_check`:
    the mean over several sampled single edits, else the last check)."""
    return compare.edits_check(summary.get("capability") or {})


def headline(summary: dict, task: str) -> tuple[str, dict] | None:
    """(metric, entry) of `task`'s headline metric in the run's `overall` check."""
    check = overall(summary)
    entry = (check or {}).get("tasks", {}).get(task)
    if not entry or entry.get("headline") not in entry.get("metrics", {}):
        return None
    return entry["headline"], entry["metrics"][entry["headline"]]


def tasks_of(summaries: list[dict]) -> list[tuple[str, str, object]]:
    """(task, headline metric, version) of every task some run checked, in the order first met."""
    out: dict[str, tuple[str, str, object]] = {}
    for s in summaries:
        for task, entry in ((overall(s) or {}).get("tasks") or {}).items():
            out.setdefault(task, (task, entry.get("headline"), entry.get("version")))
    return list(out.values())


def change_text(entry: dict | None) -> str:
    """`after − before [95% interval]` on the metric's own scale, or "–" where the run has no such check."""
    if not entry or entry.get("diff") is None:
        return "–"
    return _diff(entry)


def column_name(task: str, metric: str, version) -> str:
    return f"{task} {version}, {metric}, after − before"


def checkpoint_points(summary: dict) -> list[dict]:
    """A sequential run's checks after its edits, by the number of edits in place (none for single edits)."""
    cap = summary.get("capability") or {}
    if (cap.get("settings") or {}).get("mode") != "sequential":
        return []
    return sorted((p for p in cap.get("points", []) if p.get("after_edits") is not None),
                  key=lambda p: p["after_edits"])


def language_table(runs: list, task: str, metric: str, version, index: int):
    """Per run, `task`'s change in each language (the run's `overall` check): the per-language panel."""
    from polyedit.reports.tables import Table

    found = [(r, h[1]) for r in runs for h in [headline(r.summary, task)] if h and h[0] == metric]
    langs = list(dict.fromkeys(lang for _, e in found for lang in e.get("per_language", {})))
    rows = [[r.label, e.get("protocol", {}).get("harness") or "n/a", _num(e.get("before")), _num(e.get("after")),
             change_text(e)] + [change_text(e.get("per_language", {}).get(lang)) for lang in langs]
            for r, e in found]
    return Table(f"capability-{index}", f"Capability: {task} {version} ({metric}), after − before per language",
                 ["run", "harness", "before", "after", ALL] + langs, rows,
                 "lm-eval's value on its own scale before the edits and after (mean over languages), and the change "
                 "in each language with its 95% paired bootstrap interval over the task's examples; single edits: "
                 "the mean over the checked edits; a sequential run: after its last edit.")


def checkpoint_table(runs: list, tasks: list[tuple[str, str, object]]):
    """Each sequential run's change at each checkpoint, per task (the lifelong section's table)."""
    from polyedit.reports.tables import Table

    rows = []
    for r in runs:
        for point in checkpoint_points(r.summary):
            rows.append([r.label, str(point["after_edits"])] + [
                change_text(point["tasks"].get(t, {}).get("metrics", {}).get(m)) for t, m, _ in tasks])
    if not rows:
        return None
    return Table("capability-checkpoints", "Capability at each lifelong checkpoint",
                 ["run", "after edits"] + [column_name(*t) for t in tasks], rows,
                 "After − before on each task's headline metric (its own scale), mean over its languages, "
                 "[95% paired bootstrap interval over the task's examples], with every edit so far in place.")
