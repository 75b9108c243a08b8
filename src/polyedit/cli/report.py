"""`polyedit report RUN_OR_SWEEP_DIR... --out DIR`: one HTML page and one Markdown file for a set of runs."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder for report.html and report.md")
@click.option("--title", default="polyedit report", show_default=True)
@click.option("--samples", "n_samples", type=int, default=50, show_default=True,
              help="probes of each run's per-sample log shown in the searchable table")
def command(paths, out, title, n_samples):
    """Leaderboard, cross-lingual heatmaps, per-language bars, sequential curves, lifelong curves and the paired
    differences between comparable lifelong runs, Pareto fronts, samples; for
    `polyedit tune` folders, every method's front, chosen point and the paired test-split differences."""
    from polyedit.reports.collect import find_runs
    from polyedit.reports.page import write_report
    from polyedit.reports.tuning import find_tunings

    tunings = find_tunings(list(paths))  # `polyedit tune` folders: fronts, chosen points, test comparison
    damaged: list[str] = []
    try:
        runs = find_runs(list(paths), n_samples, allow_none=bool(tunings), damaged=damaged)
    finally:
        for line in damaged:  # one line per damaged run; the others are rendered
            click.echo(f"skipped: {line}", err=True)
    root = Path(os.path.commonpath([str(Path(p).resolve()) for p in paths]))  # folders shown relative to it
    page, md = write_report(runs, out, title, n_samples, root=root, tunings=tunings)
    searches = f", {len(tunings)} tuning searches" if tunings else ""
    click.echo(f"{len(runs)} runs{searches}: wrote {page} and {md}")
