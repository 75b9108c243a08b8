"""A model's recommended hyperparameters (its `editing.yaml`) apply wherever the model is known: at apply time,
whoever built the method, and every handle records what it ran with. On `world:small` ROME edits move only
with them (`fact_token: prompt_last`), so a served edit that ignored them would answer the old fact."""

from __future__ import annotations

import json
import os

import pytest

from polyedit.methods import get_method

MODEL = os.environ.get("POLYEDIT_WORLD_MODEL", "world:small")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    saved = os.environ.get("POLYEDIT_STATS_DIR")
    os.environ["POLYEDIT_STATS_DIR"] = str(tmp_path_factory.mktemp("stats"))  # C is computed here, not in ~/.cache
    yield load_model(MODEL), load_dataset(f"world:{MODEL.removeprefix('world:')}").cases[:6]
    if saved is None:
        os.environ.pop("POLYEDIT_STATS_DIR")
    else:
        os.environ["POLYEDIT_STATS_DIR"] = saved


def passes(lm, edit, target):
    from polyedit.data.languages import join_target
    from polyedit.models.backend import HFBackend

    res = HFBackend(lm).score([join_target(edit.prompt, target, edit.lang)])[0]
    return res.argmax_ids == res.target_ids


def test_recommended_fields_fill_what_the_caller_left_out(world):
    lm, _ = world
    recommended = lm.meta["editing_hparams"]["rome"]
    assert recommended["fact_token"] == "prompt_last"
    without_model = get_method("rome")  # no lm: nothing known yet
    assert without_model.hparams.fact_token == "subject_last"
    assert without_model.resolved(lm).fact_token == "prompt_last"  # known at apply time
    assert without_model.resolved(lm).v_lr == recommended["v_lr"]
    mine = get_method("rome", {"v_lr": 0.25})
    assert mine.resolved(lm).v_lr == 0.25 and mine.resolved(lm).fact_token == "prompt_last"
    from polyedit.methods.rome import ROME, ROMEHParams

    assert ROME().resolved(lm).fact_token == "prompt_last"
    assert ROME(ROMEHParams()).resolved(lm).fact_token == "subject_last"  # an object is used as given


def test_every_handle_records_the_hyperparameters_it_ran_with(world):
    lm, cases = world
    handle = get_method("rome").apply(lm, [cases[0].edit])
    handle.restore()
    hp = handle.info["hparams"]
    assert hp["fact_token"] == "prompt_last" and hp["layer"] == 1 and hp["clamp_norm_factor"] == 100.0
    handle = get_method("ft-m", {"steps": 1}).apply_cases(lm, [cases[0]])
    handle.restore()
    assert handle.info["hparams"]["steps"] == 1


def test_served_edits_make_the_model_answer_the_new_fact(world, tmp_path):
    """serve/prepare.py's apply_edits, as `polyedit serve world:small --edits FILE --method rome` calls it,
    with no hyperparameters: the edited prompts are then answered with target_new."""
    from helpers.weights import state_hash

    from polyedit.serve.prepare import apply_edits

    lm, cases = world
    failing = [c for c in cases if not passes(lm, c.edit, c.edit.target_new)][:2]
    assert len(failing) == 2
    file = tmp_path / "edits.jsonl"
    file.write_text("".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in failing), "utf-8")
    before = state_hash(lm.model)
    saved = {k: v.clone() for k, v in lm.model.state_dict().items()}
    try:
        assert apply_edits(lm, file, "rome") == 2
        assert [passes(lm, c.edit, c.edit.target_new) for c in failing] == [True, True]
    finally:
        lm.model.load_state_dict(saved)
    assert state_hash(lm.model) == before


def test_in_context_methods_read_the_models_setting_at_apply_time(world):
    lm, cases = world
    assert lm.meta["editing_hparams"]["ike"]["setting"] == "zero_shot"
    m = get_method("ike")  # the class default is BMIKE-53's 8-shot mixed setting
    assert m.hparams.setting != "zero_shot"
    handle = m.apply_cases(lm, [cases[0]])
    assert handle.info["setting"] == "zero_shot" and handle.info["hparams"]["setting"] == "zero_shot"
    assert get_method("ike", {"setting": "one_shot"}).apply_cases(lm, [cases[0]]).info["setting"] == "one_shot"
