"""`polyedit report`: one self-contained HTML page and one Markdown file for any set of runs.

The page inlines plotly.js once (no network fetch); every chart is a Plotly figure. Sections: runs,
leaderboard (per dataset: methods x probe kinds, headline metric with its 95% interval, the protocol in the
column header), cross-lingual heatmaps (edit x probe language), per-language bars, sequential-editing curves,
lifelong curves with the paired differences between comparable lifelong runs, Pareto fronts of tuning searches, and the first samples of each run in a searchable table."""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from polyedit.data.cases import PROBE_KINDS
from polyedit.reports import figures
from polyedit.reports.collect import Run
from polyedit.reports.numbers import NA, interval, pct


def families(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.family, []).append(r)
    return out


def row_label(run: Run) -> str:
    return run.label + (f" · edits in {run.edit_lang}" if run.edit_lang else "")


def kinds_of(runs: list[Run]) -> list[str]:
    return [k for k in PROBE_KINDS if any(k in r.summary.get("mean", {}) for r in runs)]


def column_protocol(runs: list[Run], kind: str) -> tuple[str, str]:
    """(metric, protocol) heading a leaderboard column; several are joined when runs disagree."""
    metrics = sorted({str(r.summary.get("headline", {}).get(kind)) for r in runs if kind in r.summary.get("mean", {})})
    protos = set()
    for r in runs:
        p = r.summary.get("mean", {}).get(kind, {}).get("protocol")
        protos.add(f"{p.get('name', NA)} ({p.get('kind', NA)})" if isinstance(p, dict) else NA)
    return " / ".join(metrics), "protocol " + " / ".join(sorted(protos))


def leaderboard_rows(runs: list[Run], kinds: list[str]) -> list[list[str]]:
    rows = []
    for r in runs:
        row = [row_label(r), str(r.summary.get("n_cases", NA))]
        for k in kinds:
            m = r.summary.get("mean", {}).get(k)
            row.append(f"{pct(m.get('post'))} {interval(m.get('ci95'))} (pre {pct(m.get('pre'))})" if m else NA)
        rows.append(row)
    return rows


class Page:
    def __init__(self, title: str) -> None:
        self.title, self.parts, self.n_charts = title, [f"<h1>{html.escape(title)}</h1>"], 0

    def h(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[str]], cls: str = "") -> None:
        th = "".join(f"<th>{h}</th>" for h in header)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        self.parts.append(f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")

    def chart(self, fig) -> None:
        if fig is None:
            return
        self.n_charts += 1
        self.parts.append("<div class='chart'>" + pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=f"chart-{self.n_charts}",
            config={"displayModeBar": False, "responsive": True}) + "</div>")

    def html(self) -> str:
        style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
                 "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;"
                 "vertical-align:top}th{background:#f4f4f4}td:first-child{text-align:left}small{color:#666}"
                 ".samples td{text-align:left;max-width:28em;overflow-wrap:anywhere}.chart{margin:1em 0}"
                 "input.search{width:30em;padding:4px;margin:.5em 0}")
        search = ("document.querySelectorAll('input.search').forEach(function(box){box.addEventListener('input',"
                  "function(){var q=box.value.toLowerCase();document.querySelectorAll('#'+box.dataset.table+' tbody tr')"
                  ".forEach(function(tr){tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});"
                  "});});")
        return ("<!doctype html><html><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{style}</style>"
                f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
                + "".join(self.parts) + f"<script>{search}</script></body></html>")


