"""`polyedit tune --capability TASKS --capability-max-drop X`: a trial whose edits lowered a task's headline
metric by more than X is infeasible: recorded so in trial.json and pareto.json, told to Optuna as a
constraint (off the Pareto front), never chosen; end to end on world:small with a tiny budget."""

import json
from pathlib import Path

import optuna
import pytest

from polyedit.cli.main import main
from polyedit.errors import PolyeditError
from polyedit.tune.config import TuneConfig
from polyedit.tune.results import choose
from polyedit.tune.study import STUDY_FILE, STUDY_NAME, run_tune
from helpers.requires import importable
from helpers.tune_fakes import FAKE_LM, fake_summary


def _with_capability(hp) -> dict:
    """The fake summary, with a capability check whose drop grows with FT-L's radius (0.1 at the largest)."""
    drop = round(min(1.0, hp.norm_constraint * 20) / 10, 6)
    task = {"headline": "acc", "higher_is_better": {"acc": True},
            "metrics": {"acc": {"before": 0.9, "after": 0.9 - drop, "diff": -drop}}}
    point = {"point": "edit c0", "after_edits": 1, "tasks": {"t": task}}
    return {**fake_summary(hp), "capability": {"settings": {"mode": "single"}, "points": [point]}}


@pytest.fixture
def capability_bench(monkeypatch):
    def bench(lm, cfg, hp, folder: Path, dataset):
        folder.mkdir(parents=True, exist_ok=True)
        return _with_capability(hp)

    monkeypatch.setattr("polyedit.tune.study._bench", bench)


def test_a_trial_over_the_bound_is_infeasible_recorded_and_never_chosen(tiny_data, capability_bench, tmp_path):
    cfg = TuneConfig(model="fake", method="ft-l", data=tiny_data, trials=8, cases=2, locality_floor=0.0,
                     capability=["t"], capability_max_drop=0.02)
    res = run_tune(cfg, tmp_path / "s", lm=FAKE_LM, progress=False)
    rows = [r for r in json.loads((tmp_path / "s" / "trials.json").read_text()) if r["state"] == "COMPLETE"]
    assert {r["feasible"] for r in rows} == {True, False}  # the bound splits this search's trials
    for r in rows:
        drop = r["capability_drop"]["t"]["drop"]
        assert r["feasible"] == (drop <= 0.02) and r["capability_excess"] == pytest.approx(drop - 0.02)
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{tmp_path / 's' / STUDY_FILE}")
    told = {t.number: t.constraints for t in study.trials if t.state.name == "COMPLETE"}
    assert told == {r["number"]: {"capability": r["capability_excess"]} for r in rows}  # each trial's excess
    front = {t.number for t in study.best_trials}
    assert front and all(next(r for r in rows if r["number"] == n)["feasible"] for n in front)
    feasible = [r for r in rows if r["feasible"]]
    assert res["result"]["chosen"]["number"] == max(feasible, key=lambda r: (r["transfer"], r["locality"]))["number"]
    assert res["result"]["infeasible"] == len(rows) - len(feasible)
    assert max(rows, key=lambda r: r["transfer"])["feasible"] is False  # the bound changed the choice
    pareto = json.loads((tmp_path / "s" / "pareto.json").read_text())
    assert pareto["capability_max_drop"] == 0.02 and all("feasible" in t for t in pareto["trials"])
    assert "trials infeasible" in (tmp_path / "s" / "chosen.yaml").read_text()


def test_choose_skips_infeasible_trials():
    rows = [{"number": 0, "state": "COMPLETE", "transfer": 0.9, "locality": 0.99, "feasible": False},
            {"number": 1, "state": "COMPLETE", "transfer": 0.5, "locality": 0.99, "feasible": True}]
    assert choose(rows, 0.95)["number"] == 1
    assert choose(rows[:1], 0.95) is None


@pytest.mark.parametrize("kw, message", [
    (dict(capability=["t"]), "go together"),
    (dict(capability_max_drop=0.1), "go together"),
    (dict(capability=["t"], capability_max_drop=-1), "at least 0"),
    (dict(capability=["t"], capability_max_drop=0.1, capability_sample=0), "capability_sample: must be at least 1"),
])
def test_bad_constraint_settings_are_one_line(tiny_data, kw, message):
    with pytest.raises(PolyeditError, match=message):
        TuneConfig(model="fake", method="ft-l", data=tiny_data, trials=2, **kw)


def test_a_search_without_the_constraint_keeps_its_identity(tiny_data):
    assert "capability" not in TuneConfig(model="m", method="ft-l", data=tiny_data, trials=2).identity()


@pytest.mark.slow
def test_capability_constraint_end_to_end_on_world_small(tmp_path, capsys):
    importable("lm_eval")  # under CI=true a missing extra fails, not skips
    out = tmp_path / "t"
    code = main(["tune", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--trials", "2",
                 "--cases", "1", "--langs", "en,de", "--locality-floor", "0", "--capability", "world_fluency",
                 "--capability-limit", "2", "--capability-max-drop", "0", "--out", str(out)])
    record = json.loads((out / "tune.json").read_text())
    assert "--capability world_fluency --capability-max-drop 0 --capability-limit 2" in record["command"]
    assert "capability drop <= 0" in record["sampler"]["constraint"]
    for n in (0, 1):  # each trial's drop is its own bench run's capability check
        trial = json.loads((out / "trials" / f"{n:04d}" / "trial.json").read_text())
        e = json.loads((out / "trials" / f"{n:04d}" / "summary.json").read_text())["capability"]["points"][0][
            "tasks"]["world_fluency"]["metrics"]["logprob_per_char"]
        assert trial["capability_drop"]["world_fluency"] == {"metric": "logprob_per_char",
                                                             "drop": e["before"] - e["after"]}
        assert trial["feasible"] == (e["before"] - e["after"] <= 0)
    assert code == (0 if json.loads((out / "trials.json").read_text())[0].get("feasible") or
                    json.loads((out / "trials.json").read_text())[1].get("feasible") else 2)
