import json
import os

import pytest

from helpers.builders import sweep_numbers as numbers, write_sweep
from polyedit.cli.main import main
from polyedit.sweep import load_sweep
from polyedit.sweep.runner import run_local


def test_grid_cells_are_bench_runs(local_sweep, tmp_path):
    from polyedit.api import bench
    from polyedit.models import load_model

    cells = sorted(p.parent.name for p in local_sweep.glob("*/cell.json"))
    assert len(cells) == 4 and json.loads((local_sweep / "sweep.json").read_text())["cells"][0]["langs"] == ["en", "de", "fr"]
    got = numbers(local_sweep)
    for name, cell in got.items():
        assert len(cell["results"]) == 3 and cell["summary"]["n_cases"] == 3
        assert set(cell["summary"]["per_language"]) == {"en", "de", "fr"}
    # a cell cut into shards [0, 2) and [2, 3) holds exactly what one `bench` over all three cases writes
    name = next(n for n in cells if "__lora__" in n and "edit_lang" in n)
    bench(load_model("world:small"), "lora", "world:small:edit_lang=de", tmp_path / "b", langs=["en", "de", "fr"],
          hparams=str(local_sweep.parent / "lora.yaml"), limit=3, progress=False)
    (tmp_path / "b" / "cell.json").write_text("{}")
    assert numbers(tmp_path)["b"] == got[name]
    run = json.loads((local_sweep / name / "run.json").read_text())
    assert run["config"] == json.loads((tmp_path / "b" / "run.json").read_text())["config"]
    assert run["sweep"]["shards"] == [[0, 2], [2, 3]]


def test_a_stopped_sweep_continues_where_it_was(local_sweep, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(local_sweep, out)
    cells = sorted(p.parent for p in out.glob("*/cell.json"))
    # cell 0 stopped inside its second shard (one case written, a torn line after it); cell 1 before assembly
    part = cells[0] / "shards" / "0001"
    lines = (part / "results.jsonl").read_text().splitlines()
    (part / "results.jsonl").write_text(lines[0][:50])
    for f in ("summary.json", "summary.md", "results.jsonl"):
        (part / f).unlink(missing_ok=True) if f != "results.jsonl" else None
        (cells[0] / f).unlink()
    for f in ("summary.json", "summary.md", "results.jsonl", "run.json"):
        (cells[1] / f).unlink()
    untouched = cells[2] / "shards" / "0000" / "results.jsonl"
    stamp = untouched.stat().st_mtime_ns
    run_local(load_sweep(write_sweep(tmp_path)), out, progress=False)
    assert numbers(out) == numbers(local_sweep)
    assert untouched.stat().st_mtime_ns == stamp  # finished shards are not run again


@pytest.mark.parametrize("over, message", [
    ({"method": ["ft-m"]}, "sweep.yaml: method: unknown key"),
    ({"methods": ["nope"]}, "methods[0].name: unknown method 'nope'"),
    ({"methods": [{"name": "lora", "hparams": "missing.yaml"}]}, "methods[0].hparams: no such file 'missing.yaml'"),
    ({"methods": [{"name": "lora", "hparams": "bad.yaml"}]}, "methods[0].hparams:"),
    ({"datasets": ["nosuch:x"]}, "datasets[0].spec: unknown dataset 'nosuch'"),
    ({"datasets": [{"spec": "world:small", "langs": ["xx-nope"]}]}, "datasets[0].langs:"),
    ({"langs": 3}, "langs: expected a list of names, got 3"),
    ({"modes": ["parallel"]}, "modes[0]: must be one of single, batch, sequential"),
    ({"modes": [{"mode": "batch", "edits_per_step": 0}]}, "modes[0].edits_per_step: must be at least 1, got 0"),
    ({"limit": "all"}, "limit: must be a whole number, got 'all'"),
    ({"resources": {"gpus": 1}}, "resources.gpus: unknown key"),
    ({"resources": {"workers": 0}}, "resources.workers: must be an integer >= 1"),
    ({"datasets": ["world:small", "world:small"]}, "two grid cells would share the folder"),
])
def test_bad_sweep_files_get_one_line_and_nothing_runs(tmp_path, capsys, over, message):
    (tmp_path / "bad.yaml").write_text("rnak: 4\n")
    path = write_sweep(tmp_path, **over)
    if "method" in over:
        doc = json.loads(path.read_text())
        doc["method"] = doc.pop("methods")
        path.write_text(json.dumps(doc))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_sweep_cli_runs_and_reuses_a_finished_folder(local_sweep, capsys):
    assert main(["sweep", str(local_sweep.parent / "sweep.yaml"), "--out", str(local_sweep)]) == 0
    assert "4 of 4 grid cells finished" in capsys.readouterr().out


def test_a_folder_holding_another_grid_is_refused(local_sweep, tmp_path, capsys):
    path = write_sweep(tmp_path, limit=2)
    assert main(["sweep", str(path), "--out", str(local_sweep)]) == 2
    assert "different configuration" in capsys.readouterr().err
