"""Markdown tables from a run summary (`polyedit.evaluation.aggregate.summarize`)."""

from __future__ import annotations

from polyedit.data.cases import PROBE_KINDS


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def summary_markdown(summary: dict, title: str = "polyedit run") -> str:
    head = summary["headline"]
    kinds = [k for k in PROBE_KINDS if k in head]
    lines = [f"# {title}", "", f"{summary['n_cases']} cases. Post-edit scores in %, pre-edit in brackets. "
             "Metrics: " + ", ".join(f"{k} = `{head[k]}`" for k in kinds) + ".", ""]
    lines += [f"**Note:** {n}." for n in summary.get("notes", [])] + ([""] if summary.get("notes") else [])
    lines += ["| language | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for lang, per_kind in summary["per_language"].items():
        cells = []
        for k in kinds:
            v = per_kind.get(k, {}).get(head[k])
            cells.append(f"{_pct(v['post'])} ({_pct(v['pre'])})" if v else "–")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")

    def agg_row(name: str, agg: dict) -> str:
        return f"| **{name}** | " + " | ".join(
            f"{_pct(agg[k]['post'])} ({_pct(agg[k]['pre'])})" if k in agg else "–" for k in kinds) + " |"

    lines.append(agg_row("mean", summary["mean"]))
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
    if summary.get("skipped"):
        lines += ["", "## Skipped while loading", ""] + [f"- {k}: {v}" for k, v in sorted(summary["skipped"].items())]
    if summary.get("subject_rules"):
        lines += ["", "Subject located by: " + ", ".join(f"{k} {v}" for k, v in summary["subject_rules"].items())]
    return "\n".join(lines) + "\n"
