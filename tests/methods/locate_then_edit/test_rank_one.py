"""Known answers for ROME and MEMIT on tiny models: the closed form equals a direct constrained least-squares
solve, the edited layer maps k* to v*, and MEMIT's update writes z exactly when it can."""

import pytest
import torch

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.memit.memit_main import bare_prompt_outputs
from polyedit.methods.memit.update import batch_update
from polyedit.methods.locate_then_edit.rank_one import (context_keys, context_prefixes, fact_contexts, mean_key,
                                                        read_at, subject_keys)
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
@pytest.mark.parametrize("denominator_key", ["bare_prompt", "context_mean"])
def test_rome_layer_maps_its_key_to_v_star(family, denominator_key, tiny_model_dirs):
    """bare_prompt (the reference code): Ŵ k₀ = v* for the bare prompt's key; context_mean (the paper's eq. 2):
    Ŵ k* = v* for the context mean. Either way ΔW is rank one along C⁻¹k* (C = I here: along k*)."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs[family]))
    hp = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 5, "layer": 1,
          "denominator_key": denominator_key}
    w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[1]))
    w0 = w.detach().clone().double()
    handle = get_method("rome", hp).apply(lm, [EN])
    k, v_star = handle.keys_values[0]
    # the keys do not depend on the edited weight (they are its input): recomputing them finds the same vectors
    keys = context_keys(lm, 1, [fact_contexts(lm, EN, context_prefixes(lm, "en", 2, 4, 0))])[0]
    assert len(keys) == 3
    k_star = keys.mean(0)
    assert torch.allclose(k, keys[0] if denominator_key == "bare_prompt" else k_star, atol=1e-6)
    assert torch.allclose(w.detach().float() @ k, v_star, atol=1e-4, rtol=1e-4)
    dw = w.detach().double() - w0
    assert torch.linalg.matrix_rank(dw, rtol=1e-6) == 1
    ortho = torch.linalg.svd(k_star.double()[None], full_matrices=True).Vh[1:]  # basis of the complement of k*
    assert (dw @ ortho.T).abs().max() < 1e-6 * dw.abs().max()
    handle.restore()


def test_reference_and_paper_denominators_against_their_formulas():
    """Known answers: the reference code's update is u ⊗ (target − W k₀)/(k₀ · u), u = C⁻¹k*/‖C⁻¹k*‖ (computed
    here as `compute_v.py` does); the paper's is (v* − W k*)(C⁻¹k*)ᵀ/((C⁻¹k*)ᵀk*) with an explicit inverse."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(6, 10, generator=g, dtype=torch.float64)
    a = torch.randn(10, 10, generator=g, dtype=torch.float64)
    c = a @ a.T / 10 + 0.1 * torch.eye(10, dtype=torch.float64)
    k0, k_prefix = torch.randn(10, generator=g, dtype=torch.float64), torch.randn(10, generator=g, dtype=torch.float64)
    k_star = (k0 + k_prefix) / 2
    delta = torch.randn(6, generator=g, dtype=torch.float64)
    u = torch.linalg.inv(c) @ k_star
    u = u / u.norm()
    reference = torch.outer(delta / (k0 @ u), u)  # (out, in): the reference's upd_matrix, transposed to out×in
    assert torch.allclose(rank_one_update(w, c, k_star, w @ k0 + delta, k0), reference, atol=1e-10)
    ci_k = torch.linalg.inv(c) @ k_star
    paper = torch.outer(delta, ci_k) / (ci_k @ k_star)
    assert torch.allclose(rank_one_update(w, c, k_star, w @ k_star + delta), paper, atol=1e-10)
    # the same direction, scales in the ratio (C⁻¹k*)ᵀk* / (C⁻¹k*)ᵀk₀
    assert torch.allclose(reference * (ci_k @ k0), paper * (ci_k @ k_star), atol=1e-10)


