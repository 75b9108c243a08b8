"""The shared integrated-gradients module: known answers, the EOS baseline, batching."""

import pytest
import torch

from polyedit.methods.knowledge_neurons.attribution import (Attribution, GradientRow, activations_and_baselines,
                                                            answer_inputs, attribute, attribute_reference_loop,
                                                            eos_replaced, ig_scores, last_position_activations,
                                                            path_points, row_gradients, select_neurons)
from polyedit.models.hooks import trace

QUERIES = [("The capital of France is", "Paris", "en"), ("Danielle Darrieux speaks", "French", "en"),
           ("巴黎是", "法国的首都", "zh")]


def test_path_points_run_from_baseline_towards_activation():
    b, a = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 2.0])
    pts = path_points(b, a, 4)
    assert pts.shape == (4, 2)
    assert torch.allclose(pts[0], b)  # k = 0 is the baseline, k = m-1 stops one step short of w
    assert torch.allclose(pts[3], b + 0.75 * (a - b))
    assert torch.allclose(pts[1:] - pts[:-1], ((a - b) / 4).expand(3, 2))


def test_ig_scores_are_activation_times_summed_gradient_over_m():
    act, g = torch.tensor([2.0, -1.0]), torch.tensor([10.0, 4.0])
    assert torch.allclose(ig_scores(act, g, 20), torch.tensor([1.0, -0.2]))


def test_eos_replaced_replaces_each_position_in_turn():
    assert eos_replaced((5, 6, 7), 1) == [(1, 6, 7), (5, 1, 7), (5, 6, 1)]


def test_multi_token_answers_use_the_true_preceding_tokens(lm_of):
    lm = lm_of("llama")
    full = lm.tokenizer("The capital of France is Danielle Darrieux")["input_ids"]
    xs = answer_inputs(lm.tokenizer, "The capital of France is", "Danielle Darrieux", "en")
    assert len(xs) > 1
    n_ctx = len(full) - len(xs)
    for t, x in enumerate(xs):  # input t = context + true answer tokens < t; target = answer token t
        assert list(x.ids) == full[:n_ctx + t] and x.target == full[n_ctx + t]


