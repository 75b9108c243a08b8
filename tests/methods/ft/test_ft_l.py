import pytest
import torch

from polyedit.data.cases import make_case
from polyedit.errors import PolyeditError
from polyedit.methods import get_method, method_names
from polyedit.methods.ft.ft_l import FTLHParams
from helpers.weights import state_hash


def test_registry_and_hparams(tmp_path):
    assert "ft-l" in method_names()
    with pytest.raises(PolyeditError, match="unknown method 'nope'"):
        get_method("nope")
    y = tmp_path / "h.yaml"
    y.write_text("layers: [1]\nlr: 0.01\nsteps: 3\n")
    m = get_method("ft-l", str(y))
    assert m.hparams.layers == [1] and m.hparams.lr == 0.01 and m.hparams.steps == 3
    y.write_text("layerz: [1]\n")
    with pytest.raises(PolyeditError, match="unknown hyperparameter.*layerz"):
        get_method("ft-l", str(y))
    y.write_text("steps: many\n")
    with pytest.raises(PolyeditError, match="steps: input should be a valid integer, got 'many'"):
        get_method("ft-l", str(y))


def test_defaults_derived_from_model(tiny_lm):
    hp = FTLHParams().resolve(tiny_lm)
    assert hp.layers == [tiny_lm.arch.n_layers // 3]


def test_ft_l_edits_and_restores_bit_identically(tiny_lm):
    case = make_case("c", "en", "Paris", "The capital of France is Paris and", "Berlin")
    before = state_hash(tiny_lm.model)
    method = get_method("ft-l", {"lr": 1e-2, "steps": 5, "norm_constraint": None})
    ids = tiny_lm.tokenizer("The capital", return_tensors="pt")["input_ids"]
    base = tiny_lm.model(input_ids=ids).logits
    handle = method.apply(tiny_lm, [case.edit])
    assert handle.info["steps"] >= 1
    assert state_hash(tiny_lm.model) != before
    handle.restore()
    assert state_hash(tiny_lm.model) == before
    assert torch.equal(tiny_lm.model(input_ids=ids).logits, base)


def test_ft_l_norm_constraint_holds(tiny_lm):
    case = make_case("c", "en", "Paris", "The capital of France is Paris and", "Berlin")
    name = f"{tiny_lm.arch.mlp_out[1]}.weight"
    w0 = dict(tiny_lm.model.named_parameters())[name].detach().clone()
    handle = get_method("ft-l", {"layers": [1], "lr": 1e-1, "steps": 3, "norm_constraint": 1e-3}).apply(tiny_lm, [case.edit])
    w1 = dict(tiny_lm.model.named_parameters())[name].detach()
    assert 0 < (w1 - w0).abs().max().item() <= 1e-3 + 1e-7
    handle.restore()