def _text(v) -> str:
    if v is None:
        return NA
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_text(x)}" for k, x in v.items())
    if isinstance(v, list):
        return " | ".join(_text(x) for x in v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def sample_row(run: Run, s: dict) -> list[str]:
    """One probe of the per-sample log (samples.jsonl), or of results.jsonl for runs made before it."""
    post = s.get("post") if isinstance(s.get("post"), dict) else {}
    stage = post if "metrics" in post else {"metrics": post}
    return [row_label(run), str(s.get("case_id", NA)), str(s.get("kind", NA)), str(s.get("lang", NA)),
            _text(stage.get("prompt", s.get("prompt"))), _text(stage.get("generated")), _text(s.get("gold")),
            _text(s.get("aliases") or None), _text(stage.get("metrics"))]


SAMPLE_HEADER = ["run", "case", "kind", "language", "prompt (post-edit)", "generated (post-edit)", "gold", "aliases",
                 "metrics (post-edit)"]


def tuning_section(page: Page, tunings: list) -> None:
    """Equal-budget searches: fronts on dev, chosen points, their test results and paired differences."""
    from polyedit.reports import tuning

    page.h("Tuning: Pareto fronts, chosen configurations, test-split comparison")
    floors = {t.floor for t in tunings}
    page.p("Each search (`polyedit tune`) scored its trials on the first dev cases: transfer = the edit's "
           "reliability (or generality) in the languages other than the edit language, protocol answer "
           "(answer_em); locality = answer_locality (answer_unchanged). The chosen point is the best transfer "
           "with dev locality at or above the floor; it was then run on the test split (95% bootstrap intervals "
           "over cases). Differences are paired over the shared test cases.")
    series = [{"label": tuning.label(t, tunings), "pareto": t.pareto, "chosen": t.pareto.get("chosen")} for t in tunings]
    page.chart(figures.tuning_fronts("Transfer against locality on the dev split: every trial, each method's "
                                     "Pareto front and chosen point", series,
                                     next(iter(floors)) if len(floors) == 1 else None))
    page.table(tuning.CHOSEN_HEADER, tuning.chosen_rows(tunings), "leaderboard")
    diffs = tuning.differences(tunings)
    if diffs:
        page.h("Differences at matched locality (test split)", 3)
        page.table(tuning.DIFF_HEADER, tuning.difference_rows(diffs), "leaderboard")


def lifelong_section(page: Page, runs: list[Run]) -> None:
    """Paired differences between lifelong runs on the same edits (`reports.lifelong`)."""
    from polyedit.reports import lifelong

    diffs = lifelong.differences(runs)
    if not diffs:
        return
    page.h("Differences between lifelong runs on the same edits", 3)
    page.p(lifelong.explanation(diffs))
    rows = lifelong.difference_rows(diffs)
    if rows:
        page.table(lifelong.DIFF_HEADER, rows, "leaderboard")
    if line := lifelong.unpaired(diffs):
        page.p(line)


def build_page(runs: list[Run], title: str, n_samples: int, root: Path | None = None,
               tunings: list | None = None) -> str:
    page = Page(title)
    if tunings:
        tuning_section(page, tunings)
    page.h("Runs")
    page.table(["run", "folder", "model", "method", "data", "mode", "cases"],
               [[row_label(r), _rel(r.dir, root), str(r.config.get("model", NA)), r.method, r.data,
                 str(r.config.get("mode", NA)), str(r.summary.get("n_cases", NA))] for r in runs])
    fams = families(runs)
    page.h("Leaderboard")
    page.p("Post-edit headline metric in %, mean over probe languages, with its 95% interval; pre-edit in "
           "brackets. Each column names its metric and the protocol that scored it (n/a: not recorded by the run).")
    for fam, rs in fams.items():
        kinds = kinds_of(rs)
        header = ["run", "cases"] + [
            f"{k}<br><small>{html.escape(column_protocol(rs, k)[0])}<br>{html.escape(column_protocol(rs, k)[1])}</small>"
            for k in kinds]
        page.h(fam, 3)
        page.table(header, leaderboard_rows(rs, kinds), "leaderboard")
    page.h("Cross-lingual transfer")
    for fam, rs in fams.items():
        for label, matrix in heatmap_groups(rs).items():
            page.chart(figures.heatmap(f"{label} on {fam}: reliability, edit language × probe language", matrix,
                                       "reliability"))
    page.h("Per language")
    for fam, rs in fams.items():
        primary = [r for r in rs if not r.edit_lang] or rs
        for k in kinds_of(primary):
            page.chart(figures.language_bars(f"{fam}: {k} per probe language", primary, k))
    seq = [r for r in runs if r.sequential]
    if seq:
        page.h("Sequential editing")
        for k in kinds_of(seq):
            page.chart(figures.sequential_curves(f"{k} of all edits so far, as edits accumulate", seq, k))
    life = [r for r in runs if (r.summary.get("lifelong") or {}).get("checkpoints")]
    if life:
        page.h("Lifelong editing")
        page.p("At each checkpoint of a sequential run (--checkpoints): retention of the edits made so far, "
               "recall of facts no edit touches (every language) and whether their answers are unchanged "
               "(locality; drift is its fall), mean over languages with 95% intervals.")
        for measure, what in (("retention", "reliability of the edits so far"),
                              ("retention_edit_language", "reliability of the edits so far, in each edit's language"),
                              ("recall", "recall of untouched facts"),
                              ("locality", "untouched facts' answers unchanged")):
            page.chart(figures.lifelong_curves(f"{what}, as edits accumulate", life, measure))
        lifelong_section(page, runs)
    tuned = [r for r in runs if r.pareto]
    if tuned:
        page.h("Pareto fronts (tuning)")
        for r in tuned:
            page.chart(figures.pareto(f"{row_label(r)} on {r.data}: trials and Pareto front", r))
    page.h("Samples")
    page.p(f"The first {n_samples} probes of each run's per-sample log (samples.jsonl; results.jsonl for runs "
           "without one, which recorded no generated text). Type to filter.")
    page.parts.append("<input class='search' type='search' data-table='samples' placeholder='filter samples…'>")
    page.table(SAMPLE_HEADER, [sample_row(r, s) for r in runs for s in r.samples[:n_samples]], "samples")
    page.parts[-1] = page.parts[-1].replace("<table class='samples'>", "<table class='samples' id='samples'>")
    return page.html()


def heatmap_groups(runs: list[Run]) -> dict[str, dict]:
    """Runs that differ only in edit language are one matrix; every other run is a matrix of its own."""
    groups: dict[str, dict] = {}
    for r in runs:
        rel = r.summary.get("cross_lingual", {}).get("reliability")
        if not rel:
            continue
        key = f"{r.label}, edits in each language" if r.edit_lang else r.label
        if not r.edit_lang and key in groups:
            key = f"{key} [{r.dir.name}]"  # two runs of one label: the folder tells them apart
        groups.setdefault(key, {}).update(rel)
    return groups


def _rel(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve())) if root else str(path)
    except ValueError:
        return str(path)