def test_answer_tokens_never_include_a_bos_token(lm_of):
    from tokenizers.processors import TemplateProcessing

    from helpers.tiny_models import tiny_tokenizer

    tok = tiny_tokenizer().__class__(tokenizer_object=tiny_tokenizer().backend_tokenizer.__class__.from_str(
        tiny_tokenizer().backend_tokenizer.to_str()), bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tok.backend_tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    assert tok("Paris")["input_ids"][0] == 0  # a Llama-3-like tokenizer: BOS on every encoding
    xs = answer_inputs(tok, "The capital of France is", "Paris", "en")
    assert xs[0].ids[0] == 0 and all(x.target != 0 for x in xs)


def test_eos_baseline_is_the_mean_of_the_eos_replaced_activations(lm_of):
    lm = lm_of("gpt2")
    x = answer_inputs(lm.tokenizer, "The capital of France is", "Paris", "en")[0]
    act, base = activations_and_baselines(lm, [x], "eos")
    direct = []
    for seq in [x.ids] + eos_replaced(x.ids, lm.tokenizer.eos_token_id):  # one sequence per pass, by hand
        with torch.no_grad(), trace(lm.model, lm.arch.mlp_in) as t:
            lm.model(input_ids=torch.tensor([seq]))
        direct.append(torch.stack([t[n].output[0, -1] for n in lm.arch.mlp_in]))
    assert torch.allclose(act[0], direct[0], atol=1e-5)
    assert torch.allclose(base[0], torch.stack(direct[1:]).mean(0), atol=1e-5)
    _, zero = activations_and_baselines(lm, [x], "zero")
    assert torch.count_nonzero(zero) == 0


def _prob_with(lm, x, layer, value):
    """P(target) with layer's pre-activation at the last position set to `value`."""
    def patch(name, out):
        out = out.clone()
        out[0, -1] = value
        return out

    with torch.no_grad(), trace(lm.model, lm.arch.mlp_in[layer], edit_output=patch):
        logits = lm.model(input_ids=torch.tensor([x.ids])).logits
    return torch.softmax(logits[0, -1].float(), -1)[x.target].item()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_completeness_known_answer(lm_of, family):
    """IG's completeness: sum_i (w_i - w'_i) * mean_k dP/dw_i = P(w) - P(w') (Riemann sum, m = 400)."""
    lm = lm_of(family)
    x = answer_inputs(lm.tokenizer, "The capital of France is", "Paris", "en")[0]
    act, base = activations_and_baselines(lm, [x], "eos")
    m = 400
    for layer in range(lm.arch.n_layers):
        pts = path_points(base[0, layer], act[0, layer], m)
        g = row_gradients(lm, [GradientRow(x, layer, p) for p in pts]).sum(0)
        ig_total = ((act[0, layer] - base[0, layer]) * g / m).sum().item()
        exact = _prob_with(lm, x, layer, act[0, layer]) - _prob_with(lm, x, layer, base[0, layer])
        assert abs(exact) > 1e-8
        assert ig_total == pytest.approx(exact, rel=0.03, abs=1e-9)


def test_gradient_matches_finite_differences(lm_of):
    lm = lm_of("qwen2")
    x = answer_inputs(lm.tokenizer, "Danielle Darrieux speaks", "French", "en")[0]
    act, _ = activations_and_baselines(lm, [x], "zero")
    point = act[0, 1] * 0.5
    g = row_gradients(lm, [GradientRow(x, 1, point)])[0]
    for i in torch.topk(g.abs(), 3).indices.tolist():
        e = torch.zeros_like(point)
        e[i] = 1e-2
        fd = (_prob_with(lm, x, 1, point + e) - _prob_with(lm, x, 1, point - e)) / 2e-2
        assert fd == pytest.approx(g[i].item(), rel=0.02)


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "gpt_neox", "bloom"])
def test_batched_equals_the_reference_loop(lm_of, family):
    """The batched path (prefix key/value cache, all rows at once) against whole sequences one by one."""
    lm = lm_of(family)
    queries = [("France is", "Paris", "en"), ("巴黎是", "法国的首都", "zh")]  # short, one multi-token answer
    batched = attribute(lm, queries, steps=4)
    looped = attribute_reference_loop(lm, queries, steps=4, step_batch=2)
    for a, b in zip(batched, looped):
        assert a.activation.shape[0] == len(answer_inputs(lm.tokenizer, a.prompt, a.answer, a.lang))
        scale = b.scores.abs().max()
        assert torch.allclose(a.scores, b.scores, atol=1e-4 * scale)
        assert torch.allclose(a.baseline, b.baseline, atol=1e-5)


def test_memory_budget_changes_passes_not_results(lm_of):
    lm = lm_of("gpt_neox")
    big = attribute(lm, QUERIES[:2], steps=6, max_tokens_per_pass=100_000)
    small = attribute(lm, QUERIES[:2], steps=6, max_tokens_per_pass=16)  # one row per pass
    for a, b in zip(big, small):
        assert torch.allclose(a.scores, b.scores, atol=1e-4 * a.scores.abs().max())


def test_scores_sum_over_answer_tokens(lm_of):
    lm = lm_of("llama")
    (att,) = attribute(lm, [QUERIES[2]], steps=4)
    assert isinstance(att, Attribution) and att.activation.shape[0] > 1
    per_token = ig_scores(att.activation, att.grad_sum, 4)
    assert torch.allclose(att.scores, per_token.sum(0))
    assert att.scores.shape == (lm.arch.n_layers, lm.arch.intermediate_size)


def test_last_position_activations_are_independent_of_padding(lm_of):
    lm = lm_of("bloom")
    seqs = [(5, 6, 7, 8, 9), (5, 6), (10, 11, 12)]
    together = last_position_activations(lm, seqs)
    alone = torch.cat([last_position_activations(lm, [s]) for s in seqs])
    assert torch.allclose(together, alone, atol=1e-5)


def test_select_neurons_keeps_scores_above_threshold_times_max():
    scores = torch.tensor([[1.0, 0.3, 0.31], [-5.0, 0.0, 0.9]])
    assert select_neurons(scores, 0.3) == {(0, 0), (0, 2), (1, 2)}  # 0.3 itself is not above 0.3 x 1.0
    assert select_neurons(-scores.abs(), 0.3) == set()  # no positive score: no neuron
