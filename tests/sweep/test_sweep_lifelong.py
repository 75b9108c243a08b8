"""A sweep's mode entry takes bench's lifelong checkpoints: checked as bench checks them (one line naming
the spec file and key), recorded in the cell, and run to exactly what `polyedit bench` writes, resumed too."""

import json
import shutil

import pytest

from helpers.builders import sweep_numbers as numbers
from helpers.fast import WORLD_FT_M as FT_M
from helpers.run_files import numbers_only
from polyedit.cli.main import main
from polyedit.errors import PolyeditError
from polyedit.sweep import load_sweep, parse_sweep
from polyedit.sweep.runner import run_local

DATA = "world:small:edit_lang=all:mix=cycle"  # 132 cases, edits in all 12 languages
LIFELONG = {"mode": "sequential", "edits_per_step": 1, "checkpoints": [3, 6], "retention_sample": 4,
            "recall_sample": 5}
LANGS = ["en", "de", "fr"]  # probe languages: enough to compare, a third of the work of all 12
CELL = "world_small__ft-m__ftm__world_small_edit_lang=all_mix=cycle__en-de-fr__"  # a cell's folder, but its mode


def write_lifelong_sweep(folder, modes=(LIFELONG,), **over):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ftm.yaml").write_text(json.dumps(FT_M))
    doc = {"models": ["world:small"], "methods": [{"name": "ft-m", "hparams": "ftm.yaml"}], "datasets": [DATA],
           "langs": LANGS, "modes": list(modes), "limit": 6, "shard_size": 2}
    doc.update(over)
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def lifelong_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("lifelong_sweep")
    run_local(load_sweep(write_lifelong_sweep(root)), root / "out", progress=False)
    return root / "out"


def _cell(out):
    (cell,) = [p.parent for p in out.glob("*/cell.json")]
    return cell


