"""MEMIT (Meng et al. 2023): many facts at once, spread over a range of MLP layers.

1. For each fact, z = h_L + δ at the output of the last layer L of the range, δ optimised as ROME's v*
   (`rank_one.optimise_values` on the block's output), with prefixes and KL prompt in the edit's language.
2. For each layer l of the range, bottom-up: keys K (at the lookup position, averaged over the contexts),
   the residual still missing at L, a share R of it, and ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹ (`update.batch_update`).
   The contexts are averaged as the reference's `compute_ks` does (`key_weighting: grouped`): the mean within
   each template group ([bare prompt], [prefixes]), then across groups, so the bare prompt weighs 1/2 and
   the prefixes share the other 1/2; `flat` weighs every context the same (ROME's averaging).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from polyedit.data.cases import Edit
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.layer_choice import check_layers
from polyedit.methods.memit.update import batch_update, spread_residual
from polyedit.methods.precision import add_to_weight, commit_note
from polyedit.methods.rank_one import (FACT_TOKENS, KEY_WEIGHTINGS, context_prefixes, fact_contexts, language_info,
                                       optimise_values, read_at, subject_keys)
from polyedit.methods.second_moment import resolve_corpus, second_moments
from polyedit.models.arch import weight_out_in
from polyedit.models.load import LoadedModel


def default_layers(n_layers: int) -> list[int]:
    """Five consecutive layers ending a third of the way up (MEMIT: 3-8 of 28 in GPT-J), fewer in small models."""
    width = max(1, min(5, n_layers // 3))
    last = max(width - 1, n_layers // 3)
    return list(range(last - width + 1, last + 1))


@dataclass
class MEMITHParams(HParams):
    layers: list[int] | None = param(None, "the layer range the update is spread over (default: default_layers)")
    prefixes: int = param(5, "context prefixes generated in the edit's language", ge=0)
    prefix_tokens: int = param(10, "tokens per context prefix", ge=1)
    fact_token: str = param("subject_last", "where the fact is read and written (rank_one.lookup_position)",
                            choices=FACT_TOKENS)
    key_weighting: str = param("grouped", "how the keys average their contexts: grouped (the reference's: bare "
                               "prompt 1/2, prefixes 1/2) or flat (module docstring)", choices=KEY_WEIGHTINGS)
    v_lr: float = param(0.5, "learning rate of the target values' optimisation", gt=0)
    v_steps: int = param(25, "optimisation steps of the target values", ge=0)
    kl_factor: float = param(0.0625, "weight of the KL term on the essence prompt", ge=0)
    v_weight_decay: float = param(0.5, "weight decay on the value change", ge=0)
    clamp_norm_factor: float = param(0.75, "the value change is clamped to this times |h|", gt=0)
    mom2_update_weight: float | None = param(None, "λ of eq. 14 for C = E[kkᵀ] (default: the MLP width)", gt=0)
    stats_corpus: str | None = param(None, "corpus of C (see `polyedit stats`)")
    stats_tokens: int | None = param(None, "tokens streamed for C (default: 10 x MLP width)", ge=1)
    stats_dir: str | None = param(None, "cache of C (default: $POLYEDIT_STATS_DIR or ~/.cache/polyedit/stats)")

    def resolve(self, lm: LoadedModel) -> MEMITHParams:
        layers = self.layers if self.layers is not None else default_layers(lm.arch.n_layers)
        layers = sorted(set(check_layers(layers, lm.arch.n_layers, "memit")))
        # λ ≈ d_ff: the papers' 15000-20000 for MLP widths 6400-16384 (GPT-2 XL, GPT-J, Llama-7B); with
        # kᵀC⁻¹k ≈ d_ff for a typical key, each layer then writes about half of its share of the residual.
        weight = self.mom2_update_weight if self.mom2_update_weight is not None else float(lm.arch.intermediate_size)
        return replace(self, layers=layers, stats_tokens=self.stats_tokens or 10 * lm.arch.intermediate_size,
                       mom2_update_weight=weight)


def bare_prompt_outputs(lm: LoadedModel, layer: int, contexts) -> torch.Tensor:
    """h_L: the output of block `layer` at the subject's last token of each bare edit prompt."""
    return read_at(lm, lm.arch.block(layer), [c.texts[0] for c in contexts], [c.lookup[0] for c in contexts], "output")


@register_method
class MEMIT(EditMethod):
    name = "memit"
    description = "mass-editing memory over a range of MLP layers (Meng et al. 2023), in the edits' languages"
    hparams_class = MEMITHParams
    supports_batch = True

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        corpus = resolve_corpus(lm, hp.stats_corpus)
        cs = second_moments(lm, hp.layers, corpus, hp.stats_tokens, hp.stats_dir)
        names = lm.arch.mlp_out_weights(hp.layers)
        handle = EditHandle(lm, names, info={"layers": hp.layers, "second_moment": corpus})
        contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, hp.prefixes, hp.prefix_tokens, hp.seed),
                                 hp.fact_token) for e in edits]
        z_layer = hp.layers[-1]
        torch.manual_seed(hp.seed)
        value = optimise_values(lm, contexts, lm.arch.block(z_layer), lr=hp.v_lr, steps=hp.v_steps,
                                kl_factor=hp.kl_factor, weight_decay=hp.v_weight_decay,
                                clamp_norm_factor=hp.clamp_norm_factor)
        z = value.v_init + value.delta
        losses = {}
        for i, layer in enumerate(hp.layers):
            keys = subject_keys(lm, layer, contexts, hp.key_weighting)
            residual = spread_residual(z, bare_prompt_outputs(lm, z_layer, contexts).to(z.device), len(hp.layers) - i)
            w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[layer]))
            losses[f"layer {layer}"] = add_to_weight(w, batch_update(cs[layer], keys.to(w.device), residual,
                                                                     hp.mom2_update_weight))
        handle.info.update({**language_info(contexts), "v_loss": value.loss, "v_steps": value.steps})
        commit_note(self.name, losses, w.dtype, handle.info)
        handle.targets = z  # z of each edit at the last layer of the range, for inspection and tests
        return handle
