"""MEMLA's masked LoRA editor and the method end to end."""

import json

import pytest
import torch

from polyedit.data.cases import Probe, make_case
from polyedit.methods import get_method
from polyedit.methods.memla import MEMLAHParams
from polyedit.methods.memla.editor import build_pairs, commit
from polyedit.methods.memla.neurons import case_prompts, find_neuron_sets
from polyedit.models.arch import weight_out_in
from polyedit.models.hooks import trace
from helpers.weights import state_hash
from helpers.fast import fast

FAST = fast("memla")


def _out_weights(lm):
    return [weight_out_in(lm.model.get_submodule(n)).detach().clone() for n in lm.arch.mlp_out]


@pytest.mark.parametrize("family", ["gpt2", "llama"])  # Conv1D (in, out) storage and Linear (out, in)
def test_masked_lora_changes_only_the_neurons_output_vectors(lm_of, family):
    lm = lm_of(family)
    before = _out_weights(lm)
    cats = [{1: [3, 7]}, {1: [7, 11], 2: [0]}]
    pairs = build_pairs(lm, cats, 4, True, seed=0)
    assert [p.B.shape[1] for p in pairs[1]] == [8, 8] and pairs[2][0].B.shape[1] == 4  # r = 4 x |neurons|
    for layer_pairs in pairs.values():
        for p in layer_pairs:
            torch.nn.init.normal_(p.B)  # as after training; B starts at zero
    x = torch.randn(2, 5, lm.arch.intermediate_size)
    d = sum(p.delta() for p in pairs[1])
    assert torch.allclose(sum(p.forward(x) for p in pairs[1]), x @ d, atol=1e-4)  # ((x ⊙ m) B) A = x ΔW
    state = state_hash(lm.model)
    commit(lm, pairs, 0.5)
    after = _out_weights(lm)
    changed = {(l, i) for l in range(lm.arch.n_layers)
               for i in torch.nonzero((after[l] != before[l]).any(0)).flatten().tolist()}
    assert changed == {(1, 3), (1, 7), (1, 11), (2, 0)}
    assert torch.allclose(after[1] - before[1], 0.5 * d.T, atol=1e-5)
    with torch.no_grad():  # put back: the lm is shared
        for n, w in zip(lm.arch.mlp_out, before):
            weight_out_in(lm.model.get_submodule(n)).copy_(w)
    assert state_hash(lm.model) == state


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_committed_update_at_scale_one_equals_the_training_forward(lm_of, family):
    """The hook's h + x ΔW (training) and the committed W + ΔW give the same logits: orientation is right."""
    lm = lm_of(family)
    pairs = build_pairs(lm, [{0: [1, 2]}, {2: [4]}], 4, True, seed=1)
    for ps in pairs.values():
        for p in ps:
            torch.nn.init.normal_(p.B, std=0.1)
    ids = torch.tensor([[5, 6, 7, 8]])
    inputs = {}
    names = {lm.arch.mlp_out[l]: l for l in pairs}
    with torch.no_grad(), trace(lm.model, list(names), retain_output=False,
                                edit_input=lambda n, x: inputs.__setitem__(n, x) or x,
                                edit_output=lambda n, o: o + sum(p.forward(inputs[n]) for p in pairs[names[n]])):
        hooked = lm.model(input_ids=ids).logits
    before = _out_weights(lm)
    commit(lm, pairs, 1.0)
    with torch.no_grad():
        committed = lm.model(input_ids=ids).logits
        for n, w in zip(lm.arch.mlp_out, before):
            weight_out_in(lm.model.get_submodule(n)).copy_(w)
    assert torch.allclose(hooked, committed, atol=1e-4)


def test_memla_edits_only_selected_neurons_and_restores_bit_identically(lm_of, case):
    lm = lm_of("gpt2")
    hp = MEMLAHParams(**FAST)
    sets = find_neuron_sets(lm, case_prompts(case), "en", hp)
    before, h0 = _out_weights(lm), state_hash(lm.model)
    handle = get_method("memla", FAST).apply_cases(lm, [case])
    after = _out_weights(lm)
    changed = {(l, i) for l in range(lm.arch.n_layers)
               for i in torch.nonzero((after[l] != before[l]).any(0)).flatten().tolist()}
    assert changed and changed <= sets.independent | sets.specific
    info = handle.info
    assert info["neurons"][0]["counts"]["language_independent"] == len(sets.independent)
    assert info["neurons"][0]["pivots"] == ["en", "zh", "fr"] and info["training"][0]["steps"] >= 1
    json.dumps(info)
    handle.restore()
    assert state_hash(lm.model) == h0


def test_memla_is_deterministic(lm_of, case):
    lm = lm_of("qwen2")
    h0 = state_hash(lm.model)
    m = get_method("memla", {**FAST, "max_steps": 8})
    hashes, losses = [], []
    for _ in range(2):
        handle = m.apply_cases(lm, [case])
        hashes.append(state_hash(lm.model))
        losses.append(handle.info["training"][0]["loss"])
        handle.restore()
    assert hashes[0] == hashes[1] != h0 and losses[0] == losses[1]


