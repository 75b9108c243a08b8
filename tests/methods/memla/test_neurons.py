"""MEMLA's neuron categories: per-language union, pivot intersection, edit-language difference."""

import torch

from polyedit.data.cases import Probe, make_case
from polyedit.methods.memla import MEMLAHParams
from polyedit.methods.memla.neurons import (NeuronSets, case_prompts, find_neuron_sets, language_independent_neurons,
                                            language_neurons, language_specific_neurons, resolve_pivots)


def test_language_neurons_are_the_union_over_prompts_of_thresholded_neurons():
    a = torch.tensor([[1.0, 0.2], [0.5, 0.0]])  # max 1.0: keeps > 0.3
    b = torch.tensor([[0.0, 10.0], [2.0, 4.0]])  # max 10: keeps > 3.0
    assert language_neurons([a, b], 0.3) == {(0, 0), (1, 0), (0, 1), (1, 1)}
    assert language_neurons([b], 0.3) == {(0, 1), (1, 1)}


def test_independent_is_the_pivot_intersection_and_specific_the_rest_of_the_edit_language():
    per = {"en": {(0, 1), (0, 2), (1, 5)}, "zh": {(0, 1), (1, 5), (2, 9)}, "fr": {(0, 1), (1, 5), (1, 6)},
           "de": {(0, 1)}}
    ind = language_independent_neurons(per, ["en", "zh", "fr"])
    assert ind == {(0, 1), (1, 5)}
    assert language_specific_neurons(per["en"], ind) == {(0, 2)}
    assert language_specific_neurons({(0, 2), (1, 2)}, {(0, 2)}) == {(1, 2)}  # per layer: (1, 2) is not (0, 2)
    sets = NeuronSets("de", per, ["en", "zh", "fr"])
    assert sets.independent == ind and sets.specific == set()
    assert NeuronSets.by_layer(ind) == {0: [1], 1: [5]}
    assert sets.to_dict()["counts"]["per_language"]["zh"] == 3


def test_missing_pivots_fall_back_and_are_reported():
    assert resolve_pivots(["en", "zh", "fr"], ["en", "zh", "fr", "de"]) == (["en", "zh", "fr"], [], [])
    used, missing, notes = resolve_pivots(["en", "zh", "fr"], ["en", "de", "zh"])
    assert used == ["en", "zh"] and missing == ["fr"] and "fr" in notes[0]
    used, missing, notes = resolve_pivots(["en", "zh", "fr"], ["de", "ja"])
    assert used == ["de", "ja"] and missing == ["en", "zh", "fr"] and "no pivot" in notes[0]
    used, _, notes = resolve_pivots(["en", "zh"], ["en"])
    assert used == ["en"] and any("one pivot" in n for n in notes)
    assert resolve_pivots(["all"], ["en", "de"]) == (["en", "de"], [], [])


def test_case_prompts_take_reliability_and_generality_with_old_answers(case):
    prompts = case_prompts(case)
    assert prompts["en"] == [("The capital of France is", "Paris"),
                             ("Paris is the capital of France, and the capital of France is", "Paris")]
    assert prompts["zh"] == [("法国的首都是", "巴黎")] and "de" not in prompts  # locality is not the fact
    no_true = make_case("c", "en", "France", "The capital of France is", "Berlin", None,
                        [Probe("reliability", "zh", "法国的首都是", "柏林")])
    assert case_prompts(no_true) == {}


def test_find_neuron_sets_on_a_model_with_a_missing_pivot(lm_of, case):
    lm = lm_of("llama")
    hp = MEMLAHParams(ig_steps=4)
    prompts = case_prompts(case)
    del prompts["fr"]
    sets = find_neuron_sets(lm, prompts, "en", hp)
    assert sets.pivots == ["en", "zh"] and sets.missing_pivots == ["fr"] and sets.notes
    assert sets.per_language["en"] and sets.per_language["zh"]
    assert sets.independent == sets.per_language["en"] & sets.per_language["zh"]
    assert sets.specific == sets.per_language["en"] - sets.independent
