"""A sweep's `capability` entry: checked as bench checks it, one shard per cell, and the cell's summary the
one `polyedit bench --capability` writes."""

import json

import pytest

from helpers.fast import WORLD_FT_M as FT_M
from polyedit.errors import PolyeditError
from polyedit.sweep import load_sweep, parse_sweep
from polyedit.sweep.runner import run_local
from helpers.requires import importable

DATA = "world:small:split=test"
CHECKS = {"tasks": ["world_fluency"], "limit": 2, "sample": 1}


def doc(**over):
    d = {"models": ["world:small"], "methods": ["ft-m"], "datasets": [DATA], "langs": ["en", "de"], "limit": 2,
         "modes": ["single", {"mode": "sequential", "checkpoints": [2], "recall_sample": 1}], "capability": CHECKS}
    d.update(over)
    return d


def test_capability_settings_reach_each_cell_and_sequential_cells_take_no_sample():
    single, sequential = parse_sweep(doc()).cells
    assert single.capability_settings() == {"capability": ["world_fluency"], "capability_limit": 2,
                                            "capability_sample": 1}
    assert sequential.capability_settings()["capability_sample"] is None
    assert "capability" not in parse_sweep(doc(capability=None)).cells[0].to_dict()  # older cells unchanged


@pytest.mark.parametrize("checks, message", [
    ({"tasks": []}, "sweep: capability: tasks: names no task"),
    ({"tasks": ["x"], "limit": 0}, "sweep: capability: limit: must be at least 1, got 0"),
    ({"tasks": ["x"], "samples": 2}, "sweep: capability.samples: unknown key"),
    ({"tasks": "x y".split(), "sample": "5"}, "sweep: capability: sample: must be a whole number, got '5'"),
])
def test_bad_capability_entries_are_one_line_naming_the_key(checks, message):
    with pytest.raises(PolyeditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_sweep(doc(capability=checks))


@pytest.mark.slow
def test_a_capability_cell_is_the_bench_run_with_the_same_flags(tmp_path):
    importable("lm_eval")
    from polyedit.api import bench
    from polyedit.models import load_model

    (tmp_path / "ftm.yaml").write_text(json.dumps(FT_M))
    spec = tmp_path / "sweep.yaml"
    spec.write_text(json.dumps(doc(methods=[{"name": "ft-m", "hparams": "ftm.yaml"}], modes=["single"],
                                   shard_size=1)))
    summaries = run_local(load_sweep(spec), tmp_path / "out", progress=False)
    (cell,) = summaries.values()
    direct = bench(load_model("world:small"), "ft-m", DATA, tmp_path / "b", langs=["en", "de"],
                   hparams=str(tmp_path / "ftm.yaml"), limit=2, capability=["world_fluency"], capability_limit=2,
                   capability_sample=1, progress=False)
    assert cell["capability"] == direct["capability"] and len(cell["capability"]["points"]) == 1
    (folder,) = [p.parent for p in (tmp_path / "out").glob("*/cell.json")]
    samples = [d / "capability_samples.jsonl" for d in (folder, tmp_path / "b")]
    assert samples[0].read_text() == samples[1].read_text()
    assert "## Capability (lm-evaluation-harness)" in (folder / "summary.md").read_text()
