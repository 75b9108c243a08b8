"""summary.json's `capability` as tables: the change each check found, per task and language.

`capability_rows` is what a report reads (one row per check, task, metric and language); `capability_markdown`
the section of summary.md. Values are lm-eval's, on its own scale (accuracy as a fraction, log-likelihood
per character in nats), so they are printed as they are, not as percentages.
"""

from __future__ import annotations

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
