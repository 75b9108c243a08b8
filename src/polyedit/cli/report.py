"""`polyedit report RUN_OR_SWEEP_DIR... --out DIR`: one HTML page, one Markdown file, every table as CSV and
LaTeX and every figure as SVG and PNG for a set of runs."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="folder for report.html, report.md, tables/ (CSV, LaTeX) and figures/ (SVG, PNG)")
@click.option("--title", default="polyedit report", show_default=True)
@click.option("--samples", "n_samples", type=int, default=20, show_default=True,
              help="probes per run and outcome kept for the sample browser, and shown per filter")
@click.option("--label", "labels", multiple=True, metavar="FOLDER=NAME",
              help="name a run by hand (repeatable); FOLDER is the run's folder or its name")
@click.option("--format", "fmt", type=click.Choice(["none", "markdown", "csv", "latex"]), default="none",
              show_default=True, help="also print the leaderboards on stdout in this format")
def command(paths, out, title, n_samples, labels, fmt):
    """Runs named by what differs; leaderboards (edit language, other languages, all, with intervals and
    pre-edit values); a run x probe-language matrix per dataset and edit language; pre/post bars; sequential
    and lifelong curves; paired differences between runs on the same cases; Pareto fronts; a sample browser
    that finds failures. For `polyedit tune` folders, every method's front, chosen point and the paired
    test-split differences."""
    from polyedit.reports import tables
    from polyedit.reports.collect import find_runs
    from polyedit.reports import leaderboard
    from polyedit.reports.contents import families
    from polyedit.reports.labels import parse_labels
    from polyedit.reports.page import write_report
    from polyedit.reports.tuning import find_tunings

    tunings = find_tunings(list(paths))  # `polyedit tune` folders: fronts, chosen points, test comparison
    damaged: list[str] = []
    try:
        runs = find_runs(list(paths), n_samples, allow_none=bool(tunings), damaged=damaged)
    finally:
        for line in damaged:  # one line per damaged run; the others are rendered
            click.echo(f"skipped: {line}", err=True)
    by_hand = parse_labels(labels, runs)  # a bad --label fails before anything is written
    root = Path(os.path.commonpath([str(Path(p).resolve()) for p in paths]))  # folders shown relative to it
    page, md = write_report(runs, out, title, n_samples, root=root, tunings=tunings, labels=by_hand)
    if fmt != "none":
        render = {"markdown": lambda t: "\n".join(tables.markdown(t)), "csv": tables.to_csv, "latex": tables.to_latex}[fmt]
        for t in leaderboard.tables(families(runs)):
            click.echo(render(t))
    searches = f", {len(tunings)} tuning searches" if tunings else ""
    click.echo(f"{len(runs)} runs{searches}: wrote {page} and {md}", err=fmt != "none")
