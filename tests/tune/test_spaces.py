"""Every weight-editing method declares the space `polyedit tune` searches, beside its hyperparameters, and
every value that space offers is a valid hyperparameter."""

import pytest

from polyedit.methods.base import METHODS, method_names, param
from polyedit.methods.search import int_range, layer_sets, log_range
from polyedit.tune.space import check_space, search_space

WEIGHT_EDITING = [n for n in method_names() if not METHODS.get(n).edits_in_context]


def test_the_weight_editing_methods_are_all_covered():
    assert {"ft-l", "ft-m", "lora", "rome", "memit", "kn", "memla", "memla-random"} <= set(WEIGHT_EDITING)


@pytest.mark.parametrize("name", WEIGHT_EDITING)
@pytest.mark.parametrize("n_layers", [4, 24])
def test_a_weight_editing_method_declares_a_valid_search_space(name, n_layers):
    method = METHODS.get(name)
    declared = method.hparams_class.search_space()
    assert declared, f"{name} declares no search space: add param(..., search=...) to its hyperparameters"
    dims = search_space(method, n_layers)
    check_space(method, dims, {})  # both ends of every range, every choice: valid values of the field
    helps = method.hparams_class.help()
    assert all("[tuned: " in helps[d.name] for d in dims)  # `polyedit methods` shows what is searched


def test_memlas_space_has_the_knobs_that_decide_whether_it_edits():
    assert {"commit_scale", "max_steps", "lr", "threshold", "rank_per_neuron"} <= set(
        METHODS.get("memla").hparams_class.search_space())


def test_layer_sets_and_labels_round_trip():
    from polyedit.tune.space import Dimension

    d = Dimension("layers", layer_sets(), layer_sets().options(4))
    assert d.options[:4] == [[0], [1], [2], [3]] and [0, 1, 2, 3] in d.options and len(d.options) == 10
    assert all(d.decode(label) == value for label, value in zip(d.labels, d.options))
    r = Dimension("lr", log_range(1e-4, 1e-1), None)
    assert r.decode(0.01) == 0.01 and Dimension("k", int_range(1, 8), None).decode(3.0) == 3


def test_bad_declarations_fail_at_definition():
    with pytest.raises(ValueError):
        log_range(0, 1)
    with pytest.raises(ValueError):
        int_range(5, 5)
    with pytest.raises(TypeError):
        param(1, "x", search=(1, 2))
