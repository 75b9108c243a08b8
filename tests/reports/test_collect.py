"""`polyedit report` over damaged run folders beside a good one: one line per damaged run, naming its file,
and the good run rendered; never a traceback."""

import json
import shutil

import pytest

from polyedit.cli.main import main

DAMAGES = {
    "deep_summary": ("summary.json", b"[" * 5000 + b"]" * 5000),
    "nested_summary": ("summary.json", b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}"),
    "non_utf8_summary": ("summary.json", b'{"n_cases": 1, "x": "\xff"}'),
    "list_summary": ("summary.json", b"[]"),
    "list_run": ("run.json", b"[1, 2]"),
    "invalid_pareto": ("pareto.json", b'{"objectives": ["locality"'),
    "pareto_wrong_shape": ("pareto.json", b'{"objectives": "ab", "trials": {}}'),
    "non_object_sample": ("samples.jsonl", b'[1, 2]\n{"case_id": "x"}\n'),
    "infinite_summary": ("summary.json", b'{"n_cases": 1e400}'),
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    (root / "fast.yaml").write_text("lr: 0.02\nsteps: 2\n")
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--langs", "en",
                 "--limit", "1", "--hparams", str(root / "fast.yaml"), "--out", str(root / "run")]) == 0
    return root / "run"


def _damaged(good_run, root, name):
    file, content = DAMAGES[name]
    shutil.copytree(good_run, root / name)
    (root / name / file).write_bytes(content)
    return root / name


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_each_damaged_run_is_one_line_and_the_good_run_renders(name, good_run, tmp_path, capsys):
    shutil.copytree(good_run, tmp_path / "runs" / "good")
    _damaged(good_run, tmp_path / "runs", name)
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    out, err = capsys.readouterr()
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and name in lines[0] and DAMAGES[name][0] in lines[0], err
    assert "Traceback" not in err
    assert "1 runs" in out
    assert "ft-m" in (tmp_path / "rep" / "report.md").read_text()


def test_all_damages_together_one_line_each(good_run, tmp_path, capsys):
    shutil.copytree(good_run, tmp_path / "runs" / "good")
    for name in DAMAGES:
        _damaged(good_run, tmp_path / "runs", name)
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    _, err = capsys.readouterr()
    lines = [x for x in err.splitlines() if x.strip()]
    assert sorted(next(n for n in DAMAGES if f"/{n}/" in x) for x in lines) == sorted(DAMAGES)


def test_only_damaged_runs_is_exit_2(good_run, tmp_path, capsys):
    _damaged(good_run, tmp_path / "runs", "list_run")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 2
    assert not (tmp_path / "rep" / "report.html").exists()


def test_a_torn_last_line_of_an_unfinished_log_is_not_damage(good_run, tmp_path, capsys):
    run = shutil.copytree(good_run, tmp_path / "runs" / "good")
    with open(run / "samples.jsonl", "a", encoding="utf-8") as f:
        f.write('{"case_id": "torn", "pro')
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    assert capsys.readouterr().err.strip() == ""
    assert json.loads((run / "summary.json").read_text())["n_cases"] == 1
