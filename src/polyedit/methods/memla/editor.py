"""MEMLA's editor: neuron-masked low-rank adaptation of the MLP output projections (Xie et al. 2024, §3.2).

For each block l with selected neurons, one pair per neuron category c (language-specific, -independent):

    ΔW_c^(l) = (B_c A_c) ⊙ M_c        B_c ∈ R^{d_ff x r} = 0,  A_c ∈ R^{r x d} ~ N(0, 1),  r = 4 |N_c^(l)|

in the (in, out) orientation of the projection W_out: d_ff -> d, so that a row of ΔW is the output vector of
one neuron, and M_c keeps only the rows of c's neurons. While training, the block's output becomes
h + x ΔW^(l) with ΔW^(l) = Σ_c ΔW_c^(l); the loss is

    L = 2.5 · NLL(target_new | edit prompt) + 2 · P(target_true | edit prompt)

(sums over target tokens; Adam, lr 1e-3, at most 60 steps, stopping at L < 0.01 or P(target_new) > 0.96).
The update is then committed at a fixed scale, W_out += 0.5 · ΔW^(l) (transposed to the weight's storage).
The reference adds ΔW (d x d_ff for GPT-2's Conv1D) to x (d_ff wide) and so crashes on GPT-2; here the
orientation comes from `Architecture.weight_out_in`, which works for Linear and Conv1D alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from polyedit.data.cases import Edit
from polyedit.methods.objectives import make_target_batch, target_logprobs, trainable
from polyedit.methods.precision import add_to_weight
from polyedit.models.arch import weight_out_in
from polyedit.models.hooks import trace
from polyedit.models.load import LoadedModel


@dataclass
class MaskedLoRA:
    """One LoRA pair of one block: ΔW = (B A) ⊙ M, M selecting the rows `neurons` (all rows if None)."""

    B: torch.Tensor  # (d_ff, r), zeros
    A: torch.Tensor  # (r, d), N(0, 1)
    neurons: torch.Tensor | None  # row indices kept by the mask; None = no mask (ablation)

    @classmethod
    def init(cls, d_ff: int, d: int, neurons: list[int], rank_per_neuron: int, masked: bool,
             generator: torch.Generator, device) -> MaskedLoRA:
        r = rank_per_neuron * len(neurons)
        B = torch.zeros(d_ff, r, device=device, requires_grad=True)
        A = torch.randn(r, d, generator=generator).to(device).requires_grad_(True)
        rows = torch.tensor(sorted(neurons), dtype=torch.long, device=device) if masked else None
        return cls(B, A, rows)

    def row_mask(self) -> torch.Tensor:
        """m ∈ {0,1}^{d_ff} with M = m 1ᵀ."""
        m = torch.zeros(self.B.shape[0], 1, device=self.B.device)
        if self.neurons is None:
            return m + 1
        m[self.neurons] = 1.0
        return m

    def delta(self) -> torch.Tensor:
        """ΔW = (B A) ⊙ M: (d_ff, d), nonzero only in the neurons' rows."""
        return (self.B @ self.A) * self.row_mask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ΔW computed as ((x ⊙ m) B) A: the same product without forming the d_ff x d matrix."""
        xm = x.float() * self.row_mask()[:, 0]
        return (xm @ self.B) @ self.A

    def parameters(self) -> list[torch.Tensor]:
        return [self.B, self.A]


def build_pairs(lm: LoadedModel, categories: list[dict[int, list[int]]], rank_per_neuron: int, masked: bool,
                seed: int) -> dict[int, list[MaskedLoRA]]:
    """Per block: one pair per category with neurons in that block (categories: {layer: [neuron, ...]})."""
    gen = torch.Generator().manual_seed(seed)
    d_ff, d = lm.arch.intermediate_size, lm.arch.hidden_size
    pairs: dict[int, list[MaskedLoRA]] = {}
    for layer in range(lm.arch.n_layers):
        device = lm.model.get_submodule(lm.arch.mlp_out[layer]).weight.device  # with a device map: the layer's
        for cat in categories:
            if cat.get(layer):
                pairs.setdefault(layer, []).append(
                    MaskedLoRA.init(d_ff, d, cat[layer], rank_per_neuron, masked, gen, device))
    return pairs


def memla_loss(logits: torch.Tensor, batch, hp, has_true: bool) -> tuple[torch.Tensor, float]:
    """(L = 2.5 NLL(target_new) + 2 P(target_true), P(target_new)); row 0 is target_new, row 1 target_true."""
    logp = target_logprobs(logits, batch).sum(1)  # log P(whole target) per row
    nll_new = -logp[0]
    loss = hp.nll_weight * nll_new
    if has_true:
        loss = loss + hp.true_prob_weight * logp[1].exp()
    return loss, logp[0].exp().item()


def train_pairs(lm: LoadedModel, edit: Edit, pairs: dict[int, list[MaskedLoRA]], hp) -> dict:
    """Adam on the pairs' B and A until the loss or P(target_new) stopping rule; the model is frozen."""
    names = {lm.arch.mlp_out[layer]: layer for layer in pairs}
    rows = [(edit.prompt, edit.target_new, edit.lang)]
    has_true = bool(edit.target_true)
    if has_true:
        rows.append((edit.prompt, edit.target_true, edit.lang))
    batch = make_target_batch(lm, rows)
    params = [p for layer in pairs.values() for pair in layer for p in pair.parameters()]
    info = {"steps": 0, "loss": None, "p_new": None}
    if not params:
        return info
    inputs: dict[str, torch.Tensor] = {}

    def keep_input(name, x):
        inputs[name] = x
        return x

    def add_delta(name, out):
        lora = sum(pair.forward(inputs[name]) for pair in pairs[names[name]])
        return out + lora.to(out.dtype)

    opt = torch.optim.Adam(params, lr=hp.lr)
    with trainable(lm.model, []), trace(lm.model, list(names), retain_output=False, edit_input=keep_input,
                                        edit_output=add_delta):
        for step in range(hp.max_steps):
            opt.zero_grad()
            logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            loss, p_new = memla_loss(logits, batch, hp, has_true)
            info.update(loss=loss.item(), p_new=p_new)
            if loss.item() < hp.early_stop_loss or p_new > hp.early_stop_prob:
                break
            loss.backward()
            opt.step()
            info["steps"] = step + 1
    return info


def commit(lm: LoadedModel, pairs: dict[int, list[MaskedLoRA]], scale: float) -> dict[str, float]:
    """W_out^(l) += scale · ΔW^(l), written through the (out, in) view so both storage orientations work.
    Returns each layer's commit loss (`precision.add_to_weight`)."""
    losses = {}
    with torch.no_grad():
        for layer, layer_pairs in pairs.items():
            module = lm.model.get_submodule(lm.arch.mlp_out[layer])
            delta = sum(pair.delta() for pair in layer_pairs)  # (d_ff, d) = (in, out)
            w = weight_out_in(module)  # (d, d_ff), a view for Conv1D
            losses[f"layer {layer}"] = add_to_weight(w, scale * delta.T)
    return losses
