"""`polyedit bench` end to end on the real MzsRE files with non-English edit languages (zh, th, ru), on
`world:small` (whose byte-level tokenizer reads any text), through an in-context and a weight method;
the cross-lingual matrix (edit language x probe language) must fill. A few cases, a few languages."""

from __future__ import annotations

import json

import pytest
from helpers.requires import shared

from polyedit.cli.main import main

PROBED = ["en", "zh", "th", "ru"]


@pytest.mark.parametrize("edit_lang,method", [("zh", "ike"), ("th", "ft-m"), ("ru", "ike"), ("zh", "ft-m"),
                                              ("th", "rome")])
def test_bench_mzsre_non_english_edits(tmp_path, capsys, edit_lang, method):
    root = shared("data/mzsre/data/MzsRE")
    spec = f"mzsre:{root}:edit_lang={edit_lang}:split=test"
    out = tmp_path / "run"
    code = main(["bench", "--model", "world:small", "--method", method, "--data", spec, "--limit", "2",
                 "--langs", ",".join(PROBED), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == 2 and {r["edit"]["lang"] for r in records} == {edit_lang}
    assert all(r["subject_rule"] in ("exact", "casefold", "fuzzy", "last_token") for r in records)
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    matrix = summary["cross_lingual"]["reliability"]
    assert set(matrix) == {edit_lang} and set(matrix[edit_lang]) == set(PROBED)
    assert all(0.0 <= v <= 1.0 for v in matrix[edit_lang].values())
    assert set(summary["edit_to_others"]["reliability"]) == {edit_lang}
    # the run records its split: the spec is in run.json
    assert json.loads((out / "run.json").read_text("utf-8"))["config"]["data"] == spec
    md = (out / "summary.md").read_text("utf-8")
    assert "## reliability, edit language × probe language (post-edit)" in md
    assert f"| {edit_lang} | " in md.split("## reliability, edit language × probe language")[1]
    assert "en: published errors corrected (errata.json): 1" in md  # the loader's counts reach the summary
    assert ("th: edits whose prompt lacks the subject" in md) == (edit_lang == "th")
