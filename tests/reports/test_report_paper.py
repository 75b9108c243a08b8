"""`polyedit report` over two IKE runs of different models on the same cases: each run is named by its model in
every table, legend and title; their paired difference equals a paired bootstrap on their results.jsonl
rows; the CSV, LaTeX and `--format latex` outputs carry the leaderboard's numbers exactly; a run on other
cases is named as not paired, in one line; `--label` names a run by hand."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from polyedit.cli.main import main
from polyedit.evaluation.uncertainty import paired_bootstrap
from polyedit.reports.numbers import pct

MODELS = ("world:small", "world:medium")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper_runs")
    for model in MODELS:
        assert main(["bench", "--model", model, "--method", "ike", "--data", "world:small", "--langs", "en,de,ja",
                     "--limit", "3", "--out", str(root / model.replace(":", "-"))]) == 0
    assert main(["report", str(root / "world-small"), str(root / "world-medium"), "--out", str(root / "report")]) == 0
    return root


def _figures(page: str) -> list[dict]:
    """Every Plotly figure of the page, as the JSON handed to Plotly.newPlot."""
    out = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"chart-\d+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displayModeBar"', page, re.S):
        out.append({"data": json.loads(m.group(1)), "layout": json.loads(m.group(2))})
    return out


def test_runs_are_named_by_model_in_every_table_legend_and_title(runs):
    labels = {f"ike ({m})" for m in MODELS}
    md = (runs / "report" / "report.md").read_text()
    tables = [t for t in md.split("### ")[1:]]
    run_cells = [row.split(" | ")[0].strip("| ") for t in tables if t.startswith(("Runs", "Leaderboard", "world:small,"))
                 for row in t.splitlines() if row.startswith("| ike")]
    run_cells += [row.split(" | ")[1] for t in tables if t.startswith("Leaderboard") for row in t.splitlines()
                  if row.startswith("| en |")]
    assert {c for c in run_cells if c.startswith("ike")} == labels  # runs, leaderboard and matrix rows
    assert not re.search(r"^\| (en \| )?ike \|", md, re.M) and "ike, ike" not in md  # no row named "ike" alone
    page = (runs / "report" / "report.html").read_text()
    figs = _figures(page)
    assert len(figs) == page.count('class="plotly-graph-div"') >= 4  # the matrix, pre/post bars (not all-zero ones)
    for fig in figs:
        names = [t.get("name") for t in fig["data"] if t.get("type") == "bar"]
        assert all(n == "pre-edit" or any(lab in n for lab in labels) for n in names), names  # every legend
        rows = [y for t in fig["data"] if t.get("type") == "heatmap" for y in t["y"]]
        assert not rows or set(rows) == labels  # the matrix's rows
    assert "ike (world:small) − ike (world:medium) on world:small" in md  # the paired table's title
    labels_json = json.loads((runs / "report" / "report.json").read_text())["labels"]
    assert set(labels_json.values()) == labels


def _rows(folder: Path, kind: str, lang: str | None = None) -> list[tuple]:
    out = []
    for rec in map(json.loads, (folder / "results.jsonl").read_text().splitlines()):
        out += [(rec["case_id"], p["lang"], p["post"]["answer_unchanged" if kind == "locality" else "answer_em"])
                for p in rec["probes"] if p["kind"] == kind and (lang is None or p["lang"] == lang)]
    return out


def test_paired_difference_is_a_paired_bootstrap_over_the_shared_cases(runs):
    pairs = json.loads((runs / "report" / "report.json").read_text())["paired"]
    assert len(pairs) == 1 and (pairs[0]["a"], pairs[0]["b"]) == ("ike (world:small)", "ike (world:medium)")
    diff = pairs[0]["differences"]
    small, medium = runs / "world-small", runs / "world-medium"
    for kind in ("reliability", "locality"):
        direct = paired_bootstrap(_rows(small, kind), _rows(medium, kind))
        assert {k: diff[kind]["all languages"][k] for k in direct} == direct
        de = paired_bootstrap(_rows(small, kind, "de"), _rows(medium, kind, "de"))
        assert diff[kind]["de"]["diff"] == de["diff"] and diff[kind]["de"]["ci95"] == de["ci95"]
    loc = diff["locality"]["all languages"]
    assert loc["n_cases"] == 3 and loc["ci95"][0] <= loc["diff"] <= loc["ci95"][1]
    cell = f"{pct(loc['diff'])} [{pct(loc['ci95'][0])}, {pct(loc['ci95'][1])}]"
    md = (runs / "report" / "report.md").read_text()
    assert f"| ike (world:small) − ike (world:medium) | world:small | 3 |" in md and cell in md
    assert cell.replace(" ", "") in (runs / "report" / "report.html").read_text().replace(" ", "").replace("<br>", "")
    table = list(csv.DictReader((runs / "report" / "tables" / "paired-1.csv").open()))
    overall = next(r for r in table if r["language"] == "all languages")
    assert overall["locality (answer_unchanged) A − B"] == pct(loc["diff"])
    assert [overall["locality (answer_unchanged) A − B low"], overall["locality (answer_unchanged) A − B high"]] == [
        pct(x) for x in loc["ci95"]]


def _expected(folder: Path) -> dict[str, list[str]]:
    """From summary.json itself: each kind's (edit language, other languages, all) post, low, high, pre in %."""
    s = json.loads((folder / "summary.json").read_text())
    out = {}
    for kind, metric in s["headline"].items():
        entries = (s["per_language"]["en"][kind][metric], s["mean_excluding_edit_language"][kind], s["mean"][kind])
        out[kind] = [pct(x) for e in entries for x in (e["post"], *e["ci95"], e["pre"])]
    return out


