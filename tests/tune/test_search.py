"""The search loop on a fake scorer (the bench run replaced by a fixed function of the hyperparameters):
determinism, resume = uninterrupted, failed trials, the files, and bad input. The real bench is in
test_tune_world.py."""

import json

import pytest
import yaml

from helpers.tune_fakes import FAKE_LM
from polyedit.errors import PolyeditError
from polyedit.methods import get_method
from polyedit.tune.config import TuneConfig, split_spec
from polyedit.tune.results import choose
from polyedit.tune.study import run_tune


def cfg(data, **kw):
    return TuneConfig(**{"model": "fake", "method": "ft-l", "data": data, "trials": 6, "cases": 2, **kw})


def outcome(out):
    """Everything a search decided, without timings."""
    rows = [{k: v for k, v in r.items() if k not in ("seconds", "seconds_per_edit")}
            for r in json.loads((out / "trials.json").read_text())]
    body = "".join(line for line in (out / "chosen.yaml").read_text().splitlines(True) if not line.startswith("#"))
    return rows, json.loads((out / "pareto.json").read_text()), body


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_resumed_after_two_kills_equals_uninterrupted(tiny_data, fake_bench, tmp_path, sampler):
    c = cfg(tiny_data, sampler=sampler)
    run_tune(c, tmp_path / "a", lm=FAKE_LM, progress=False)
    # killed twice: once between trials (after trial 2 is told), once inside trial 4's run (left RUNNING)
    def stop_after(number):
        if number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tune(c, tmp_path / "c", lm=FAKE_LM, progress=False, after_trial=stop_after)
    fake_bench.interrupt_at = fake_bench.calls + 2  # the second scoring of the next start: trial 4
    with pytest.raises(KeyboardInterrupt):
        run_tune(c, tmp_path / "c", lm=FAKE_LM, progress=False)
    import optuna

    study = optuna.load_study(study_name="polyedit-tune", storage=f"sqlite:///{tmp_path / 'c' / 'study.db'}")
    assert [t.state.name for t in study.trials][4] == "RUNNING"  # cut short inside its run
    fake_bench.interrupt_at = None
    run_tune(c, tmp_path / "c", lm=FAKE_LM, progress=False)
    assert outcome(tmp_path / "c") == outcome(tmp_path / "a")  # two fresh starts, one seed: the same trials
    record = json.loads((tmp_path / "c" / "tune.json").read_text())
    assert len(record["sessions"]) == 3 and sum(s["trials"] for s in record["sessions"]) == 6


def test_another_seed_other_trials(tiny_data, fake_bench, tmp_path):
    run_tune(cfg(tiny_data, trials=3), tmp_path / "a", lm=FAKE_LM, progress=False)
    run_tune(cfg(tiny_data, trials=3, seed=1), tmp_path / "b", lm=FAKE_LM, progress=False)
    assert outcome(tmp_path / "a")[0] != outcome(tmp_path / "b")[0]


def test_files_chosen_and_failed_trials(tiny_data, fake_bench, tmp_path):
    out = tmp_path / "s"
    res = run_tune(cfg(tiny_data, trials=12, locality_floor=0.9), out, lm=FAKE_LM, progress=False,
                   command="polyedit tune ...")["result"]
    rows = json.loads((out / "trials.json").read_text())
    assert len(rows) == 12 and res["finished"] == 12 and res["complete"] + res["failed"] == 12
    for r in rows:  # every trial's hyperparameters inside the declared space
        assert 1e-4 <= r["params"]["lr"] <= 1e-1 and 5 <= r["params"]["steps"] <= 100 and r["params"]["layers"] in (
            [0], [1], [2], [3])
        assert ("error" in r) == (r["state"] == "FAIL") == (r["params"]["lr"] > 0.05)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    ok = [r for r in done if r["locality"] >= 0.9]
    chosen = json.loads((out / "chosen.json").read_text())["chosen"]
    assert chosen["transfer"] == max(r["transfer"] for r in ok) and chosen["meets_floor"]
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objectives"] == ["locality", "transfer"] and pareto["chosen"] == chosen["number"]
    front = [t for t in pareto["trials"] if t["pareto"]]
    for t in front:  # no trial beats a front point on both objectives
        assert not any(o["locality"] >= t["locality"] and o["transfer"] >= t["transfer"] and
                       (o["locality"], o["transfer"]) != (t["locality"], t["transfer"]) for o in pareto["trials"])
    text = (out / "chosen.yaml").read_text()
    assert "# command: polyedit tune ..." in text and "budget: 12 trials" in text and "split: dev" in text
    assert "seed 0" in text and "wall time:" in text
    hp = get_method("ft-l", str(out / "chosen.yaml")).hparams  # usable with --hparams, every field given
    assert hp.to_dict() == {**get_method("ft-l").hparams.to_dict(), **chosen["params"]}
    assert set(yaml.safe_load(text)) == set(hp.to_dict())
    record = json.loads((out / "tune.json").read_text())
    assert record["split"] == "dev" and record["dev_data"].endswith(":split=dev")
    assert record["space"]["lr"] == "real in [0.0001, 0.1], log scale"


def test_budget_can_grow_and_the_first_trials_stay(tiny_data, fake_bench, tmp_path):
    run_tune(cfg(tiny_data, trials=4), tmp_path / "a", lm=FAKE_LM, progress=False)
    first = outcome(tmp_path / "a")[0]
    run_tune(cfg(tiny_data, trials=6), tmp_path / "a", lm=FAKE_LM, progress=False)
    rows = outcome(tmp_path / "a")[0]
    assert rows[:4] == first and len(rows) == 6
    with pytest.raises(PolyeditError, match="at least that"):
        run_tune(cfg(tiny_data, trials=3), tmp_path / "a", lm=FAKE_LM, progress=False)


def test_choose_at_the_floor():
    rows = [{"number": 0, "state": "COMPLETE", "transfer": 0.9, "locality": 0.80},
            {"number": 1, "state": "COMPLETE", "transfer": 0.5, "locality": 0.96},
            {"number": 2, "state": "COMPLETE", "transfer": 0.5, "locality": 0.97},
            {"number": 3, "state": "FAIL"}]
    assert choose(rows, 0.95)["number"] == 2  # tie on transfer: the higher locality
    assert choose(rows, 0.5)["number"] == 0
    none = choose(rows, 0.99)
    assert none["number"] == 2 and not none["meets_floor"]
    assert choose([{"number": 0, "state": "FAIL"}], 0.9) is None


def test_the_split_is_dev_and_bad_input_is_one_line(tiny_data, fake_bench, tmp_path):
    assert split_spec("world:medium", "dev") == "world:medium:split=dev"
    assert split_spec("world:medium:n=5:split=dev", "test") == "world:medium:n=5:split=test"
    with pytest.raises(PolyeditError, match="dev split"):
        cfg("world:small:split=test")
    for bad, msg in (({"trials": 0}, "^trials: must be at least 1"), ({"locality_floor": 1.5}, "^locality_floor: "
                     "must be between 0 and 1"), ({"sampler": "grid"}, "^sampler: 'grid'"), ({"cases": 0}, "^cases: ")):
        with pytest.raises(PolyeditError, match=msg):
            cfg(tiny_data, **bad)
    with pytest.raises(PolyeditError, match="searches"):  # a fixed field that is also searched
        run_tune(cfg(tiny_data, base_hparams={"lr": 0.01}), tmp_path / "x", lm=FAKE_LM, progress=False)
    run_tune(cfg(tiny_data, trials=2), tmp_path / "y", lm=FAKE_LM, progress=False)
    with pytest.raises(PolyeditError, match="different search.*locality_floor"):
        run_tune(cfg(tiny_data, trials=2, locality_floor=0.5), tmp_path / "y", lm=FAKE_LM, progress=False)
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "something").write_text("x")
    with pytest.raises(PolyeditError, match="not empty"):
        run_tune(cfg(tiny_data, trials=2), tmp_path / "z", lm=FAKE_LM, progress=False)


KILLED = """
import importlib.util, os, signal
from polyedit.tune import study
from polyedit.tune.config import TuneConfig
spec = importlib.util.spec_from_file_location("tune_fakes", {fakes!r})
fakes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fakes)
calls = 0
def bench(lm, cfg, hp, folder, dataset):
    global calls
    calls += 1
    folder.mkdir(parents=True, exist_ok=True)
    if calls == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: as a killed process
    return fakes.fake_summary(hp)
study._bench = bench
study.run_tune(TuneConfig(model="fake", method="ft-l", data={data!r}, trials=6, cases=2), {out!r},
               lm=fakes.FAKE_LM, progress=False)
"""


def test_sigkill_inside_a_trial_then_resume_equals_uninterrupted(tiny_data, fake_bench, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    run_tune(cfg(tiny_data), tmp_path / "a", lm=FAKE_LM, progress=False)
    script = KILLED.format(fakes=str(Path(__file__).parents[1] / "helpers" / "tune_fakes.py"), data=tiny_data,
                           out=str(tmp_path / "k"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert len(json.loads((tmp_path / "k" / "trials.json").read_text())) == 3  # trial 3 was cut inside its run
    run_tune(cfg(tiny_data), tmp_path / "k", lm=FAKE_LM, progress=False)
    assert outcome(tmp_path / "k") == outcome(tmp_path / "a")