def _lines(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_a_checkpoint_cell_is_the_bench_run_with_the_same_flags(lifelong_sweep, tmp_path):
    from polyedit.api import bench
    from polyedit.models import load_model

    cell = _cell(lifelong_sweep)
    assert cell.name == f"{CELL}sequential1_ck3-6_ret4_rec5"
    direct = tmp_path / "b"
    summary = bench(load_model("world:small"), "ft-m", DATA, direct, langs=LANGS,
                    hparams=str(lifelong_sweep.parent / "ftm.yaml"), mode="sequential", edits_per_step=1, limit=6,
                    checkpoints=[3, 6], retention_sample=4, recall_sample=5, progress=False)
    assert [p["after_edits"] for p in summary["lifelong"]["checkpoints"]] == [3, 6]
    assert numbers_only(_lines(cell / "checkpoints.jsonl")) == numbers_only(_lines(direct / "checkpoints.jsonl"))
    got = json.loads((cell / "summary.json").read_text())
    assert numbers_only(got["lifelong"]) == numbers_only(summary["lifelong"])  # the edit seconds aside
    (direct / "cell.json").write_text("{}")
    assert numbers(tmp_path)["b"] == numbers(lifelong_sweep)[cell.name]  # results.jsonl and summary.json
    run, ref = (json.loads((d / "run.json").read_text()) for d in (cell, direct))
    for key in ("config", "hparams", "cases", "lifelong"):
        assert run[key] == ref[key], key
    assert run["lifelong"]["untouched_cases"] == 5 and run["sweep"]["shards"] == [[0, 6]]
    cell_json = json.loads((cell / "cell.json").read_text())
    assert cell_json["checkpoints"] == [3, 6] and cell_json["recall_sample"] == 5


def test_a_killed_checkpoint_cell_resumes_to_the_same_checkpoints(lifelong_sweep, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(lifelong_sweep, out)
    cell = _cell(out)
    shard = cell / "shards" / "0000"
    # killed while writing the 5th edit's results, after the first checkpoint, the second torn mid-line
    results = (shard / "results.jsonl").read_text().splitlines()
    (shard / "results.jsonl").write_text("\n".join(results[:4]) + "\n" + results[4][:40])
    points = (shard / "checkpoints.jsonl").read_text().splitlines()
    (shard / "checkpoints.jsonl").write_text(points[0] + "\n" + points[1][:60])
    for f in ("summary.json", "summary.md"):
        (shard / f).unlink()
    for f in ("summary.json", "summary.md", "results.jsonl", "run.json", "checkpoints.jsonl"):
        (cell / f).unlink()
    run_local(load_sweep(write_lifelong_sweep(tmp_path)), out, progress=False)
    assert numbers_only(_lines(cell / "checkpoints.jsonl")) == numbers_only(_lines(_cell(lifelong_sweep) / "checkpoints.jsonl"))
    assert numbers(out) == numbers(lifelong_sweep)
    assert len(json.loads((shard / "run.json").read_text())["resumed"]) == 1


def test_the_lifelong_keys_are_part_of_the_cell(tmp_path):
    doc = json.loads(write_lifelong_sweep(tmp_path, modes=["sequential", LIFELONG]).read_text())
    plain, life = parse_sweep(doc, "s.yaml", tmp_path).cells
    assert plain.name != life.name and plain.name.endswith("__sequential1")
    assert life.checkpoints == (3, 6) and (life.retention_sample, life.recall_sample) == (4, 5)
    # a cell without checkpoints is recorded as before, so a sweep folder written then still resumes
    assert set(plain.to_dict()) == {"model", "method", "data", "langs", "hparams", "mode", "edits_per_step",
                                    "limit", "seed"}
    doc["modes"] = [LIFELONG, dict(LIFELONG, checkpoints=[6, 3])]  # bench orders [6, 3] as [3, 6]: one run
    with pytest.raises(PolyeditError, match="two grid cells would share the folder"):
        parse_sweep(doc, "s.yaml", tmp_path)
    doc["modes"] = [{"mode": "sequential", "checkpoints": [2]}]
    (default,) = parse_sweep(doc, "s.yaml", tmp_path).cells
    assert (default.retention_sample, default.recall_sample) == (None, 50)  # bench's defaults: the bounded sample, 50


@pytest.mark.parametrize("mode, over, message", [
    (dict(LIFELONG, mode="single"), {}, "modes[0].checkpoints: needs mode sequential (edits must accumulate)"),
    (dict(LIFELONG, mode="batch", edits_per_step=2), {},
     "modes[0].checkpoints: needs mode sequential (edits must accumulate)"),
    (dict(LIFELONG, edits_per_step=2), {}, "modes[0].checkpoints: 3 is not a multiple of edits_per_step 2"),
    (dict(LIFELONG, checkpoints=[3, 0]), {}, "modes[0].checkpoints: 0 is not a positive whole number of edits"),
    (dict(LIFELONG, checkpoints=[3, "6"]), {}, "modes[0].checkpoints: must be a whole number, got '6'"),
    (dict(LIFELONG, checkpoints=[3, 8]), {}, "modes[0].checkpoints: 8 is more edits than the run makes (6 cases)"),
    (dict(LIFELONG, checkpoints="3,x"), {},  # a string is read as bench's --checkpoints reads it
     "modes[0].checkpoints: expected comma-separated edit counts such as 100,500,1000, got '3,x'"),
    (dict(LIFELONG, checkpoints=[]), {}, "modes[0].checkpoints: names no edit count"),
    (dict(LIFELONG, retention_sample=0), {}, "modes[0].retention_sample: must be at least 1, got 0"),
    (dict(LIFELONG, recall_sample=2.5), {}, "modes[0].recall_sample: must be a whole number, got 2.5"),
    ({"mode": "sequential", "recall_sample": 5}, {},
     "modes[0].recall_sample: needs checkpoints (it sizes what a checkpoint measures)"),
    (dict(LIFELONG, checkpoint=[3]), {}, "modes[0].checkpoint: unknown key (known: checkpoints, edits_per_step, "
                                         "mode, recall_sample, retention_sample)"),
    # known once the dataset is read (132 cases), still before anything is written
    (dict(LIFELONG, checkpoints=[150]), {"limit": 200},
     f"{CELL}sequential1_ck150_ret4_rec5: "
     f"checkpoints: 150 is more edits than the run makes (132 cases)"),
    (LIFELONG, {"limit": None},
     f"{CELL}sequential1_ck3-6_ret4_rec5: "
     f"checkpoints: recall and locality are measured on cases the run does not edit, and it edits all 132; "
     f"pass limit below 132"),
])
def test_bad_lifelong_keys_get_one_line_naming_file_and_key(tmp_path, capsys, mode, over, message):
    path = write_lifelong_sweep(tmp_path, modes=[mode], **over)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"polyedit: error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()
