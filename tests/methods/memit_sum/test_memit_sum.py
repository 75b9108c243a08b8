"""memit-sum, the summation control of MEMIT, against its equations on world:small: one edit is MEMIT; n edits
write the sum of the n single-edit MEMIT updates computed on the unedited model (not MEMIT's joint update); a
sequence of calls writes what one batch writes; restore is bit-identical and forgets W₀."""

import pytest
import torch

from polyedit.methods import get_method
from polyedit.methods.memit import MEMITHParams
from polyedit.methods.memit_sum.base_weights import base_weights
from helpers.weights import state_hash

#: two layers, so that the bottom-up spread (layer 2's keys read after layer 1's write) is part of each update
HP = MEMITHParams(layers=[1, 2], stats_corpus="identity", prefixes=2, prefix_tokens=4, v_steps=10)


@pytest.fixture(scope="module")
def world():
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    world_checkpoint("small")
    lm = load_model("world:small")
    return lm, load_dataset("world:small").cases[:3], lm.arch.mlp_out_weights(HP.layers)


def weights(lm, names):
    return {n: lm.model.get_parameter(n).detach().double().clone() for n in names}


def delta_of(lm, names, method, cases):
    """ΔW (float64) of `method` on `cases` in one call, the model restored after."""
    before = weights(lm, names)
    h = get_method(method, HP).apply_cases(lm, cases)
    after = weights(lm, names)
    h.restore()
    return {n: after[n] - before[n] for n in names}


def test_one_edit_is_memit_bit_for_bit(world):
    lm, cases, names = world
    h = get_method("memit", HP).apply_cases(lm, cases[:1])
    memit = {n: lm.model.get_parameter(n).detach().clone() for n in names}
    h.restore()
    h = get_method("memit-sum", HP).apply_cases(lm, cases[:1])
    assert all(torch.equal(lm.model.get_parameter(n), memit[n]) for n in names)
    h.restore()


def test_a_batch_writes_the_sum_of_single_edit_memit_updates_not_the_joint_one(world):
    lm, cases, names = world
    before = state_hash(lm.model)
    singles = [delta_of(lm, names, "memit", [c]) for c in cases]
    summed = delta_of(lm, names, "memit-sum", cases)
    joint = delta_of(lm, names, "memit", cases)
    for n in names:
        want = sum(s[n] for s in singles)
        assert float(want.abs().max()) > 1e-3  # each layer is written
        # float32 commits: each single edit's W₀ + ΔW⁽ⁱ⁾ rounded once, the sum rounded once
        torch.testing.assert_close(summed[n], want, rtol=0, atol=1e-6)
        assert float((joint[n] - want).abs().max()) > 1e-4  # the control is not MEMIT's joint update
    assert state_hash(lm.model) == before and base_weights(lm) == {}


def test_a_sequence_writes_the_batch_and_restores_in_turn(world):
    lm, cases, names = world
    before = state_hash(lm.model)
    batch = delta_of(lm, names, "memit-sum", cases)
    w0 = weights(lm, names)
    m = get_method("memit-sum", HP)
    handles = [m.apply_cases(lm, [c]) for c in cases]  # each against W₀, not the model the earlier ones left
    assert set(base_weights(lm)) == set(names) and handles[1].recorded == []
    after = weights(lm, names)
    for n in names:
        torch.testing.assert_close(after[n] - w0[n], batch[n], rtol=0, atol=1e-6)
    handles[2].restore()
    assert set(base_weights(lm)) == set(names)  # the first edit is still in the model: W₀ is kept
    for h in reversed(handles[:2]):
        h.restore()
    assert state_hash(lm.model) == before and base_weights(lm) == {}


def test_a_refused_layer_range_names_the_control(world):
    from polyedit.errors import PolyeditError

    lm = world[0]
    with pytest.raises(PolyeditError, match="memit-sum"):
        get_method("memit-sum", {"layers": [99], "stats_corpus": "identity"}).apply(lm, [world[1][0].edit])
