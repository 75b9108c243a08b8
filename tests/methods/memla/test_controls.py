"""MEMLA's controls: each is a named method that differs from MEMLA in exactly the respect it controls, and a
test fails if one silently runs MEMLA's own configuration (the same neurons, masks, layers or rank)."""

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.methods import get_method
from polyedit.methods.base import METHODS, method_names
from polyedit.methods.memla.neurons import random_like
from test_memla import _out_weights
from helpers.fast import fast

CONTROLS = {"memla-random", "memla-lora", "memla-specific", "memla-independent"}
FAST_BOTH = fast("memla", threshold=0.1)  # the tiny Llama has neurons in both categories at 0.1


def _edit(lm, case, name):
    before = _out_weights(lm)
    handle = get_method(name, FAST_BOTH).apply_cases(lm, [case])
    delta = [a - b for a, b in zip(_out_weights(lm), before)]
    info = handle.info
    handle.restore()
    return info["editor"][0], info["layers"], delta


def test_the_controls_are_registered_with_memlas_search_space():
    assert {n for n in method_names() if METHODS.get(n).control_of == "memla"} == CONTROLS
    for name in CONTROLS:
        assert METHODS.get(name).hparams_class.search_space() == METHODS.get("memla").hparams_class.search_space()
        assert get_method(name).hparams.to_dict() != get_method("memla").hparams.to_dict()


@pytest.fixture(scope="module")
def memla_edit(lm_of, case):
    return _edit(lm_of("llama"), case, "memla")


@pytest.fixture(scope="module")
def case():
    from polyedit.data.cases import Probe, make_case

    return make_case("c1", "en", "France", "The capital of France is", "Berlin", "Paris", probes=[
        Probe("reliability", "zh", "法国的首都是", "柏林", "巴黎", "法国"),
        Probe("reliability", "fr", "La capitale de la France est", "Berlin", "Paris", "France"),
        Probe("generality", "en", "Paris is the capital of France, and the capital of France is", "Berlin", "Paris"),
    ])


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_a_control_is_not_memla_in_disguise(lm_of, case, memla_edit, name):
    ref, ref_layers, ref_delta = memla_edit
    assert set(ref["categories"]) == {"language_specific", "language_independent"}
    assert all(ref["categories"].values())  # both categories have neurons: the comparison is not vacuous
    got, layers, delta = _edit(lm_of("llama"), case, name)
    assert got != ref
    assert any(not torch.equal(a, b) for a, b in zip(delta, ref_delta))  # the edit itself differs
    if name == "memla-random":
        assert got["neuron_selection"] == "random" and got["masked"]
        for cat, by_layer in ref["categories"].items():
            mine = got["categories"][cat]
            assert {k: len(v) for k, v in mine.items()} == {k: len(v) for k, v in by_layer.items()}
            attributed = {(k, i) for c in ref["categories"].values() for k, v in c.items() for i in v}
            assert not {(k, i) for k, v in mine.items() for i in v} & attributed
    elif name == "memla-lora":
        assert got["categories"] == ref["categories"] and layers == ref_layers  # the same layers and rank
        assert got["rank_per_neuron"] == ref["rank_per_neuron"] and ref["masked"] and not got["masked"]
    else:
        kept = "language_specific" if name == "memla-specific" else "language_independent"
        assert got["categories"] == {kept: ref["categories"][kept]}


def test_a_control_cannot_be_turned_back_into_memla():
    for name, field, value in (("memla-random", "neuron_selection", "attributed"), ("memla-lora", "use_masks", True),
                               ("memla-specific", "use_independent", True),
                               ("memla-independent", "use_specific", True)):
        with pytest.raises(PolyeditError):
            get_method(name, {field: value})


def test_random_neurons_match_counts_avoid_the_attributed_and_are_seeded():
    cats = [{0: [1, 2, 3], 2: [5]}, {0: [4]}]
    exclude = {(0, i) for i in range(1, 6)} | {(2, 5)}
    a = random_like(cats, 40, exclude, seed=3)
    assert a == random_like(cats, 40, exclude, seed=3) != random_like(cats, 40, exclude, seed=4)
    assert [{k: len(v) for k, v in c.items()} for c in a] == [{0: 3, 2: 1}, {0: 1}]
    drawn = [(k, i) for c in a for k, v in c.items() for i in v]
    assert len(drawn) == len(set(drawn)) and not set(drawn) & exclude
