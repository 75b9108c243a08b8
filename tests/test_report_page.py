"""`polyedit report` over the demo's runs, a BMIKE-53 run and a sequential run with a tuning front, rendered
in headless Chromium: no console message, every chart drawn, a screenshot kept in the test's folder."""

import json
import re
from pathlib import Path

import pytest

from browser import chart_divs, drawn, render
from requires import bmike53_root
from polyedit.cli.main import main
from polyedit.reports.collect import find_runs
from polyedit.reports.figures import pareto_front
from polyedit.reports.page import sample_row

BMIKE = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bmike53").resolve()
FAST = "lr: 0.02\nsteps: 10\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_runs")
    (root / "fast.yaml").write_text(FAST)
    assert main(["demo", "--model", "world:small", "--cases", "2", "--methods", "ft-m,lora", "--matrix-method", "ft-m", "--matrix-cases", "1",
                 "--out", str(root / "demo")]) == 0
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--langs", "en,de,ja",
                 "--mode", "sequential", "--limit", "3", "--hparams", str(root / "fast.yaml"),
                 "--out", str(root / "seq")]) == 0
    # a tuning search's output, in the format reports/collect.py documents
    (root / "seq" / "pareto.json").write_text(json.dumps({"objectives": ["locality", "reliability"], "trials": [
        {"params": {"lr": 0.002}, "locality": 0.98, "reliability": 0.40},
        {"params": {"lr": 0.02}, "locality": 0.90, "reliability": 0.85},
        {"params": {"lr": 0.05}, "locality": 0.70, "reliability": 0.80}]}))
    paths = [root / "demo", root / "seq"]
    if BMIKE.is_dir():
        assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data",
                     f"bmike53:zsre:langs=de,ru:dir={BMIKE}", "--limit", "3", "--hparams", str(root / "fast.yaml"),
                     "--out", str(root / "bmike")]) == 0
        paths.append(root / "bmike")
    return root, paths


def test_demo_writes_its_report_through_the_report_layer(runs):
    root, _ = runs
    page = (root / "demo" / "report.html").read_text()
    assert "polyedit demo: world:small" in page and (root / "demo" / "report.md").exists()
    assert "ft-m, edits in each language" in page  # the 12 edit-language runs are one heatmap


def test_report_renders_in_headless_chromium(runs, tmp_path):
    root, paths = runs
    bmike53_root()  # the real files: missing, the test fails under CI=true
    assert main(["report", *map(str, paths), "--out", str(tmp_path / "rep"), "--samples", "20"]) == 0
    page = tmp_path / "rep" / "report.html"
    text = page.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", text)  # nothing fetched
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## bmike53:zsre:langs=de,ru" in md and "## world:small" in md
    assert "| edit \\ probe |" in md

    shown = render(page, tmp_path)
    assert shown.console == []  # no error, no warning, no log line
    charts = chart_divs(shown.dom)
    # heatmaps: ft-m and lora (English edits), ft-m in each of 12 languages, the sequential run, BMIKE-53;
    # bars: 4 kinds x (world:small, bmike53); sequential curves; one Pareto front
    assert len(charts) >= 5 + 8 + 1 + 1, sorted(charts)
    assert [c for c, inner in charts.items() if not drawn(inner)] == []
    assert shown.dom.count("Pareto front") >= 1 and "edits applied" in shown.dom
    assert "probe language" in shown.dom and "edit language" in shown.dom  # axis titles drawn
    assert len(re.findall(r"<tr>", shown.dom.split('id="samples"')[1])) > 20  # the drill-down table
    assert shown.screenshot.exists()


def test_console_errors_and_undrawn_charts_are_caught(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><div id=\"chart-1\"><svg class=\"main-svg\"></svg></div>"
                   "<script>throw new Error('boom')</script></body></html>")
    shown = render(bad, tmp_path, height=300)
    assert any("boom" in line for line in shown.console)
    assert not drawn(chart_divs(shown.dom)["chart-1"])


def test_report_reads_old_and_new_summaries_and_samples(runs, tmp_path):
    import shutil

    root, _ = runs
    assert find_runs([root / "seq"])[0].samples[0]["post"]["generated"]  # runs write samples.jsonl now
    old = tmp_path / "old"
    shutil.copytree(root / "seq", old)
    (old / "samples.jsonl").unlink()  # a run made before the per-sample log
    run = find_runs([old])[0]
    assert run.pareto and run.sequential and run.samples  # samples from results.jsonl when no samples.jsonl
    assert sample_row(run, run.samples[0])[5] == "n/a"  # no generated text recorded
    new = {"case_id": "c1", "index": 0, "kind": "reliability", "lang": "de", "gold": "Oslo", "aliases": ["OSL"],
           "post": {"prompt": "X wurde geboren in", "generated": {"generation": " Oslo"}, "metrics": {"exact_match": 1.0}}}
    row = sample_row(run, new)
    assert row[4:9] == ["X wurde geboren in", "generation:  Oslo", "Oslo", "OSL", "exact_match: 1.000"]
    assert pareto_front([(0.9, 0.1), (0.5, 0.5), (0.4, 0.4), (0.1, 0.9)]) == [0, 1, 3]


def test_report_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no finished runs" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
