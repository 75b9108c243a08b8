"""Capability before and after editing, per task and language: summary.json's `capability`.

Every value is lm-eval's own aggregate for a (sub)task; a task of several languages (a group) is the mean
over its languages of theirs. The difference after - before carries a paired bootstrap interval over the
task's examples (`uncertainty.paired_bootstrap`: the same documents, resampled together before and after,
a document asked in several languages resampled as one) for every metric lm-eval scores per example;
a ratio metric (bits per byte) gets its difference without one. Each value names its protocol: lm-eval's
task, version and metric.
"""

from __future__ import annotations

from statistics import mean

from polyedit.evaluation import uncertainty


def _rows(measure: dict, metric: str) -> list[tuple[str, str, float]]:
    return [(key, sub["lang"], value) for sub in measure["subtasks"].values()
            for key, value in sub.get("rows", {}).get(metric, [])]


def _macro(measure: dict, metric: str) -> float | None:
    values = {}
    for sub in measure["subtasks"].values():
        if metric in sub["metrics"]:
            values.setdefault(sub["lang"], []).append(sub["metrics"][metric])
    return mean(mean(v) for v in values.values()) if values else None


def _entry(before: dict, after: dict, metric: str, name: str, version, harness: str | None) -> dict | None:
    b, a = _macro(before, metric), _macro(after, metric)
    if a is None or b is None:
        return None
    out = {"protocol": {"name": name, "version": version, "metric": metric, "harness": harness},
           "before": b, "after": a, "diff": a - b, "ci95": None, "p_value": None,
           "n": sum(sub.get("n") or 0 for sub in after["subtasks"].values())}
    rows_a, rows_b = _rows(after, metric), _rows(before, metric)
    if rows_a and rows_b:
        paired = uncertainty.paired_bootstrap(rows_a, rows_b)
        out.update(ci95=paired["ci95"], p_value=paired["p_value"], n_examples=paired["n_cases"])
    return out


def compare(before: dict, after: dict, harness: str | None = None) -> dict:
    """{task: {version, headline, higher_is_better, metrics: {metric: entry with per_language}}}."""
    out = {}
    for name, task_after in after.items():
        task_before = before.get(name)
        if task_before is None:
            continue
        subs = list(task_after["subtasks"].values())
        metrics = list(dict.fromkeys(m for sub in subs for m in sub["metrics"]))
        entry = {"version": task_after["version"], "headline": metrics[0] if metrics else None,
                 "higher_is_better": {m: next((s["higher_is_better"].get(m) for s in subs
                                               if m in s["higher_is_better"]), None) for m in metrics},
                 "metrics": {}}
        for metric in metrics:
            e = _entry(task_before, task_after, metric, name, task_after["version"], harness)
            if e is None:
                continue
            e["per_language"] = {}
            for sub, info in task_after["subtasks"].items():
                if sub in task_before["subtasks"]:
                    one = _entry(_only(task_before, sub), _only(task_after, sub), metric, sub, info["version"], harness)
                    if one is not None:
                        e["per_language"][info["lang"]] = one
            entry["metrics"][metric] = e
        out[name] = entry
    return out


def _only(measure: dict, sub: str) -> dict:
    return {"subtasks": {sub: measure["subtasks"][sub]}}


def mean_of(measures: list[dict]) -> dict:
    """The mean of several checks (the sampled single edits): each aggregate and each example's score
    averaged over the edited models, so the paired bootstrap still pairs an example with its own before."""
    out = {}
    for name, first in measures[0].items():
        subtasks = {}
        for sub, info in first["subtasks"].items():
            same = [m[name]["subtasks"][sub] for m in measures]
            metrics = {k: mean(s["metrics"][k] for s in same) for k in info["metrics"]}
            rows = {}
            for metric in info.get("rows", {}):
                per_key: dict[str, list[float]] = {}
                for s in same:
                    for key, value in s["rows"].get(metric, []):
                        per_key.setdefault(key, []).append(value)
                rows[metric] = [[k, mean(v)] for k, v in per_key.items()]
            subtasks[sub] = {**info, "metrics": metrics, "rows": rows}
        out[name] = {**first, "subtasks": subtasks}
    return out


def without_rows(measure: dict) -> dict:
    """A check as summary.json shows it: lm-eval's values, not the per-example rows."""
    return {name: {**t, "subtasks": {s: {k: v for k, v in info.items() if k != "rows"}
                                     for s, info in t["subtasks"].items()}} for name, t in measure.items()}


def summarize_records(records: list[dict]) -> dict:
    """`summarize` with the settings and harness version the checks recorded (a sweep cell's assembly)."""
    settings = records[0]["settings"]
    return summarize(records, settings, f"lm-eval {settings.get('lm_eval')}")


def summarize(records: list[dict], settings: dict, harness: str | None) -> dict:
    """summary.json's `capability`: the settings, the unedited model's values, one comparison per check
    after edits and, with several single edits (or batches), their mean."""
    before = next((r for r in records if r["point"] == "before"), None)
    if before is None:
        return {"settings": settings, "points": []}
    after = [r for r in records if r["point"] != "before"]
    points = [{"point": r["point"], "after_edits": r["after_edits"], "case_ids": r["case_ids"],
               "tasks": compare(before["tasks"], r["tasks"], harness)} for r in after]
    out = {"settings": settings, "harness": harness, "ci": uncertainty.CI_METHOD.replace(
               "over cases", "over each task's examples"),
           "before": without_rows(before["tasks"]), "points": points}
    if settings.get("mode") != "sequential" and len(after) > 1:
        out["mean_over_points"] = {"points": len(after),
                                   "tasks": compare(before["tasks"], mean_of([r["tasks"] for r in after]), harness)}
    return out


def edits_check(cap: dict) -> dict | None:
    """{"what", "tasks"}: the comparison that stands for a run's edits: the mean over the sampled single
    edits (or batches) when there are several, else the last check (a sequential run's last edit, or the one
    sampled edit)."""
    if cap.get("mean_over_points"):
        m = cap["mean_over_points"]
        return {"what": f"mean over {m['points']} checks", "tasks": m["tasks"]}
    points = cap.get("points") or []
    return {"what": points[-1]["point"], "tasks": points[-1]["tasks"]} if points else None


def drops(cap: dict) -> dict[str, dict]:
    """{task: {metric, drop}}: how far each task's headline metric fell with the edits (`edits_check`),
    before − after for a higher-is-better metric, after − before for a lower-is-better one (so a positive
    drop is always a loss); a metric of unknown direction counts as higher-is-better, as lm-eval's default."""
    out = {}
    for task, entry in ((edits_check(cap) or {}).get("tasks") or {}).items():
        metric = entry.get("headline")
        e = entry.get("metrics", {}).get(metric)
        if e is None:
            continue
        sign = -1.0 if entry.get("higher_is_better", {}).get(metric) is False else 1.0
        out[task] = {"metric": metric, "drop": sign * (e["before"] - e["after"])}
    return out
