"""Knowledge-neuron attribution by integrated gradients (Dai et al. 2022, Eq. 3; Xie et al. 2024, §3.1).

One module, shared by KN and MEMLA. A *neuron* is one unit (index into the width d_ff) of a block's MLP
input projection; its activation w_i^(l) is that projection's output at the last input position, before
the nonlinearity (`gate_proj` in Llama-style blocks, `c_fc` in GPT-2, the gate's rows of Phi-3's fused
`gate_up_proj`: `Architecture.mlp_in` and `Architecture.neurons`).

For an input x and an answer token y, with the activation of layer l moved along a straight path from a
baseline w' to the real activation w while every other layer runs as usual:

    path point   w(k) = w' + (k / m) (w - w'),                k = 0 .. m-1       (left Riemann sum)
    score        Attr(w_i) = w_i / m * sum_k  dP(y | x, w^(l) := w(k)) / dw_i

P is the probability (not the log-probability) of y at the last position. Two baselines w':
- `"eos"` (MEMLA's reference implementation): the mean of the activations obtained by replacing each input
  token in turn with EOS. The reference averages the n straight paths from each replaced activation; the
  average of straight paths with the same end is the straight path from the averaged start, so one path is
  run, not n.
- `"zero"` (Dai et al.): w' = 0, the path scales the activation from 0.

Multi-token answers: one attribution per answer token, each input holding the *true* preceding answer
tokens, summed over the tokens (the reference appends one greedy token again and again).

Batching: every (input, layer, step) is one row of a batch; all answer tokens, prompts and languages of
a call are packed into as few forward/backward passes as `max_tokens_per_pass` (rows x width) allows,
rows grouped by length. Only the last position is patched and the model is causal, so each distinct
prompt's prefix runs once and its rows compute only the last position on its key/value cache.
`attribute_reference_loop` runs the reference's loop (one prompt, one layer, whole sequences, minibatches
of 4 steps, baselines recomputed per layer) for timing and for checking the batched result.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from polyedit.data.languages import join_target
from polyedit.errors import PolyeditError
from polyedit.methods.objectives import trainable
from polyedit.models.generation import cache_argument
from polyedit.models.device import index_at
from polyedit.models.hooks import trace
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import encode_with_target, pad_right

#: default memory budget: padded tokens (rows x width) per forward/backward pass
DEFAULT_TOKENS_PER_PASS = 8192
BASELINES = ("eos", "zero")


@dataclass(frozen=True)
class AttributionInput:
    """One answer token to attribute: the model reads `ids` (prompt + true preceding answer tokens) and the
    probability of `target` at the last position is explained."""

    ids: tuple[int, ...]
    target: int


@dataclass
class Attribution:
    """Attribution of one (prompt, answer). Per answer token t: `activation` w, `baseline` w' and
    `grad_sum` = sum_k dP/dw at the path points, each (T, n_layers, d_ff); `scores` (n_layers, d_ff) is
    sum_t w_t * grad_sum_t / m."""

    prompt: str
    answer: str
    lang: str
    steps: int
    activation: torch.Tensor
    baseline: torch.Tensor
    grad_sum: torch.Tensor

    @property
    def scores(self) -> torch.Tensor:
        return ig_scores(self.activation, self.grad_sum, self.steps).sum(0)


def answer_inputs(tokenizer, prompt: str, answer: str, lang: str) -> list[AttributionInput]:
    """Inputs for each answer token, with the true preceding answer tokens in the input (teacher forcing).

    The answer is tokenised together with the prompt (`encode_with_target`), so it has no special tokens:
    the reference tokenises the target alone and scores Llama-3's BOS as the first answer token."""
    enc = encode_with_target(tokenizer, *join_target(prompt, answer, lang))
    if not enc.target_ids:
        raise PolyeditError(f"answer {answer!r} has no tokens after prompt {prompt!r}")
    return [AttributionInput(tuple(enc.ids[:enc.n_context + t]), tid) for t, tid in enumerate(enc.target_ids)]


def eos_replaced(ids: tuple[int, ...], eos_id: int) -> list[tuple[int, ...]]:
    """The n inputs of the EOS baseline: `ids` with position j replaced by EOS, for j = 0 .. n-1."""
    return [ids[:j] + (eos_id,) + ids[j + 1:] for j in range(len(ids))]


