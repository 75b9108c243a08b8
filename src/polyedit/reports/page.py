"""`polyedit report`: one self-contained HTML page, one Markdown file, every table as CSV and LaTeX and every
figure as SVG, for any set of runs.

The page inlines plotly.js once (no network fetch); every chart is a Plotly figure. Runs are named by what
tells them apart (`labels`). Sections: runs; leaderboards in the field's shape (`leaderboard`: edit language,
other languages, all, each with its interval and pre-edit value); per dataset and edit language one run x
probe-language matrix, and an edit x probe-language matrix per method of an edit-language sweep; pre- and
post-edit bars per language; capability (lm-eval tasks run on the edited model, `reports.capability`): a
column per task in the leaderboards and a per-language panel; sequential-editing curves; lifelong curves
and checkpoint tables (capability at each checkpoint among them) with the paired differences between
comparable lifelong runs; paired differences between any two runs on the same cases
(`paired`); Pareto fronts of tuning searches; a sample browser that finds failures (`samples`)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from polyedit.reports import capability, contents, figures, samples, tables
from polyedit.reports.collect import Run, lifelong_checkpoints
from polyedit.reports.leaderboard import kinds_of
from polyedit.reports.markdown import LIFELONG_HEADER, lifelong_rows
from polyedit.reports.tables import Table


class Page:
    def __init__(self, title: str) -> None:
        self.title, self.parts, self.n_charts = title, [f"<h1>{html.escape(title)}</h1>"], 0
        self.figures: list = []  # every chart drawn, for the SVG files

    def h(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[str]], cls: str = "") -> None:
        th = "".join(f"<th>{h}</th>" for h in header)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        self.parts.append(f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")

    def add(self, t: Table) -> None:
        self.h(t.title, 3)
        if t.note:
            self.p(t.note)
        self.parts.append(tables.html_table(t))

    def chart(self, fig, empty: str | None = None) -> None:
        """The figure, or (None) the line `empty` says instead: a chart with nothing to show takes no panel."""
        if fig is None:
            if empty:
                self.parts.append(f"<p class='empty'>{html.escape(empty)}</p>")
            return
        self.n_charts += 1
        self.figures.append(fig)
        self.parts.append("<div class='chart'>" + pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=f"chart-{self.n_charts}",
            config={"displayModeBar": False, "responsive": True}) + "</div>")

    def html(self) -> str:
        style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
                 "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;"
                 "vertical-align:top}th{background:#f4f4f4}td:first-child{text-align:left}small{color:#666}"
                 ".samples td{text-align:left;max-width:28em;overflow-wrap:anywhere}.chart{margin:1em 0}"
                 "input.search{width:30em;padding:4px;margin:.5em 0}p.empty{color:#666;margin:.3em 0}"
                 "details{margin:.5em 0}.filters label{margin-right:1em}div.wide{overflow-x:auto}table.leaderboard td{white-space:nowrap}th[colspan]{text-align:center}")
        search = ("document.querySelectorAll('input.search').forEach(function(box){box.addEventListener('input',"
                  "function(){var q=box.value.toLowerCase();document.querySelectorAll('#'+box.dataset.table+' tbody tr')"
                  ".forEach(function(tr){tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});"
                  "});});")
        return ("<!doctype html><html><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{style}</style>"
                f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
                + "".join(self.parts) + f"<script>{search}</script></body></html>")


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




def _rows_section(page: Page, c: contents.Contents) -> None:
    page.h("Runs")
    page.p("Each run is named by its method and the settings in which it differs from the other runs of this "
           "report; that name is used in every table, legend and title.")
    page.parts.append(tables.html_table(c.runs_table, "runs"))


def _bars(page: Page, c: contents.Contents) -> None:
    page.h("Pre- and post-edit, per probe language")
    for fam, rs in c.families.items():
        for prefix, group in contents.bar_groups(fam, rs):
            for k in kinds_of(group):
                title = f"{prefix}: {k} per probe language, pre- and post-edit"
                page.chart(figures.pre_post_bars(title, group, k), f"{title}: 0 in every language, before and after.")


def _paired(page: Page, c: contents.Contents) -> None:
    page.h("Paired differences between runs on the same cases")
    if c.pair_tables:
        page.add(c.pair_tables[0])
        for t in c.pair_tables[1:]:
            page.parts.append(f"<details><summary>{html.escape(t.title)}, per language</summary>")
            page.add(t)
            page.parts.append("</details>")
    else:
        page.p("No two runs of this report share their data, cases and probe languages.")
    if c.unpaired:
        page.parts.append("<ul class='unpaired'>" + "".join(f"<li>{html.escape(x)}</li>" for x in c.unpaired) + "</ul>")


def _capability(page: Page, c: contents.Contents) -> None:
    """Per lm-eval task: each run's change per language, as bars with intervals and as a table."""
    if not c.capability:
        return
    page.h("Capability (lm-evaluation-harness)")
    page.p("What else the edits changed: each task run by lm-eval on the edited model, after − before on the "
           "task's headline metric (its own scale), per language, with 95% paired bootstrap intervals over the "
           "task's examples. Single edits: the mean over the checked edits; a sequential run: after its last "
           "edit. An in-context method edits no weight: its checks measure the unedited model.")
    for (task, metric, version), table in c.capability:
        series = [(r.label, h[1]) for r in c.runs for h in [capability.headline(r.summary, task)] if h and h[0] == metric]
        page.chart(figures.capability_languages(f"{task} {version}: change per language", series,
                                                f"{metric}, after − before"))
        page.add(table)


