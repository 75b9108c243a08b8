"""Known answers for ROME and MEMIT on tiny models: the closed form equals a direct constrained least-squares
solve, the edited layer maps k* to v*, and MEMIT's update writes z exactly when it can."""

import pytest
import torch

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.memit.memit_main import bare_prompt_outputs
from polyedit.methods.memit.update import batch_update
from polyedit.methods.rank_one import context_prefixes, fact_contexts, read_at, subject_keys
from polyedit.methods.rome.update import rank_one_update
from polyedit.models.arch import weight_out_in

EN = Edit("en", "Paris", "The capital of France is Paris and", "Berlin")
TEXTS = ["The capital of France is Paris.", "Berlin ist die Hauptstadt von Deutschland.", "巴黎是法国的首都。",
         "Danielle Darrieux speaks French.", "Москва — столица России.", "서울은 한국의 수도이다."]


def layer_keys(lm, layer):
    """Every key the layer sees on TEXTS: K as (n_tokens, d_ff)."""
    rows = []
    for t in TEXTS:
        n = len(lm.tokenizer(t)["input_ids"])
        rows.append(read_at(lm, lm.arch.mlp_out[layer], [t] * n, list(range(n)), "input"))
    return torch.cat(rows).double()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_closed_form_equals_constrained_least_squares(family, tiny_model_dirs):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs[family]))
    w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[1])).detach().double()
    keys = layer_keys(lm, 1)
    k_star = keys[3] + 0.1 * keys[7]
    v_star = torch.randn(w.shape[0], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ridge = 1e-3 * torch.eye(keys.shape[1], dtype=torch.float64)  # K Kᵀ of a few dozen tokens is singular
    c = keys.T @ keys + ridge
    closed = w + rank_one_update(w, c, k_star, v_star)
    # direct: min ‖Ŵ Kᵀ − W Kᵀ‖² + ‖(Ŵ − W) ridge^½‖² s.t. Ŵ k* = v*, row by row, via the KKT system
    d = keys.shape[1]
    kkt = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    kkt[:d, :d] = 2 * c
    kkt[:d, d] = k_star
    kkt[d, :d] = k_star
    rhs = torch.cat([2 * c @ w.T, v_star[None]], dim=0)  # one column per row of W
    direct = torch.linalg.solve(kkt, rhs)[:d].T
    assert torch.allclose(closed, direct, atol=1e-8, rtol=1e-6)
    assert torch.allclose(closed @ k_star, v_star, atol=1e-9)


@pytest.mark.parametrize("family", ["gpt2", "llama", "bloom"])
def test_rome_layer_maps_k_star_to_v_star(family, tiny_model_dirs):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs[family]))
    hp = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 5, "layer": 1}
    handle = get_method("rome", hp).apply(lm, [EN])
    k_star, v_star = handle.keys_values[0]
    w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[1]))
    # k* does not depend on the edited weight (it is its input): recomputing it finds the same vector
    prefixes = context_prefixes(lm, "en", 2, 4, 0)
    assert torch.allclose(subject_keys(lm, 1, [fact_contexts(lm, EN, prefixes)])[0], k_star, atol=1e-6)
    assert torch.allclose(w.detach().float() @ k_star, v_star, atol=1e-4, rtol=1e-4)
    handle.restore()


def test_memit_writes_z_exactly_with_one_layer_and_bare_prompts(tiny_model_dirs):
    """With no prefixes (k = the bare prompt's key), one layer and λ → 0, ΔW K = R exactly, so the block output
    at the subject's last token becomes z for every edit of the batch."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [EN, Edit("en", "Danielle Darrieux", "Danielle Darrieux speaks", "Russian"),
             Edit("de", "Berlin", "Berlin ist die Hauptstadt von", "Frankreich")]
    hp = {"stats_corpus": "identity", "prefixes": 0, "layers": [1], "v_steps": 5, "mom2_update_weight": 1e-9}
    handle = get_method("memit", hp).apply(lm, edits)
    contexts = [fact_contexts(lm, e, []) for e in edits]
    now = bare_prompt_outputs(lm, 1, contexts)
    assert torch.allclose(now, handle.targets, atol=1e-3)
    handle.restore()
    assert not torch.allclose(bare_prompt_outputs(lm, 1, contexts), handle.targets, atol=1e-3)


def test_batch_update_is_the_regularised_least_squares():
    """ΔW = R Kᵀ (λC + KKᵀ)⁻¹ minimises ‖ΔW K − R‖² + λ tr(ΔW C ΔWᵀ) (MEMIT eq. 14): the gradient vanishes."""
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(4, 12, generator=g, dtype=torch.float64)
    resid = torch.randn(4, 6, generator=g, dtype=torch.float64)
    a = torch.randn(12, 12, generator=g, dtype=torch.float64)
    c = a @ a.T / 12
    dw = batch_update(c, keys, resid, 0.5)
    grad = (dw @ keys.T - resid.T) @ keys + 0.5 * dw @ c
    assert grad.abs().max() < 1e-10


def test_facts_are_optimised_independently(tiny_model_dirs):
    """Each fact's δ sees only its own loss: optimising facts in groups of one equals optimising them together."""
    from polyedit.methods.rank_one import optimise_values
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [EN, Edit("en", "Danielle Darrieux", "Danielle Darrieux speaks", "Russian"), Edit("zh", "巴黎", "巴黎是", "首都")]
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, 2, 4, 0)) for e in edits]
    settings = dict(lr=0.5, steps=4, kl_factor=0.0625, weight_decay=0.5, clamp_norm_factor=4.0, early_stop_loss=0.0)
    together = optimise_values(lm, contexts, lm.arch.block(1), chunk=16, **settings)
    alone = optimise_values(lm, contexts, lm.arch.block(1), chunk=1, **settings)
    assert torch.allclose(together.delta, alone.delta, atol=1e-4)