def path_points(baseline: torch.Tensor, activation: torch.Tensor, steps: int) -> torch.Tensor:
    """w(k) = w' + (k/m)(w - w') for k = 0 .. m-1: shape (m, *activation.shape)."""
    alphas = torch.arange(steps, dtype=activation.dtype, device=activation.device) / steps
    shape = (steps,) + (1,) * activation.dim()
    return baseline[None] + alphas.view(shape) * (activation - baseline)[None]


def ig_scores(activation: torch.Tensor, grad_sum: torch.Tensor, steps: int) -> torch.Tensor:
    """Attr(w_i) = w_i * (sum_k dP/dw_i) / m (Dai et al. Eq. 3 with the reference's factor w, not w - w')."""
    return activation * grad_sum / steps


def _chunks(lengths: list[int], max_tokens: int, max_rows: int | None = None, same_length: bool = False
            ) -> list[list[int]]:
    """Row indices grouped into passes: sorted by length, each pass within rows x max length <= max_tokens
    (and, with `same_length`, never mixing lengths)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out, cur, width = [], [], 0
    for i in order:
        w = max(width, lengths[i])
        if cur and (w * (len(cur) + 1) > max_tokens or (max_rows and len(cur) >= max_rows)
                    or (same_length and lengths[i] != width)):
            out.append(cur)
            cur, w = [], lengths[i]
        cur.append(i)
        width = w
    if cur:
        out.append(cur)
    return out


def _pad(lm: LoadedModel, seqs: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask and each row's last real position (right padding keeps positions)."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    ids, mask = pad_right(seqs, pad)
    last = torch.tensor([len(s) - 1 for s in seqs])
    return ids.to(lm.device), mask.to(lm.device), last.to(lm.device)


def last_position_activations(lm: LoadedModel, seqs: list[tuple[int, ...]],
                              max_tokens: int = DEFAULT_TOKENS_PER_PASS, max_rows: int | None = None
                              ) -> torch.Tensor:
    """w^(l) at each sequence's last position for every layer l: (len(seqs), n_layers, d_ff), no grad."""
    names = list(lm.arch.mlp_in)
    out = torch.empty(len(seqs), len(names), lm.arch.intermediate_size, device=lm.device)
    for rows in _chunks([len(s) for s in seqs], max_tokens, max_rows):
        ids, mask, last = _pad(lm, [seqs[i] for i in rows])
        with torch.no_grad(), trace(lm.model, names, detach=True) as t:
            lm.model(input_ids=ids, attention_mask=mask)
        r = torch.arange(len(rows), device=lm.device)
        acts = torch.stack([lm.arch.neurons(i, index_at(t[n].output, r, last)).to(lm.device)
                            for i, n in enumerate(names)], dim=1)  # (rows, L, d_ff)
        out[torch.tensor(rows, device=lm.device)] = acts.float()
    return out