def _capability_curves(page: Page, c: contents.Contents) -> None:
    """Per lm-eval task, each sequential run's change at its checkpoints."""
    for task, metric, version in (t for t, _ in c.capability):
        series = [(r.label, [(p["after_edits"], p["tasks"][task]["metrics"][metric])
                             for p in capability.checkpoint_points(r.summary)
                             if metric in p["tasks"].get(task, {}).get("metrics", {})]) for r in c.runs]
        page.chart(figures.capability_curves(f"capability: {task} {version}, as edits accumulate", series,
                                             f"{metric}, after − before"))
    if c.capability_checkpoints:
        page.add(c.capability_checkpoints)


def lifelong_table(runs: list[Run]) -> Table | None:
    rows = [[r.label] + row for r in runs for row in lifelong_rows(r.summary)]
    return Table("lifelong", "Lifelong checkpoints", ["run"] + LIFELONG_HEADER, rows,
                 "% [95% interval], mean over languages, at each checkpoint with every edit so far in place.") if rows else None


def build_page(runs: list[Run], title: str, n_samples: int, root: Path | None = None,
               tunings: list | None = None, c: contents.Contents | None = None) -> Page:
    c = c or contents.build(runs, root)
    page = Page(title)
    if tunings:
        tuning_section(page, tunings)
    _rows_section(page, c)
    page.h("Leaderboard")
    for t in c.leaderboards:
        page.add(t)
    if c.groups:
        page.parts.append("<details><summary>By script, language family and resource level</summary>")
        for t in c.groups:
            page.add(t)
        page.parts.append("</details>")
    page.h("Cross-lingual transfer")
    for m, _ in c.matrices:
        page.chart(figures.heatmap(m.title, m.matrix, contents.MATRIX_KIND, m.rows_name, m.edit_lang))
    _bars(page, c)
    _capability(page, c)
    seq = [r for r in runs if r.sequential]
    if seq:
        page.h("Sequential editing")
        for k in kinds_of(seq):
            page.chart(figures.sequential_curves(f"{k} of all edits so far, as edits accumulate", seq, k))
    life = [r for r in runs if lifelong_checkpoints(r)]
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
        for grouping in ("segment", "script", "resource"):  # drawn where the runs recorded the grouping
            if fig := figures.lifelong_group_curves(f"retention of the edits so far, by {grouping}", life,
                                                    "retention", grouping):
                page.chart(fig)
        if t := lifelong_table(life):
            page.add(t)
        _capability_curves(page, c)
        lifelong_section(page, runs)
    _paired(page, c)
    tuned = [r for r in runs if r.pareto]
    if tuned:
        page.h("Pareto fronts (tuning)")
        for r in tuned:
            page.chart(figures.pareto(f"{r.label} on {contents.display_spec(r.data)}: trials and Pareto front", r))
    page.h("Samples")
    page.p(f"Probes with their pre- and post-edit answers. Per run and outcome, a seeded random sample of up to "
           f"{n_samples} probes is kept; the filters show up to {n_samples} of the matching ones. Outcomes: "
           + "; ".join(samples.OUTCOMES) + ".")
    page.parts.append(samples.html_browser(runs, n_samples, n_samples))
    return page


def build_markdown(runs: list[Run], title: str, tunings: list | None = None,
                   c: contents.Contents | None = None) -> str:
    c = c or contents.build(runs)
    lines = [f"# {title}", "", f"{len(runs)} runs.", ""]
    if tunings:
        lines += tuning_markdown(tunings)
    lines += tables.markdown(c.runs_table)
    for t in c.leaderboards + c.groups:
        lines += tables.markdown(t)
    for _, t in c.matrices:
        lines += tables.markdown(t)
    for _, t in c.capability:
        lines += tables.markdown(t)
    if t := lifelong_table([r for r in runs if lifelong_checkpoints(r)]):
        lines += tables.markdown(t)
    if c.capability_checkpoints:
        lines += tables.markdown(c.capability_checkpoints)
    lines += lifelong_markdown(runs)
    if c.pair_tables:
        lines += ["## Paired differences between runs on the same cases", ""]
        for t in c.pair_tables:
            lines += tables.markdown(t)
    lines += [f"- {line}" for line in c.unpaired] + ([""] if c.unpaired else [])
    return "\n".join(lines)


def write_report(runs: list[Run], out: str | Path, title: str = "polyedit report", n_samples: int = 20,
                 root: Path | None = None, tunings: list | None = None,
                 labels: dict[str, str] | None = None) -> tuple[Path, Path]:
    """report.html, report.md, report.json, tables/*.csv and *.tex, figures/*.svg and *.png under `out`."""
    from polyedit.reports.export import save_figure, write_tables
    from polyedit.reports.labels import name_runs

    name_runs(runs, labels)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = contents.build(runs, root)
    page_path, md = out / "report.html", out / "report.md"
    page = build_page(runs, title, n_samples, root, tunings, c)
    page_path.write_text(page.html(), "utf-8")
    md.write_text(build_markdown(runs, title, tunings, c), "utf-8")
    write_tables(c.tables, out / "tables")
    (out / "figures").mkdir(exist_ok=True)
    for i, fig in enumerate(page.figures):
        save_figure(fig, out / "figures" / f"chart-{i + 1}.svg")
    index = {"runs": [str(r.dir) for r in runs], "labels": {str(r.dir): r.label for r in runs}, "paired": c.pairs}
    if tunings:
        from polyedit.reports.tuning import differences

        index["tunings"] = [str(t.dir) for t in tunings]
        index["differences"] = differences(tunings)
    from polyedit.reports.lifelong import differences as lifelong_differences

    if life := lifelong_differences(runs):
        index["lifelong_differences"] = life
    (out / "report.json").write_text(json.dumps(index, indent=1), "utf-8")
    return page_path, md
