"""Commit loss: how much of a closed-form update survives being written into a half-precision weight
(`precision.add_to_weight`), recorded in the edit's info, noted and warned about once when most is lost."""

import logging

import pytest
import torch

from polyedit.methods import get_method, precision
from polyedit.methods.precision import add_to_weight
from helpers.fast import RANK_ONE


def test_commit_loss_known_answers():
    w = torch.ones(4, dtype=torch.bfloat16)
    assert add_to_weight(w, torch.full((4,), 1e-3)) == 1.0  # below half of bf16's spacing at 1.0 (2^-7)
    assert torch.equal(w, torch.ones(4, dtype=torch.bfloat16))  # nothing was committed
    assert add_to_weight(w, torch.full((4,), 2.0 ** -7)) == 0.0  # exactly representable: all of it
    assert float(w[0]) == 1.0078125
    w = torch.tensor([1.0, 1.0], dtype=torch.bfloat16)
    lost = add_to_weight(w, torch.tensor([0.25, 1e-3]))  # one entry kept, one rounded away
    assert lost == pytest.approx(1e-3 / (0.25 ** 2 + 1e-6) ** 0.5, rel=1e-3)
    assert add_to_weight(torch.ones(2), torch.tensor([0.25, -0.5])) == 0.0  # float32: exact here
    assert add_to_weight(torch.ones(2, dtype=torch.bfloat16), torch.zeros(2)) == 0.0


@pytest.fixture(scope="module")
def world_small():
    from polyedit.data.registry import load_dataset
    from polyedit.models.load import load_model

    return load_dataset("world:small", limit=1).cases[0].edit, load_model


# C = I and the table's v* steps, without prefixes; the default v* learning rate and clamp: a normal edit's size
FAST = {"stats_corpus": RANK_ONE["stats_corpus"], "v_steps": RANK_ONE["v_steps"], "prefixes": 0}


@pytest.mark.parametrize("method", ["rome", "memit"])
def test_a_normal_bf16_edit_mostly_survives_and_float32_keeps_all(world_small, method):
    edit, load_model = world_small
    for dtype, most in (("bfloat16", 0.2), ("float32", 1e-4)):
        lm = load_model("world:small", dtype=dtype)
        with get_method(method, FAST).apply(lm, [edit]) as handle:
            losses = handle.info["commit_loss"]
            assert losses and all(0 <= v < most for v in losses.values()), (dtype, losses)
            assert not handle.info.get("notes")


def test_a_tiny_bf16_update_is_measured_noted_and_warned_once(world_small, caplog, monkeypatch):
    edit, load_model = world_small
    monkeypatch.setattr(precision, "_warned", set())
    lm = load_model("world:small", dtype="bfloat16")
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    tiny = get_method("memit", {**FAST, "mom2_update_weight": 1e6})  # λ = 10^6: an update of ~1e-4 per entry
    with caplog.at_level(logging.WARNING, logger="polyedit.precision"):
        for _ in range(2):
            with tiny.apply(lm, [edit]) as handle:
                assert all(v > precision.MOST_LOST for v in handle.info["commit_loss"].values())
                assert any("rounded away" in note and "bfloat16" in note for note in handle.info["notes"])
    assert sum("rounded away" in r.getMessage() for r in caplog.records) == 1
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