def activations_and_baselines(lm: LoadedModel, inputs: list[AttributionInput], baseline: str = "eos",
                              max_tokens: int = DEFAULT_TOKENS_PER_PASS, max_rows: int | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, w') for every input and layer, each (len(inputs), n_layers, d_ff).

    EOS baseline: w' = mean_j w(x with token j replaced by EOS), all replaced inputs of all inputs in one
    batched call together with the real inputs."""
    if baseline not in BASELINES:
        raise PolyeditError(f"unknown attribution baseline {baseline!r} (known: {', '.join(BASELINES)})")
    seqs = [x.ids for x in inputs]
    spans = []
    if baseline == "eos":
        eos = lm.tokenizer.eos_token_id
        if eos is None:
            raise PolyeditError("the EOS attribution baseline needs a tokenizer with an EOS token")
        for x in inputs:
            start = len(seqs)
            seqs += eos_replaced(x.ids, eos)
            spans.append((start, len(seqs)))
    acts = last_position_activations(lm, seqs, max_tokens, max_rows)
    real = acts[:len(inputs)]
    if baseline == "zero":
        return real, torch.zeros_like(real)
    return real, torch.stack([acts[a:b].mean(0) for a, b in spans])


@dataclass(frozen=True)
class GradientRow:
    """One row of a gradient pass: input `x`, the layer whose activation is set to `point`."""

    x: AttributionInput
    layer: int
    point: torch.Tensor  # (d_ff,)


def _keeps_logits(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _prefix_cached(lm: LoadedModel, seqs: list[tuple[int, ...]]):
    """Run the distinct prefixes (all but the last token, all the same length) once, then give every row
    its prefix's key/value cache: the rows then only compute their last position."""
    distinct = list(dict.fromkeys(s[:-1] for s in seqs))
    where = {p: j for j, p in enumerate(distinct)}
    cache = DynamicCache()  # filled in place by the model: no reading of version-specific output fields
    with torch.no_grad():
        lm.model(input_ids=torch.tensor(distinct, device=lm.device), use_cache=True, **{cache_argument(lm.model): cache})
    cache.reorder_cache(torch.tensor([where[s[:-1]] for s in seqs], device=lm.device))
    return cache


def row_gradients(lm: LoadedModel, rows: list[GradientRow], max_tokens: int = DEFAULT_TOKENS_PER_PASS,
                  max_rows: int | None = None, prefix_cache: bool = True) -> torch.Tensor:
    """dP(y | x, w^(l) := point)/d point for every row: (len(rows), d_ff).

    Rows are independent in a batch, so the gradient of the summed probabilities is each row's own. Only the
    last position is patched and the model is causal, so every earlier position is the same in all rows of
    an input: with `prefix_cache` the prefix runs once per distinct input and the rows compute only their
    last position on its key/value cache (exact; `False` runs whole padded sequences, as the reference)."""
    names = list(lm.arch.mlp_in)
    layer_of = {n: i for i, n in enumerate(names)}
    grads = torch.empty(len(rows), lm.arch.intermediate_size, device=lm.device)
    keep = _keeps_logits(lm.model)
    with trainable(lm.model, []):  # no parameter gradients: the graph starts at the patched activations
        for chunk in _chunks([len(r.x.ids) for r in rows], max_tokens, max_rows, same_length=prefix_cache):
            seqs = [rows[i].x.ids for i in chunk]
            kwargs = {}
            if prefix_cache and len(seqs[0]) > 1:
                kwargs[cache_argument(lm.model)] = _prefix_cached(lm, seqs)
                ids = torch.tensor([[s[-1]] for s in seqs], device=lm.device)
                mask, last = None, torch.zeros(len(seqs), dtype=torch.long, device=lm.device)
            else:
                ids, mask, last = _pad(lm, seqs)
            points = torch.stack([rows[i].point for i in chunk]).float().requires_grad_(True)
            layers = torch.tensor([rows[i].layer for i in chunk], device=lm.device)
            by_layer = {}
            for l in layers.unique().tolist():
                by_layer[l] = torch.nonzero(layers == l)[:, 0]

            def patch(name, out):
                sel = by_layer.get(layer_of[name])
                if sel is None:
                    return out
                where = (sel.to(out.device), last[sel].to(out.device))
                rows = lm.arch.gate_rows[layer_of[name]] if lm.arch.gate_rows else slice(None)
                full = out[where].clone()  # a fused gate_up projection: only the gate's rows are the neurons
                full[..., rows] = points[sel].to(out.device, out.dtype)
                return out.index_put(where, full)

            positions = last.unique()
            if keep:  # only the logits at the rows' last positions
                kwargs["logits_to_keep"] = positions
            with trace(lm.model, [names[l] for l in by_layer], retain_output=False, edit_output=patch):
                logits = lm.model(input_ids=ids, attention_mask=mask, **kwargs).logits
            col = torch.searchsorted(positions, last) if keep else last
            r = torch.arange(len(chunk), device=lm.device)
            probs = torch.softmax(index_at(logits, r, col).float(), dim=-1)
            target = torch.tensor([rows[i].x.target for i in chunk], device=probs.device)
            p = probs[r.to(probs.device), target]
            (g,) = torch.autograd.grad(p.sum(), points)  # on `points`' device: lm.device
            grads[torch.tensor(chunk, device=lm.device)] = g
    return grads


def summed_gradients(lm: LoadedModel, inputs: list[AttributionInput], activation: torch.Tensor,
                     baseline: torch.Tensor, steps: int, max_tokens: int = DEFAULT_TOKENS_PER_PASS
                     ) -> torch.Tensor:
    """sum_k dP/dw^(l) at w(k), for every input and layer, all in one batched call: (N, L, d_ff)."""
    n, n_layers, _ = activation.shape
    points = path_points(baseline, activation, steps)  # (m, N, L, d_ff)
    rows = [GradientRow(inputs[i], l, points[k, i, l]) for i in range(n) for l in range(n_layers)
            for k in range(steps)]
    g = row_gradients(lm, rows, max_tokens)
    return g.view(n, n_layers, steps, -1).sum(2)


def _queries_inputs(lm: LoadedModel, queries) -> tuple[list[AttributionInput], list[tuple[int, int]]]:
    inputs, spans = [], []
    for prompt, answer, lang in queries:
        xs = answer_inputs(lm.tokenizer, prompt, answer, lang)
        spans.append((len(inputs), len(inputs) + len(xs)))
        inputs += xs
    return inputs, spans


def attribute(lm: LoadedModel, queries: list[tuple[str, str, str]], steps: int = 20, baseline: str = "eos",
              max_tokens_per_pass: int = DEFAULT_TOKENS_PER_PASS) -> list[Attribution]:
    """Integrated-gradients attribution of every neuron of every layer for each (prompt, answer, lang).

    All answer tokens of all queries go through the model together: one batched activation call (real and
    EOS-replaced inputs) and one batched gradient call over every (input, layer, step)."""
    if steps < 1:
        raise PolyeditError("attribution needs at least one integration step")
    if not queries:
        return []
    inputs, spans = _queries_inputs(lm, queries)
    act, base = activations_and_baselines(lm, inputs, baseline, max_tokens_per_pass)
    grad = summed_gradients(lm, inputs, act, base, steps, max_tokens_per_pass)
    return [Attribution(p, a, lang, steps, act[s:e].cpu(), base[s:e].cpu(), grad[s:e].cpu())
            for (p, a, lang), (s, e) in zip(queries, spans)]


def attribute_reference_loop(lm: LoadedModel, queries: list[tuple[str, str, str]], steps: int = 20,
                             baseline: str = "eos", step_batch: int = 4) -> list[Attribution]:
    """The reference implementation's loop order, for timing and checking: one prompt, one answer token and
    one layer at a time; the real and EOS-replaced activations recomputed for each layer one sequence per
    forward pass; the m steps in minibatches of `step_batch`. Same mathematics as `attribute`."""
    out = []
    for prompt, answer, lang in queries:
        inputs = answer_inputs(lm.tokenizer, prompt, answer, lang)
        n_layers, d_ff = lm.arch.n_layers, lm.arch.intermediate_size
        act = torch.empty(len(inputs), n_layers, d_ff, device=lm.device)
        base, grad = torch.empty_like(act), torch.empty_like(act)
        for t, x in enumerate(inputs):
            for l in range(n_layers):
                a, b = activations_and_baselines(lm, [x], baseline, max_rows=1)
                act[t, l], base[t, l] = a[0, l], b[0, l]
                points = path_points(b[0, l], a[0, l], steps)
                total = torch.zeros(d_ff, device=lm.device)
                for k0 in range(0, steps, step_batch):
                    rows = [GradientRow(x, l, points[k]) for k in range(k0, min(steps, k0 + step_batch))]
                    total += row_gradients(lm, rows, prefix_cache=False).sum(0)
                grad[t, l] = total
        out.append(Attribution(prompt, answer, lang, steps, act.cpu(), base.cpu(), grad.cpu()))
    return out


def select_neurons(scores: torch.Tensor, threshold: float = 0.3) -> set[tuple[int, int]]:
    """Knowledge neurons of one prompt: {(layer, i) : Attr(w_i^(l)) > threshold * max Attr} (Dai et al.'s
    adaptive threshold t; 0.3 in MEMLA). No neuron when no score is positive."""
    top = scores.max().item()
    if top <= 0:
        return set()
    return {(int(l), int(i)) for l, i in torch.nonzero(scores > threshold * top).tolist()}
