"""`polyedit sweep --dry-run`: every reproduction recipe in configs/reproduce plans against the real
benchmark files (cells, cases, probe languages, GPU-hour estimate) without loading a model or writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyedit.cli.main import main
from helpers.requires import bmike53_root, shared

RECIPES = sorted((Path(__file__).resolve().parents[2] / "configs" / "reproduce").glob("*.yaml"))
#: the published test-set sizes (../shared/data READMEs): what each recipe's cells must resolve to
PUBLISHED = {"bmike53_zsre": 743, "bmike53_counterfact": 1031, "bmike53_wikifactdiff": 784, "mzsre": 743}


@pytest.fixture
def data_env(monkeypatch):
    monkeypatch.setenv("BMIKE53_DIR", str(bmike53_root()))
    monkeypatch.setenv("MZSRE_DIR", str(shared("data/mzsre/data/MzsRE")))


def dry_run(path, tmp_path, capsys):
    code = main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "never")])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_recipes_are_there():
    names = {p.name for p in RECIPES}
    assert {"bmike53-llama3.1-8b.yaml", "bmike53-llama3.2-3b.yaml", "memla-mzsre-llama3.1-8b.yaml"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_plans_against_the_real_files(recipe, data_env, tmp_path, capsys):
    code, output = dry_run(recipe, tmp_path, capsys)
    assert code == 0, output
    lines = output.splitlines()
    n_cells = int(lines[0].split()[0])
    cells = [line for line in lines[1:-1] if line.startswith("  ")]
    assert len(cells) == n_cells > 0
    for line in cells:
        expected = next(n for key, n in PUBLISHED.items() if key in line)
        assert f": {expected} cases," in line, line
        assert "GPU h" in line
    assert "estimated" in lines[-1] and "not a measurement" in lines[-1]
    assert not (tmp_path / "never").exists()  # a dry run writes nothing
    if recipe.name.startswith("bmike53"):  # the paper's grid: 4 demonstration settings x 3 tasks, 53 languages
        settings = {s for s in ("zero_shot", "one_shot", "mixed_8", "metric_specific_8") if s in output}
        tasks = {t for t in ("zsre", "counterfact", "wikifactdiff") if f"bmike53_{t}" in output}
        assert settings == {"zero_shot", "one_shot", "mixed_8", "metric_specific_8"}
        assert tasks == {"zsre", "counterfact", "wikifactdiff"}
        assert "53 probe languages" in output


def test_validation_and_the_plan_load_each_dataset_once(data_env, tmp_path, capsys, monkeypatch):
    """A dry run's validation and plan share one load of each dataset; outside a dry run nothing is kept."""
    from polyedit.data import registry

    loads = []
    real = registry.load_dataset
    monkeypatch.setattr(registry, "load_dataset", lambda spec, **kw: loads.append(spec) or real(spec, **kw))
    recipe = next(p for p in RECIPES if p.name.startswith("memla"))
    code, output = dry_run(recipe, tmp_path, capsys)
    assert code == 0, output
    assert loads and len(loads) == len(set(loads))
    from polyedit.sweep import datasets

    assert datasets._kept is None


def test_an_unset_data_variable_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MZSRE_DIR", raising=False)
    recipe = next(p for p in RECIPES if p.name.startswith("memla"))
    code, output = dry_run(recipe, tmp_path, capsys)
    assert code == 2
    assert "environment variable MZSRE_DIR is not set" in output
    assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("cost, message", [
    ({"seconds_per_case": {"rome": 3}}, "cost.seconds_per_case.rome: not a method of this sweep"),
    ({"seconds_per_case": {"ft-m": -1}}, "cost.seconds_per_case.ft-m: must be a number of seconds > 0"),
    ({"gpus": "H100"}, "cost.gpus: unknown key"),
])
def test_a_bad_cost_table_is_named(cost, message, tmp_path):
    from polyedit.errors import PolyeditError
    from polyedit.sweep.spec import parse_sweep

    doc = {"models": ["world:small"], "methods": ["ft-m"], "datasets": ["world:small"], "cost": cost}
    with pytest.raises(PolyeditError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_sweep(doc)


def test_the_estimate_is_cases_times_the_tables_seconds(tmp_path):
    from polyedit.sweep.plan import plan
    from polyedit.sweep.spec import parse_sweep

    doc = {"models": ["world:small"], "methods": ["ft-m", "rome"], "datasets": ["world:small"], "limit": 6,
           "cost": {"gpu": "a test GPU", "seconds_per_case": {"ft-m": 600}}}
    plans = {p.cell.method: p for p in plan(parse_sweep(doc))}
    assert plans["ft-m"].cases == 6 and plans["ft-m"].gpu_hours == pytest.approx(1.0)
    assert plans["rome"].gpu_hours is None  # no seconds for it: no estimate, rather than a made-up one
