"""`polyedit tune` end to end on world:small with tiny budgets: trials scored by bench's own runs on the dev
split, --evaluate-test, --write-editing-yaml, and `polyedit report` over two searches."""

import json
import shutil

import pytest
import yaml

from polyedit.cli.main import main
from polyedit.methods import get_method
from polyedit.world.editing_yaml import shipped_path

ARGS = ["--model", "world:small", "--data", "world:small", "--trials", "2", "--cases", "1", "--langs", "en,de",
        "--evaluate-test", "--test-cases", "2"]


@pytest.mark.slow
def test_tune_two_methods_then_report_them(tmp_path, capsys):
    editing = tmp_path / "editing.yaml"
    shutil.copy(shipped_path(), editing)
    assert main(["tune", "--method", "ft-l", *ARGS, "--out", str(tmp_path / "ftl"), "--locality-floor", "0",
                 "--write-editing-yaml", str(editing)]) == 0
    assert main(["tune", "--method", "ft-m", *ARGS, "--out", str(tmp_path / "ftm"), "--locality-floor", "0"]) == 0
    out = capsys.readouterr().out
    assert "chosen trial" in out and "test split (2 cases)" in out and "(protocol answer, answer_em)" in out
    ftl = tmp_path / "ftl"
    for n in (0, 1):  # every trial is a bench run on the dev split, scored by the headline protocols
        run = json.loads((ftl / "trials" / f"{n:04d}" / "run.json").read_text())
        assert run["config"]["data"] == "world:small:split=dev" and run["config"]["limit"] == 1
        assert run["config"]["protocols"] == ["answer", "answer_locality"]
    test_run = json.loads((ftl / "test" / "run.json").read_text())
    assert test_run["config"]["data"] == "world:small:split=test"
    chosen = json.loads((ftl / "chosen.json").read_text())
    assert test_run["config"]["hparams"] == chosen["hparams"]
    assert get_method("ft-l", str(ftl / "chosen.yaml")).hparams.to_dict() == chosen["hparams"]
    written = yaml.safe_load(editing.read_text())["small"]["ft-l"]
    assert written == chosen["chosen"]["params"]
    assert "# tuned: `polyedit tune --model world:small --method ft-l" in editing.read_text()
    assert main(["tune", "--method", "ft-l", *ARGS, "--out", str(ftl), "--locality-floor", "0"]) == 0  # done: no-op
    assert len(json.loads((ftl / "trials.json").read_text())) == 2

    assert main(["report", str(ftl), str(tmp_path / "ftm"), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| ft-l | 2/2 × 1 | 0 |" in md and "| ft-m | 2/2 × 1 | 0 |" in md
    diff = json.loads((tmp_path / "report" / "report.json").read_text())["differences"]
    assert len(diff) == 1 and diff[0]["why_not"] is None and diff[0]["transfer"]["n_cases"] == 2
    assert diff[0]["transfer"]["other_languages"] and diff[0]["locality"]["kind"] == "locality"
    runs = json.loads((tmp_path / "report" / "report.json").read_text())["runs"]
    assert sorted(r.split("/")[-2:] for r in runs) == [["ftl", "test"], ["ftm", "test"]]  # no trial runs
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Tuning: Pareto fronts" in html and "Differences at matched locality" in html
