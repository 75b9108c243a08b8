"""`polyedit report` shows capability checks (`bench --capability`): a column per lm-eval task in the
leaderboard, a per-language panel (bars and a table), and in the lifelong section the change at each
checkpoint; every number is the run's summary.json's, and the page draws in headless Chromium."""

import csv
import io
import json
import re

import pytest

from helpers.requires import importable

importable("lm_eval")

from helpers.browser import chart_divs, drawn, render  # noqa: E402
from polyedit.api import bench  # noqa: E402
from polyedit.models import load_model  # noqa: E402
from polyedit.reports.capability import change_text  # noqa: E402
from polyedit.reports.collect import find_runs  # noqa: E402
from polyedit.reports.page import write_report  # noqa: E402

CAP = dict(capability=["world_knowledge", "world_fluency"], capability_limit=2, progress=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Two single edits, both checked, and a sequential run checked at its two checkpoints."""
    root = tmp_path_factory.mktemp("cap_report")
    lm = load_model("world:small", device="cpu")
    bench(lm, "ft-m", "world:small:split=test", root / "single", limit=2, capability_sample=2, **CAP)
    bench(lm, "ft-m", "world:small:edit_lang=all:mix=cycle", root / "seq", limit=2, mode="sequential",
          checkpoints=[1, 2], recall_sample=1, **CAP)
    write_report(find_runs([root]), root / "report")
    return root


def _summary(root, name):
    return json.loads((root / name / "summary.json").read_text("utf-8"))


def _leaderboard_rows(root):
    out = {}
    for path in sorted((root / "report" / "tables").glob("leaderboard-*.csv")):
        rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
        out.update({r["run"].split(" ")[0] + ("-seq" if "sequential" in r["run"] else ""): r for r in rows})
    return out


def test_leaderboard_has_a_capability_column_per_task_with_the_runs_change(report):
    rows = _leaderboard_rows(report)
    single, seq = _summary(report, "single")["capability"], _summary(report, "seq")["capability"]
    for task, metric in (("world_knowledge", "acc"), ("world_fluency", "logprob_per_char")):
        column = f"capability, {task} 1.0, {metric}, after − before"
        mean = single["mean_over_points"]["tasks"][task]["metrics"][metric]  # single edits: the mean of the checks
        last = seq["points"][-1]["tasks"][task]["metrics"][metric]  # sequential: after the last edit
        assert seq["points"][-1]["after_edits"] == 2
        assert rows["ft-m"][column] == change_text(mean)
        assert rows["ft-m-seq"][column] == change_text(last)
    # the cell is after − before with its paired interval, on the metric's own scale
    e = single["mean_over_points"]["tasks"]["world_fluency"]["metrics"]["logprob_per_char"]
    assert change_text(e) == f"{e['after'] - e['before']:+.3f} [{e['ci95'][0]:+.3f}, {e['ci95'][1]:+.3f}]"


def test_per_language_panel_and_checkpoint_table_hold_the_summarys_values(report):
    tables = report / "report" / "tables"
    per_lang = list(csv.DictReader(io.StringIO((tables / "capability-2.csv").read_text("utf-8"))))
    e = _summary(report, "single")["capability"]["mean_over_points"]["tasks"]["world_fluency"]["metrics"][
        "logprob_per_char"]
    row = next(r for r in per_lang if r["run"].startswith("ft-m") and "sequential" not in r["run"])
    assert len(e["per_language"]) == 12
    assert {lang: row[lang] for lang in e["per_language"]} == {
        lang: change_text(x) for lang, x in e["per_language"].items()}
    ck = list(csv.DictReader(io.StringIO((tables / "capability-checkpoints.csv").read_text("utf-8"))))
    points = _summary(report, "seq")["capability"]["points"]
    assert [r["after edits"] for r in ck] == ["1", "2"]
    for r, p in zip(ck, points):
        assert r["world_knowledge 1.0, acc, after − before"] == change_text(
            p["tasks"]["world_knowledge"]["metrics"]["acc"])
    md = (report / "report" / "report.md").read_text("utf-8")
    assert "### Capability: world_fluency 1.0 (logprob_per_char), after − before per language" in md
    assert "### Capability at each lifelong checkpoint" in md


def test_capability_page_draws_in_headless_chromium(report, tmp_path):
    page = report / "report" / "report.html"
    html = page.read_text("utf-8")
    assert html.index("Capability (lm-evaluation-harness)") < html.index("Lifelong editing") < html.index(
        "capability: world_knowledge 1.0, as edits accumulate")
    shown = render(page, tmp_path, screenshot=False)
    assert not shown.console, shown.console
    charts = chart_divs(shown.dom)
    titles = {cid: re.search(r'class="gtitle"[^>]*>([^<]*)<', inner) for cid, inner in charts.items()}
    wanted = ["world_knowledge 1.0: change per language", "world_fluency 1.0: change per language",
              "capability: world_knowledge 1.0, as edits accumulate",
              "capability: world_fluency 1.0, as edits accumulate"]
    for title in wanted:
        cid = next(c for c, m in titles.items() if m and m.group(1) == title)
        assert drawn(charts[cid]), title
