"""A sweep file is checked whole before anything is written: a seed out of range, a model or a dataset that
cannot be resolved, a damaged YAML file are one line, exit 2, and no sweep.json nor cell folder."""

import pytest

from helpers.builders import write_sweep
from polyedit.cli.main import main


@pytest.mark.parametrize("over, message", [
    ({"seed": 10 ** 23}, "sweep.yaml: seed: must be between 0 and 2147483647, got 100000000000000000000000"),
    ({"seed": -1}, "sweep.yaml: seed: must be between 0 and 2147483647, got -1"),
    ({"models": ["/nonexistent/model"]}, "sweep.yaml: models[0]: model path '/nonexistent/model' does not exist"),
    ({"datasets": ["jsonl:/nonexistent/cases.jsonl"]}, "sweep.yaml: datasets[0].spec: jsonl dataset: no file at"),
])
def test_unresolvable_cells_are_refused_before_sweep_json(tmp_path, capsys, over, message):
    path = write_sweep(tmp_path, **over)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [
    (b"models: [world:small]\nout: \xff\n", "sweep.yaml:2: not UTF-8 text"),
    (b"models: " + b"[" * 2000 + b"]" * 2000 + b"\n", "sweep.yaml:1: nested more than 100 levels deep"),
    (b"models: [world:small]\nmodels: [gpt2]\n", "sweep.yaml:2: duplicate key 'models'"),
])
def test_damaged_sweep_files_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "sweep.yaml"
    path.write_bytes(content)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
