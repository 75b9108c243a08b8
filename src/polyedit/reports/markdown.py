"""Markdown tables from a run summary (`polyedit.evaluation.aggregate.summarize`).

The headline table shows, per probe kind, the metric its protocol declares (for polyedit's defaults: the
generated answer), post-edit with its 95% interval and pre-edit in brackets; every other metric is listed
under "Diagnostics" with its protocol and kind, never in the same table as the headline.
"""

from __future__ import annotations

from polyedit.data.cases import PROBE_KINDS
from polyedit.reports.capability import capability_markdown


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def cell(e: dict | None) -> str:
    """`post [low–high] (pre)` in %."""
    if not e:
        return "–"
    ci = e.get("ci95")
    interval = f" [{_pct(ci[0])}–{_pct(ci[1])}]" if ci else ""
    return f"{_pct(e['post'])}{interval} ({_pct(e.get('pre'))})"


def protocol_label(e: dict | None) -> str:
    p = (e or {}).get("protocol") or {}
    return f"`{p['name']}` ({p.get('kind', '?')})" if p.get("name") else "unlabelled"


def _role(e: dict) -> str:
    """A diagnostic that is the protocol the dataset was published with says so."""
    return f", {e['role']}" if e.get("role") == "the paper's protocol" else ""


def summary_markdown(summary: dict, title: str = "polyedit run") -> str:
    head = summary["headline"]
    kinds = [k for k in PROBE_KINDS if k in head]
    mean = summary.get("mean", {})
    lines = [f"# {title}", "", f"{summary['n_cases']} cases. Headline metrics, post-edit % with a 95% interval "
             "in square brackets, pre-edit in brackets: " + "; ".join(
                 f"{k} = `{head[k]}` from protocol {protocol_label(mean.get(k))}" for k in kinds) + ".", ""]
    no_head = summary.get("no_headline") or {}
    lines += [f"**No headline for {k}:** {why}." for k, why in no_head.items()] + ([""] if no_head else [])
    if summary.get("ci_method"):
        lines += [f"Intervals: {summary['ci_method']}.", ""]
    lines += [f"**Note:** {n}." for n in summary.get("notes", [])] + ([""] if summary.get("notes") else [])
    lines += ["| language | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for lang, per_kind in summary["per_language"].items():
        lines.append(f"| {lang} | " + " | ".join(cell(per_kind.get(k, {}).get(head[k])) for k in kinds) + " |")

    def agg_row(name: str, agg: dict) -> str:
        return f"| **{name}** | " + " | ".join(cell(agg.get(k)) for k in kinds) + " |"

    lines.append(agg_row("mean", mean))
    if summary.get("mean_excluding_edit_language"):
        lines.append(agg_row("mean, other languages", summary["mean_excluding_edit_language"]))
    for k in kinds:  # the cross-lingual matrix: which edit language reaches which probe language
        matrix = summary.get("cross_lingual", {}).get(k)
        if matrix:
            cols = sorted({pl for row in matrix.values() for pl in row})
            lines += ["", f"## {k}, edit language × probe language (post-edit)", "",
                      "| edit \\ probe | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            lines += [f"| {el} | " + " | ".join(_pct(row.get(pl)) for pl in cols) + " |" for el, row in matrix.items()]
    for attr, groups in summary.get("groups", {}).items():
        lines += ["", f"## By {attr}", "", "| group | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        lines += [agg_row(str(g), agg) for g, agg in groups.items()]
    if summary.get("answer_language"):
        lines += ["", "## Answer language", "", "Share of generated answers written in the query's language (all "
                  "probe kinds), and the detector's ceiling: the share of the gold answers it assigns to their "
                  "own language.", "", "| language | answers in the language | detector ceiling |", "|---|---|---|"]
        lines += [f"| {lang} | {cell(v['answer_in_language'])} | {_pct(v['detector_ceiling']['post'])} |"
                  for lang, v in summary["answer_language"].items()]
    diag = [(k, m, e) for k in PROBE_KINDS for m, e in (summary.get("diagnostics") or {}).get(k, {}).items()]
    if diag:
        lines += ["", "## Diagnostics", "", "Other metrics of this run, mean over languages; each is labelled with "
                  "its protocol and is not the headline (teacher-forced scores give partial credit for answers "
                  "the model would not generate).", "", "| probes | metric | protocol | post [95% CI] (pre) |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | `{m}` | {protocol_label(e)}{_role(e)} | {cell(e)} |" for k, m, e in diag]
    if summary.get("judge_unscored"):
        u = summary["judge_unscored"]
        lines += ["", f"Judge: {u['pre']} answers before and {u['post']} after the edit left unscored (junk verdict "
                  "or unreachable judge; never counted as wrong)."]
    ledger = (summary.get("evaluation") or {}).get("ledger")
    if ledger:
        lines += ["", "## API requests and tokens", "", "Per purpose (the chat protocol, the judge); tokens as the "
                  "API's `usage` reports them, cached answers included.", "",
                  "| purpose | requests sent | from cache | prompt tokens | completion tokens |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['requests_sent']} | {v['requests_cached']} | {v['prompt_tokens']} | "
                  f"{v['completion_tokens']} |" for k, v in ledger.items()]
    if summary.get("skipped"):
        lines += ["", "## Skipped while loading", ""] + [f"- {k}: {v}" for k, v in sorted(summary["skipped"].items())]
    empty = summary.get("empty_gold")
    if empty:
        kinds = ", ".join(f"{k} {n}" for k, n in empty["by_kind"].items())
        lines += ["", f"Probes without a gold answer: {empty['probes']} ({kinds}); scored by "
                  f"{', '.join(empty['scored_by']) or 'none'}, omitted by {', '.join(empty['omitted_by']) or 'none'}."]
    lines += lifelong_lines(summary)
    if summary.get("subject_rules"):
        lines += ["", "Subject located by: " + ", ".join(f"{k} {v}" for k, v in summary["subject_rules"].items())]
    lines += capability_markdown(summary)
    return "\n".join(lines) + "\n"


LIFELONG_MEASURES = ("retention", "retention_edit_language", "recall", "locality")
LIFELONG_HEADER = ["after edits", "retention", "retention, edit language", "recall", "locality",
                   "s/edit, wall / CPU (window)", "state bytes"]


def _mean_ci(e: dict) -> str:
    return f"{_pct(e['mean'])} [{_pct(e['ci95'][0])}–{_pct(e['ci95'][1])}]"


def lifelong_rows(summary: dict) -> list[list[str]]:
    """A lifelong run's checkpoints (summary.json's `lifelong`): each measure's mean over languages, with its
    95% interval, in %; the seconds per edit of the window that ends at the checkpoint, and the method's state."""
    rows = []
    for point in (summary.get("lifelong") or {}).get("checkpoints") or []:
        window = point.get("window")
        cpu = point.get("cpu_seconds_per_edit")
        cost = (f"{point['seconds_per_edit']:.3g} / {'–' if cpu is None else format(cpu, '.3g')} "
                f"({window[0]}–{window[1]})" if point.get("seconds_per_edit") is not None and window else "–")
        state = f"{point['state_bytes']:,}" if point.get("state_bytes") is not None else "–"
        rows.append([str(point["after_edits"])] + [_mean_ci(point[m]) if m in point else "–"
                                                   for m in LIFELONG_MEASURES] + [cost, state])
    return rows


def lifelong_group_rows(summary: dict, measure: str = "retention") -> list[list[str]]:
    """Per checkpoint, grouping and group (segment, script, resource level): `measure`'s mean over the
    group's languages with its 95% interval, in %."""
    rows = []
    for point in (summary.get("lifelong") or {}).get("checkpoints") or []:
        for grouping, groups in ((point.get(measure) or {}).get("groups") or {}).items():
            rows += [[str(point["after_edits"]), grouping, g, _mean_ci(e), str(e["n_cases"])] for g, e in groups.items()]
    return rows


def lifelong_lines(summary: dict) -> list[str]:
    rows = lifelong_rows(summary)
    if not rows:
        return []
    measures = (summary.get("lifelong") or {}).get("measures") or {}
    return ["", "## Lifelong editing", "", "At each checkpoint, with every edit so far in place, % [95% interval]: "
            + "; ".join(f"{k}: {v}" for k, v in measures.items()) + ".", "",
            "| " + " | ".join(LIFELONG_HEADER) + " |", "|" + "---|" * len(LIFELONG_HEADER)] + [
        "| " + " | ".join(r) + " |" for r in rows] + _group_lines(summary)


def _group_lines(summary: dict) -> list[str]:
    lines = []
    for measure in ("retention", "retention_edit_language", "recall"):
        rows = lifelong_group_rows(summary, measure)
        if rows:
            lines += ["", f"{measure} by group, % [95% interval]:", "",
                      "| after edits | grouping | group | mean | cases |", "|---|---|---|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines
