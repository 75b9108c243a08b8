"""`polyedit tune --objective lifelong`: a trial is a sequence of N dev edits scored after the last one by the
lifelong checkpoint (edit-language retention, recall of untouched facts), the chosen settings written with
their provenance beside other entries of a file of lifelong settings; end to end on world:small, then the
choosing rule and the refusals on their own."""

import json

import pytest
import yaml

from polyedit.cli.main import main
from polyedit.errors import PolyeditError
from polyedit.tune.config import TuneConfig
from polyedit.tune.lifelong import choose as lifelong_choose, floor
from polyedit.world.editing_yaml import shipped_path

OTHER = {"memit": {"hparams": {"v_lr": 0.5}, "provenance": {"trials": 9}}}  # an entry the write must keep


def test_lifelong_search_on_world_small(tmp_path, capsys):
    from helpers.requires import world_checkpoint

    world_checkpoint("small")
    settings = tmp_path / "lifelong.yaml"
    settings.write_text(yaml.safe_dump({"lifelong": {"world:small": OTHER}}))
    out = tmp_path / "search"
    assert main(["tune", "--model", "world:small", "--method", "grace", "--data", "world:small:edit_lang=en,de:mix=cycle",
                 "--trials", "2", "--objective", "lifelong", "--sequence-length", "3", "--recall-sample", "2",
                 "--langs", "en,de", "--recall-floor", "0.5", "--out", str(out),
                 "--write-lifelong", str(settings)]) == 0
    assert "after 3 edits, retention in the edit language" in capsys.readouterr().out
    record = json.loads((out / "tune.json").read_text())
    rows = json.loads((out / "trials.json").read_text())
    for row in rows:  # each trial: a sequential bench run of the first 3 dev cases, scored after the third
        run = json.loads((out / row["folder"] / "run.json").read_text())
        assert run["config"]["data"].endswith(":split=dev") and run["config"]["mode"] == "sequential"
        assert (run["config"]["limit"], run["config"]["edits_per_step"], run["config"]["checkpoints"]) == (3, 1, [3])
        point = json.loads((out / row["folder"] / "summary.json").read_text())["lifelong"]["checkpoints"][-1]
        assert point["after_edits"] == 3
        assert row["retention"] == point["retention_edit_language"]["mean"]
        assert row["recall"] == point["recall"]["mean"]
        if point["locality"]["mean"] == 1.0:  # every untouched answer as the unedited model gave it
            assert row["recall"] == record["unedited_recall"]
    chosen = json.loads((out / "chosen.json").read_text())
    needed = 0.5 * record["unedited_recall"]
    s = {r["number"]: r["retention"] * min(1, r["recall"] / needed) for r in rows}
    assert chosen["chosen"]["number"] == max(rows, key=lambda r: (s[r["number"]], r["recall"], -r["number"]))["number"]
    assert chosen["chosen"]["score"] == s[chosen["chosen"]["number"]]
    written = yaml.safe_load(settings.read_text())["lifelong"]["world:small"]
    assert written["memit"] == OTHER["memit"]  # the other entry is kept
    entry = written["grace"]
    assert entry["hparams"] == chosen["hparams"]
    p = entry["provenance"]
    assert (p["sequence_length"], p["trials"], p["split"], p["seed"], p["chosen_trial"]) == (3, 2, "dev", 0,
                                                                                             chosen["chosen"]["number"])
    assert p["objective"].startswith("chosen: max S = retention_edit_language(N)") and p["score"] is not None and p["polyedit_version"] and p["date"]
    assert "--objective lifelong --sequence-length 3" in p["command"]
    from polyedit.reports.tuning import find_tunings

    assert find_tunings([out]) == []  # not drawn among the single-edit fronts (its values are not theirs)


def test_a_batch_editor_is_searched_at_the_step_its_lifelong_runs_edit(tmp_path):
    """--edits-per-step: each trial applies the sequence in steps of that many edits (a batch editor's lifelong
    rows edit in batches), recorded in the trial's run and in the written provenance."""
    settings = tmp_path / "lifelong.yaml"
    settings.write_text(yaml.safe_dump({"lifelong": {}}))
    out = tmp_path / "search"
    assert main(["tune", "--model", "world:small", "--method", "memit", "--data", "world:small:edit_lang=en,de:mix=cycle",
                 "--trials", "1", "--objective", "lifelong", "--sequence-length", "4", "--edits-per-step", "2",
                 "--recall-sample", "2", "--langs", "en,de", "--out", str(out), "--write-lifelong", str(settings)]) == 0
    row = json.loads((out / "trials.json").read_text())[0]
    run = json.loads((out / row["folder"] / "run.json").read_text())
    assert (run["config"]["limit"], run["config"]["edits_per_step"], run["config"]["checkpoints"]) == (4, 2, [4])
    provenance = yaml.safe_load(settings.read_text())["lifelong"]["world:small"]["memit"]["provenance"]
    assert provenance["edits_per_step"] == 2 and "--edits-per-step 2" in provenance["command"]


def test_chosen_is_the_retention_discounted_below_the_recall_floor():
    """S = retention × min(1, recall / needed): full retention above the floor, discounted in proportion below
    it, and a trial that edits nothing (retention 0, recall intact) never beats one that edits."""
    rows = [{"number": 0, "state": "COMPLETE", "retention": 0.0, "recall": 1.0},   # a no-op
            {"number": 1, "state": "COMPLETE", "retention": 0.8, "recall": 0.63},  # S = 0.8 × 0.7 = 0.56
            {"number": 2, "state": "COMPLETE", "retention": 0.6, "recall": 0.95},  # S = 0.6
            {"number": 3, "state": "FAIL"}]
    best = lifelong_choose(rows, 0.9)
    assert best["number"] == 2 and best["score"] == pytest.approx(0.6) and best["meets_floor"] is True
    assert lifelong_choose(rows, 0.6)["number"] == 1  # a lower floor: trial 1 keeps it, its 0.8 wins
    below = lifelong_choose(rows[:2], 0.9)
    assert below["number"] == 1 and below["score"] == pytest.approx(0.56) and below["meets_floor"] is False
    assert lifelong_choose(rows[:1], 0.9)["number"] == 0  # nothing edits: the no-op, its S 0 on record
    assert lifelong_choose([rows[3]], 0.9) is None
    cfg = TuneConfig(model="world:small", method="grace", data="world:small", trials=1, objective="lifelong",
                     recall_floor=0.5)
    assert floor(cfg, {"unedited_recall": 0.8}) == 0.4 and floor(cfg, {}) is None  # a share of recall₀


@pytest.mark.parametrize("kw,message", [  # the library names the field (the CLI prints its flag)
    ({"sequence_length": 5}, "sequence_length: needs objective lifelong"),
    ({"objective": "lifelong", "sequence_length": 0}, "sequence_length: must be at least 1, got 0"),
    ({"objective": "lifelong", "recall_floor": 1.5}, "recall_floor: must be between 0 and 1, got 1.5"),
    ({"objective": "lifelong", "sequence_length": 5, "edits_per_step": 2},
     "sequence_length: 5 is not a multiple of edits_per_step 2"),
    ({"edits_per_step": 2}, "edits_per_step: needs objective lifelong"),
    ({"objective": "forever"}, "objective: 'forever': expected one of 'single' or 'lifelong'"),
])
def test_bad_lifelong_settings_are_one_line(kw, message):
    with pytest.raises(PolyeditError, match=message):
        TuneConfig(model="world:small", method="grace", data="world:small", trials=1, **kw)


def test_a_lifelong_config_fills_its_defaults_and_a_single_one_keeps_its_identity():
    c = TuneConfig(model="world:small", method="grace", data="world:small", trials=1, objective="lifelong")
    assert (c.sequence_length, c.edits_per_step, c.recall_floor, c.recall_sample, c.retention_sample) == (
        200, 1, 0.9, 50, None)
    assert "edits_per_step" not in c.identity()  # one edit per step: the identity searches from before it have
    single = TuneConfig(model="world:small", method="grace", data="world:small", trials=1).identity()
    assert "objective" not in single and "sequence_length" not in single  # searches saved before still resume


@pytest.mark.parametrize("args,message", [
    (["--objective", "lifelong", "--evaluate-test"], "--evaluate-test is for the single-edit objective"),
    (["--write-lifelong", "x.yaml"], "--write-lifelong needs --objective lifelong"),
    (["--objective", "lifelong", "--write-lifelong", "EDITING"], "not a file of lifelong settings"),
    (["--objective", "lifelong", "--sequence-length", "96"], "--sequence-length 96: .* has 96 cases"),
])
def test_refused_before_any_trial_in_one_line(args, message, tmp_path, capsys):
    args = [str(shipped_path()) if a == "EDITING" else a for a in args]
    before = shipped_path().read_text()
    code = main(["tune", "--model", "world:small", "--method", "grace", "--data", "world:small", "--trials", "1",
                 "--out", str(tmp_path / "s"), *args])
    assert code == 2
    import re

    assert re.search(message, capsys.readouterr().err)
    assert shipped_path().read_text() == before and not (tmp_path / "s").exists()


def test_provenance_names_the_command_of_the_last_budget():
    from polyedit.tune.lifelong_settings import last_command

    grown = {"command": "tune --trials 3", "budgets": [{"trials": 3, "command": "tune --trials 3"},
                                                       {"trials": 6, "command": "tune --trials 6"}]}
    assert last_command(grown) == "tune --trials 6" and last_command({"command": "x", "budgets": []}) == "x"