def test_csv_latex_and_format_latex_reproduce_the_leaderboard(runs, capsys):
    board = list(csv.reader((runs / "report" / "tables" / "leaderboard-1.csv").open()))
    header, body = board[0], board[1:]
    tex = (runs / "report" / "tables" / "leaderboard-1.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\multicolumn{3}{c}{reliability}" in tex and "\\cmidrule(lr){4-6}" in tex  # a kind over its 3 columns
    capsys.readouterr()
    assert main(["report", str(runs / "world-small"), str(runs / "world-medium"), "--out", str(runs / "again"),
                 "--format", "latex"]) == 0
    printed = capsys.readouterr().out
    md = (runs / "report" / "report.md").read_text()
    for model in MODELS:
        label = f"ike ({model})"
        want = _expected(runs / model.replace(":", "-"))
        row = dict(zip(header, next(r for r in body if r[1] == label)))
        for kind, values in want.items():
            got = [row[f"{kind}, {scope}{suffix}"] for scope in ("edit language", "other languages", "all languages")
                   for suffix in ("", " low", " high", " pre")]
            assert got == values, (kind, got, values)
            cells = [f"{values[i]} [{values[i + 1]}, {values[i + 2]}] ({values[i + 3]})" for i in (0, 4, 8)]
            tex_row = next(line for line in tex.splitlines() if line.startswith(f"en & {label}"))
            assert all(c in tex_row for c in cells)
            assert tex_row in printed  # --format latex prints the same table
            md_row = next(line for line in md.splitlines() if line.startswith(f"| en | {label} |"))
            assert all(c.replace(" (", " (pre ") in md_row for c in cells)


def test_a_run_on_other_cases_is_not_paired_and_says_why(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs / "world-small", other)
    meta = json.loads((other / "run.json").read_text())
    meta["cases"] = meta["cases"][:2]
    (other / "run.json").write_text(json.dumps(meta))
    assert main(["report", str(runs / "world-medium"), str(other), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    lines = [x for x in md.splitlines() if "not paired with any run" in x]
    assert len(lines) == 2 and all(x.endswith(": different cases).") for x in lines)
    assert "- ike (world:medium) on world:small: not paired with any run (nearest, ike (world:small): different cases)." in lines
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["paired"] == []


def test_label_names_a_run_by_hand_and_a_bad_one_is_one_line(runs, tmp_path, capsys):
    assert main(["report", str(runs / "world-small"), str(runs / "world-medium"), "--out", str(tmp_path / "rep"),
                 "--label", "world-small=baseline"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| baseline | world-small |" in md and "baseline − ike (world:medium)" in md
    capsys.readouterr()
    assert main(["report", str(runs / "world-small"), "--out", str(tmp_path / "bad"), "--label", "nope=x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope' is not one of the report's run folders" in err[0]
    assert not (tmp_path / "bad").exists()  # nothing written


def test_grouped_leaderboard_is_the_summary_by_script(runs):
    table = list(csv.DictReader((runs / "report" / "tables" / "groups-1-script.csv").open()))
    s = json.loads((runs / "world-medium" / "summary.json").read_text())["groups"]["script"]
    got = {r["script"]: (r["reliability"], r["locality low"], r["locality pre"]) for r in table
           if r["run"] == "ike (world:medium)"}
    assert got == {g: (pct(e["reliability"]["post"]), pct(e["locality"]["ci95"][0]), pct(e["locality"]["pre"]))
                   for g, e in s.items()}
    assert set(got) == {"Latin", "Japanese"}  # en, de; ja
