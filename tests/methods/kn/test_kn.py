"""KN (Dai et al. 2022) on the shared attribution module."""

import json

import pytest
import torch

from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import load_dataset
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods import get_method
from polyedit.methods.knowledge_neurons.attribution import attribute
from polyedit.methods.kn import KNHParams
from polyedit.methods.kn.kn_main import answer_embedding, fact_prompts, refined_neurons
from polyedit.models.arch import weight_out_in
from helpers.weights import state_hash
from helpers.fast import fast

FAST = fast("kn")


def test_refined_neurons_keep_those_shared_by_more_than_p_of_the_prompts():
    a = torch.tensor([[1.0, 0.5, 0.0]])
    b = torch.tensor([[1.0, 0.0, 0.9]])
    c = torch.tensor([[0.0, 0.0, 1.0]])
    assert refined_neurons([a, b, c], 0.2, 0.5) == {(0, 0), (0, 2)}  # 2 of 3 > 1.5
    assert refined_neurons([a], 0.2, 0.5) == {(0, 0), (0, 1)}  # one prompt: every coarse neuron


def test_fact_prompts_add_the_edit_language_paraphrases(case):
    assert fact_prompts(case.edit, case) == [("The capital of France is", "Paris"),
                                             ("Paris is the capital of France, and the capital of France is",
                                              "Paris")]
    assert fact_prompts(case.edit) == [("The capital of France is", "Paris")]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_kn_shifts_exactly_the_neurons_value_slots(lm_of, case, family):
    lm = lm_of(family)
    hp = KNHParams(**FAST)
    atts = attribute(lm, [(p, a, "en") for p, a in fact_prompts(case.edit, case)], 4, "zero")
    neurons = refined_neurons([a.scores for a in atts], hp.threshold, hp.p)
    assert neurons
    shift = 2 * answer_embedding(lm, case.edit.prompt, "Berlin", "en") - 2 * answer_embedding(
        lm, case.edit.prompt, "Paris", "en")
    before = [weight_out_in(lm.model.get_submodule(n)).detach().clone() for n in lm.arch.mlp_out]
    h0 = state_hash(lm.model)
    handle = get_method("kn", FAST).apply_cases(lm, [case])
    after = [weight_out_in(lm.model.get_submodule(n)).detach().clone() for n in lm.arch.mlp_out]
    for layer in range(lm.arch.n_layers):
        diff = after[layer] - before[layer]
        cols = {i for (l, i) in neurons if l == layer}
        for i in range(diff.shape[1]):
            if i in cols:
                assert torch.allclose(diff[:, i], shift, atol=1e-5)
            else:
                assert not diff[:, i].any()
    assert handle.info["neurons"] == [len(neurons)]
    json.dumps(handle.info)
    handle.restore()
    assert state_hash(lm.model) == h0


def test_kn_runs_on_every_family_deterministically(tiny_lm, case):
    h0 = state_hash(tiny_lm.model)
    m = get_method("kn", FAST)
    hashes = []
    for _ in range(2):
        handle = m.apply(tiny_lm, [case.edit])
        hashes.append(state_hash(tiny_lm.model))
        handle.restore()
        assert state_hash(tiny_lm.model) == h0
    assert hashes[0] == hashes[1] != h0


def test_kn_without_old_answer_uses_the_models_greedy_answer(lm_of):
    """No target_true (BMIKE-53 zsRE): the old answer is the model's own greedy answer, recorded, and the edit is
    the one made with that answer given explicitly."""
    from polyedit.methods.old_answers import greedy_answers

    lm = lm_of("qwen2")
    h0 = state_hash(lm.model)
    c = make_case("c", "en", "France", "The capital of France is", "Berlin")
    old = greedy_answers(lm, [(c.edit.prompt, "Berlin", "en")])[0]
    assert old
    handle = get_method("kn", FAST).apply_cases(lm, [c])
    edited = state_hash(lm.model)
    # make_case makes the edit prompt its reliability probe: that probe gets the same old answer
    assert handle.info["old_answers"] == [{"case_id": "c", "edit_old_answer": old, "probes": {0: old}}]
    assert handle.info["neurons"][0] > 0 and edited != h0
    handle.restore()
    given = get_method("kn", FAST).apply_cases(lm, [make_case("c", "en", "France", "The capital of France is",
                                                              "Berlin", old)])
    assert state_hash(lm.model) == edited and "old_answers" not in given.info
    given.restore()
    handle = get_method("kn", FAST).apply(lm, [c.edit])  # an Edit alone too
    assert handle.info["old_answers"][0]["old_answer"] == old and state_hash(lm.model) == edited
    handle.restore()
    assert state_hash(lm.model) == h0


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("kn_data") / "cases.jsonl"
    cases = [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, "France",
                       [Probe("reliability", "zh", f"{s}是首都", t, "法国"),
                        Probe("generality", "en", f"The city of {s} is the capital of", t, "France"),
                        Probe("locality", "de", "Berlin ist die Hauptstadt von", "Deutschland")])
             for i, (s, t) in enumerate([("Paris", "Spain"), ("Berlin", "Italy"), ("Moscow", "Japan")])]
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases) + "\n")
    return path


@pytest.mark.parametrize("method,mode", [("kn", "batch"), ("kn", "sequential"), ("memla", "batch"),
                                         ("memla", "sequential")])
def test_runner_modes(lm_of, cases_file, tmp_path, method, mode):
    lm = lm_of("gpt2")
    h0 = state_hash(lm.model)
    data = f"jsonl:{cases_file}"
    hp = FAST if method == "kn" else {"ig_steps": 4, "max_steps": 2}
    cfg = BenchConfig(model="tiny", method=method, data=data, hparams=hp, mode=mode, edits_per_step=2)
    s = run_bench(lm, get_method(method, hp), load_dataset(data), tmp_path, cfg, progress=False)
    assert s["n_cases"] == 3 and state_hash(lm.model) == h0
    rec = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    layers = rec["info"]["layers"]  # the blocks whose MLP output projection the edit changed
    assert layers and layers == sorted(set(layers)) and all(0 <= x < lm.arch.n_layers for x in layers)