def tuning_markdown(tunings: list) -> list[str]:
    from polyedit.reports import tuning

    def table(header, rows):
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]

    lines = ["## Tuning (dev split) and the chosen configurations on the test split", "",
             "transfer: answer_em in the languages other than the edit language (protocol answer); locality: "
             "answer_unchanged (protocol answer_locality); in %, [95% bootstrap interval over cases].", ""]
    lines += table(tuning.CHOSEN_HEADER, tuning.chosen_rows(tunings)) + [""]
    diffs = tuning.differences(tunings)
    if diffs:
        lines += ["Differences at matched locality (paired bootstrap over shared test cases):", ""]
        lines += table(tuning.DIFF_HEADER, tuning.difference_rows(diffs)) + [""]
    return lines


def lifelong_markdown(runs: list[Run]) -> list[str]:
    from polyedit.reports import lifelong

    diffs = lifelong.differences(runs)
    if not diffs:
        return []
    lines = ["## Lifelong editing: differences between runs on the same edits", "", lifelong.explanation(diffs), ""]
    rows = lifelong.difference_rows(diffs)
    if rows:
        lines += ["| " + " | ".join(lifelong.DIFF_HEADER) + " |", "|" + "---|" * len(lifelong.DIFF_HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    if line := lifelong.unpaired(diffs):
        lines += [line, ""]
    return lines


def build_markdown(runs: list[Run], title: str, tunings: list | None = None) -> str:
    lines = [f"# {title}", "", f"{len(runs)} runs. Post-edit headline metric in %, mean over probe languages, "
             "[95% interval], (pre-edit).", ""]
    if tunings:
        lines += tuning_markdown(tunings)
    for fam, rs in families(runs).items():
        kinds = kinds_of(rs)
        lines += [f"## {fam}", "", "| run | cases | " + " | ".join(
            f"{k} ({column_protocol(rs, k)[0]}; {column_protocol(rs, k)[1]})" for k in kinds) + " |",
                  "|---|---|" + "---|" * len(kinds)]
        lines += ["| " + " | ".join(row) + " |" for row in leaderboard_rows(rs, kinds)]
        for label, matrix in heatmap_groups(rs).items():
            cols = sorted({c for row in matrix.values() for c in row})
            lines += ["", f"Reliability, {label}: edit language (rows) × probe language (columns)", "",
                      "| edit \\ probe | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            lines += [f"| {r} | " + " | ".join(pct(matrix[r].get(c)) for c in cols) + " |" for r in sorted(matrix)]
        lines.append("")
    lines += lifelong_markdown(runs)
    return "\n".join(lines)


def write_report(runs: list[Run], out: str | Path, title: str = "polyedit report", n_samples: int = 50,
                 root: Path | None = None, tunings: list | None = None) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page, md = out / "report.html", out / "report.md"
    page.write_text(build_page(runs, title, n_samples, root, tunings), "utf-8")
    md.write_text(build_markdown(runs, title, tunings), "utf-8")
    index = {"runs": [str(r.dir) for r in runs]}
    if tunings:
        from polyedit.reports.tuning import differences

        index["tunings"] = [str(t.dir) for t in tunings]
        index["differences"] = differences(tunings)
    from polyedit.reports.lifelong import differences as lifelong_differences

    if life := lifelong_differences(runs):
        index["lifelong_differences"] = life
    (out / "report.json").write_text(json.dumps(index, indent=1), "utf-8")
    return page, md