def test_memit_keys_weigh_the_bare_prompt_half(tiny_model_dirs):
    """MEMIT's compute_ks: mean within [bare prompt] and within [prefixes], then across the two groups. Checked
    against keys read one text at a time; `flat` is the plain mean over every context."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    contexts = [fact_contexts(lm, EN, context_prefixes(lm, "en", 3, 4, 0))]
    module = lm.arch.mlp_out[1]
    one_by_one = torch.cat([read_at(lm, module, [t], [p]) for t, p in zip(contexts[0].texts, contexts[0].lookup)])
    assert len(one_by_one) == 4
    grouped = 0.5 * one_by_one[0] + 0.5 * (one_by_one[1] + one_by_one[2] + one_by_one[3]) / 3
    assert torch.allclose(subject_keys(lm, 1, contexts, "grouped")[0], grouped, atol=1e-6)
    assert torch.allclose(subject_keys(lm, 1, contexts, "flat")[0], one_by_one.mean(0), atol=1e-6)
    assert not torch.allclose(grouped, one_by_one.mean(0), atol=1e-4)
    assert torch.equal(mean_key(one_by_one[:1], "grouped"), one_by_one[0])  # no prefix: the bare key alone


@pytest.mark.parametrize("weighting", ["grouped", "flat"])
def test_memit_update_uses_the_weighted_keys(weighting, tiny_model_dirs):
    """One layer: ΔW equals R Kᵀ(λC + KKᵀ)⁻¹ with K built from the contexts as `key_weighting` says (C = I)."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [EN, Edit("en", "Danielle Darrieux", "Danielle Darrieux speaks", "Russian")]
    hp = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "layers": [1], "v_steps": 3,
          "mom2_update_weight": 2.0, "key_weighting": weighting}
    w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[1]))
    w0 = w.detach().clone().double()
    contexts = [fact_contexts(lm, e, context_prefixes(lm, "en", 2, 4, 0)) for e in edits]
    h_before = bare_prompt_outputs(lm, 1, contexts).double()
    rows = []
    for c in contexts:
        k = torch.cat([read_at(lm, lm.arch.mlp_out[1], [t], [p]) for t, p in zip(c.texts, c.lookup)]).double()
        rows.append(0.5 * k[0] + 0.5 * k[1:].mean(0) if weighting == "grouped" else k.mean(0))
    keys = torch.stack(rows).T  # (d_ff, n)
    handle = get_method("memit", hp).apply(lm, edits)
    resid = (handle.targets.double() - h_before).T  # (d_out, n)
    eye = torch.eye(keys.shape[0], dtype=torch.float64)
    expected = resid @ keys.T @ torch.linalg.inv(2.0 * eye + keys @ keys.T)
    assert torch.allclose(w.detach().double() - w0, expected, atol=1e-5, rtol=1e-4)
    handle.restore()


def test_prompt_last_reads_the_kl_term_at_the_essence_prompts_last_token(tiny_model_dirs):
    """The reference's find_fact_lookup_idx returns -1 for every prompt with fact_token `last`, the KL prompt
    "{} is a" included; with `subject_last` it is the subject's last token there."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))
    n_essence = len(lm.tokenizer("Paris is a")["input_ids"])
    n_subject = len(lm.tokenizer("Paris")["input_ids"])
    last = fact_contexts(lm, EN, [], "prompt_last")
    subj = fact_contexts(lm, EN, [], "subject_last")
    assert last.essence == subj.essence == "Paris is a"
    assert last.essence_lookup == n_essence - 1
    assert subj.essence_lookup == n_subject - 1
    assert last.essence_lookup != subj.essence_lookup


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
    from polyedit.methods.locate_then_edit.rank_one import optimise_values
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [EN, Edit("en", "Danielle Darrieux", "Danielle Darrieux speaks", "Russian"), Edit("zh", "巴黎", "巴黎是", "首都")]
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, 2, 4, 0)) for e in edits]
    settings = dict(lr=0.5, steps=4, kl_factor=0.0625, weight_decay=0.5, clamp_norm_factor=4.0, early_stop_loss=0.0)
    together = optimise_values(lm, contexts, lm.arch.block(1), chunk=16, **settings)
    alone = optimise_values(lm, contexts, lm.arch.block(1), chunk=1, **settings)
    assert torch.allclose(together.delta, alone.delta, atol=1e-4)


def test_head_at_targets_gives_the_delta_of_full_logits(tiny_model_dirs):
    """v* reads the LM head only at the target tokens and the KL prompt's lookup (`head_at`): δ is the one the
    full logits give, for facts of different lengths in one batch (right padding, several target tokens)."""
    from polyedit.methods.locate_then_edit.rank_one import optimise_values
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [EN, Edit("en", "Danielle Darrieux", "Danielle Darrieux speaks", "Russian"), Edit("zh", "巴黎", "巴黎是", "首都")]
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, 2, 4, 0)) for e in edits]
    settings = dict(lr=0.5, steps=4, kl_factor=0.0625, weight_decay=0.5, clamp_norm_factor=4.0, early_stop_loss=0.0)
    fast = optimise_values(lm, contexts, lm.arch.block(1), head_at_targets=True, **settings)
    full = optimise_values(lm, contexts, lm.arch.block(1), head_at_targets=False, **settings)
    assert full.delta.abs().max() > 1e-3  # δ moved: the comparison is not of two zeros
    torch.testing.assert_close(fast.delta, full.delta, rtol=1e-5, atol=1e-6)
    assert fast.loss == pytest.approx(full.loss, rel=1e-5)


@pytest.mark.parametrize("method,bad", [("rome", {"denominator_key": "mean"}), ("memit", {"key_weighting": "equal"})])
def test_unknown_variant_names_are_refused_in_one_line(method, bad):
    from polyedit.errors import PolyeditError

    (field, value), = bad.items()
    with pytest.raises(PolyeditError, match=rf"unknown {field} '{value}' \(known: ") as e:
        get_method(method, bad)
    assert "\n" not in str(e.value)