@pytest.mark.parametrize("ablation,kept,dropped", [({"use_specific": False}, "independent", "specific"),
                                                   ({"use_independent": False}, "specific", "independent")])
def test_ablations_edit_one_category(lm_of, case, ablation, kept, dropped):
    """Each switch leaves exactly one category's neurons edited. At threshold 0.1 the tiny Llama has neurons in
    both categories (at 0.3 its en ∩ zh ∩ fr is empty, and the test would compare two empty sets)."""
    lm = lm_of("llama")
    fast = {**FAST, "threshold": 0.1}
    sets = find_neuron_sets(lm, case_prompts(case), "en", MEMLAHParams(**fast))
    assert sets.independent and sets.specific
    before = _out_weights(lm)
    handle = get_method("memla", {**fast, **ablation}).apply_cases(lm, [case])
    after = _out_weights(lm)
    changed = {(l, i) for l in range(lm.arch.n_layers)
               for i in torch.nonzero((after[l] != before[l]).any(0)).flatten().tolist()}
    assert changed == getattr(sets, kept) and not changed & getattr(sets, dropped)
    handle.restore()


def test_without_masks_the_whole_projection_of_those_layers_moves(lm_of, case):
    lm = lm_of("llama")
    before = _out_weights(lm)
    handle = get_method("memla", {**FAST, "use_masks": False}).apply_cases(lm, [case])
    after = _out_weights(lm)
    for layer in handle.info["layers"]:
        assert (after[layer] != before[layer]).any(0).float().mean() > 0.9
    handle.restore()


def test_missing_pivots_and_edit_only_fallback_never_crash(lm_of):
    lm = lm_of("bloom")
    h0 = state_hash(lm.model)
    c = make_case("c2", "de", "Frankreich", "Die Hauptstadt von Frankreich ist", "Berlin", "Paris",
                  [Probe("reliability", "ja", "フランスの首都は", "ベルリン", "パリ")])
    handle = get_method("memla", FAST).apply_cases(lm, [c])
    assert handle.info["neurons"][0]["missing_pivots"] == ["en", "zh", "fr"]
    assert any("no pivot" in n for n in handle.info["neurons"][0]["notes"])
    handle.restore()
    handle = get_method("memla", FAST).apply(lm, [c.edit])  # an Edit alone: the edit language only
    assert any("only the edit" in n for n in handle.info["neurons"][0]["notes"])
    handle.restore()
    assert state_hash(lm.model) == h0


def test_without_old_answer_the_models_greedy_answer_is_attributed(lm_of):
    """No target_true and no answer_true (BMIKE-53 zsRE): the model's greedy answers are the old answers, recorded
    per case, and the edit is the one made with those answers given."""
    from polyedit.methods.old_answers import greedy_answers

    lm = lm_of("bloom")
    h0 = state_hash(lm.model)
    probe = Probe("reliability", "fr", "La capitale de la France est", "Berlin", None, "France")
    no_true = make_case("c3", "en", "France", "The capital of France is", "Berlin", probes=[probe])
    old_en, old_fr = greedy_answers(lm, [(no_true.edit.prompt, "Berlin", "en"), (probe.prompt, "Berlin", "fr")])
    handle = get_method("memla", FAST).apply_cases(lm, [no_true])
    edited = state_hash(lm.model)
    # probe 0 is the edit prompt itself (make_case), probe 1 the French one
    assert handle.info["old_answers"] == [{"case_id": "c3", "edit_old_answer": old_en,
                                           "probes": {0: old_en, 1: old_fr}}]
    assert handle.info["layers"] and edited != h0
    handle.restore()
    given = make_case("c3", "en", "France", "The capital of France is", "Berlin", old_en,
                      [Probe("reliability", "fr", probe.prompt, "Berlin", old_fr, "France")])
    handle = get_method("memla", FAST).apply_cases(lm, [given])
    assert state_hash(lm.model) == edited and "old_answers" not in handle.info
    handle.restore()
    assert state_hash(lm.model) == h0


def test_memla_runs_on_every_family(tiny_lm, case):
    h0 = state_hash(tiny_lm.model)
    handle = get_method("memla", FAST).apply_cases(tiny_lm, [case])
    assert handle.info["layers"] and state_hash(tiny_lm.model) != h0
    handle.restore()
    assert state_hash(tiny_lm.model) == h0


def test_defaults_are_the_reference_constants():
    hp = MEMLAHParams()
    assert (hp.ig_steps, hp.threshold, hp.pivot_langs, hp.rank_per_neuron, hp.lr, hp.max_steps) == \
        (20, 0.3, ["en", "zh", "fr"], 4, 1e-3, 60)
    assert (hp.nll_weight, hp.true_prob_weight, hp.early_stop_loss, hp.early_stop_prob, hp.commit_scale) == \
        (2.5, 2.0, 0.01, 0.96, 0.5)
    with pytest.raises(Exception):
        MEMLAHParams.from_dict({"use_specific": False, "use_independent": False})
