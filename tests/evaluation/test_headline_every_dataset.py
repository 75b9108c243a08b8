"""One meaning per headline on every dataset (evaluation/aggregate.py `headline_rule`): on the published
MzsRE and Bi-ZsRE files (../shared/data), `polyedit bench` reports the generated answer for reliability,
generality and portability and `answer_unchanged` for locality, the unedited model at 100% locality, with
the papers' teacher-forced token accuracy beside it, labelled as the paper's protocol."""

from __future__ import annotations

import json

import pytest
from helpers.requires import shared

from polyedit.cli.main import main

KINDS = ("reliability", "generality", "locality", "portability")


@pytest.fixture(scope="module")
def specs():
    return {"mzsre": f"mzsre:{shared('data/mzsre/data/MzsRE')}",
            "bizsre": f"bizsre:{shared('data/bi-zsre/eval/data/bizsre_test.json')}"}


@pytest.mark.parametrize("name", ["mzsre", "bizsre"])
def test_zsre_benchmarks_headline_the_generated_answer_and_answer_unchanged(name, specs, tmp_path, capsys):
    out, hp = tmp_path / name, tmp_path / "ft.yaml"
    hp.write_text("steps: 1\n")
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", f"{specs[name]}:langs=en,zh",
                 "--limit", "2", "--hparams", str(hp), "--out", str(out), "--no-log-samples"]) == 0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["headline"] == {"reliability": "answer_em", "generality": "answer_em",
                                   "locality": "answer_unchanged", "portability": "answer_em"}
    assert summary["no_headline"] == {}
    for kind in KINDS:
        entry = summary["mean"][kind]
        assert entry["protocol"]["kind"] == "generated" and entry["n_langs"] == 2
        # the paper's teacher-forced score is computed beside the headline and says what it is
        diag = summary["diagnostics"][kind]["token_accuracy"]
        assert diag["role"] == "the paper's protocol" and diag["protocol"]["kind"] == "teacher-forced"
    assert summary["mean"]["locality"]["pre"] == 1.0  # the unedited model changed nothing
    assert summary["protocol_roles"]["token_accuracy"] == "the paper's protocol"
    assert summary["protocol_roles"]["answer"] == summary["protocol_roles"]["answer_locality"] == "headline"
    assert "the paper's protocol" in (out / "summary.md").read_text("utf-8")
