"""The pipeline MEMIT's family shares (MEMIT, AlphaEdit, LangEdit-style, EMMET): what differs between them is only
the update each layer gets from its keys and residual.

1. For each fact, z = h_L + δ at the output of the last layer L of the range, δ optimised as ROME's v*
   (`rank_one.optimise_values` on the block's output; in a post-norm block on its MLP output projection
   instead: `value_module`), with prefixes and KL prompt in the edit's language.
2. For each layer l of the range, bottom-up: keys K (at the lookup position, averaged over the contexts with
   `key_weighting`), the residual still missing at L, a share R of it (MEMIT Alg. 1, line 10), and the update
   ΔW = `write(layer, K, R, W)` of the method (MEMIT: eq. 14; AlphaEdit: eq. 11 with its projection; EMMET:
   the equality-constrained closed form).

The keys of layer l are the input of its MLP output projection, so they depend on the layers below it (already
edited when they are read) but not on l itself or the layers above: the keys returned are also the edited
model's keys, which is what the sequential editors remember (AlphaEdit's K_p).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

from polyedit.data.cases import Edit
from polyedit.errors import PolyeditError
from polyedit.methods import convergence
from polyedit.methods.base import HParams, param
from polyedit.methods.layer_choice import check_layers
from polyedit.methods.precision import add_to_weight, commit_note
from polyedit.methods.locate_then_edit.second_moment import resolve_corpus, second_moments
from polyedit.methods.search import choice, int_range, layer_sets, log_range
from polyedit.methods.locate_then_edit.rank_one import (FACT_TOKENS, KEY_WEIGHTINGS, FactContexts, ValueResult,
                                                        context_prefixes, fact_contexts, language_info,
                                                        optimise_values, read_at, subject_keys)
from polyedit.models.arch import weight_out_in
from polyedit.models.load import LoadedModel


def default_layers(n_layers: int) -> list[int]:
    """Five consecutive layers ending a third of the way up (MEMIT: 3-8 of 28 in GPT-J), fewer in small models."""
    width = max(1, min(5, n_layers // 3))
    last = max(width - 1, n_layers // 3)
    return list(range(last - width + 1, last + 1))


class MassEditHParams(HParams):
    """The fields every editor of the family has (its own fields follow in its subclass)."""

    layers: list[int] | None = param(None, "the layer range the update is spread over (default: default_layers)",
                                     search=layer_sets())
    prefixes: int = param(5, "context prefixes generated in the edit's language", ge=0)
    prefix_tokens: int = param(10, "tokens per context prefix", ge=1)
    fact_token: Literal[FACT_TOKENS] = param("subject_last", "where the fact is read and written "
                                             "(rank_one.lookup_position)", search=choice(*FACT_TOKENS))
    key_weighting: Literal[KEY_WEIGHTINGS] = param("grouped", "how the keys average their contexts: grouped (the "
                                                   "reference's: bare prompt 1/2, prefixes 1/2) or flat (every context "
                                                   "the same)")
    v_lr: float = param(0.5, "learning rate of the target values' optimisation", gt=0, search=log_range(0.05, 2.0))
    v_steps: int = param(25, "optimisation steps of the target values", ge=0, search=int_range(5, 40))
    kl_factor: float = param(0.0625, "weight of the KL term on the essence prompt", ge=0)
    v_weight_decay: float = param(0.5, "weight decay on the value change", ge=0)
    clamp_norm_factor: float = param(0.75, "the value change is clamped to this times |h|", gt=0,
                                     search=log_range(0.5, 100.0))
    stats_corpus: str | None = param(None, "corpus of C (see `polyedit stats`)")
    stats_tokens: int | None = param(None, "tokens streamed for C (default: 10 x MLP width)", ge=1)
    stats_dir: str | None = param(None, "cache of C (default: $POLYEDIT_STATS_DIR or ~/.cache/polyedit/stats)")

    def resolve_range(self, lm: LoadedModel, method: str):
        """The layers (default or checked, sorted) and the token count of C, for the model."""
        layers = self.layers if self.layers is not None else default_layers(lm.arch.n_layers)
        layers = sorted(set(check_layers(layers, lm.arch.n_layers, method)))
        if self.layers is None and any(lm.arch.post_norm[layer] for layer in layers if lm.arch.post_norm):
            layers = layers[-1:]  # post-norm blocks: one layer is exact, a spread is not (`value_module`)
        return self.model_copy(update=dict(layers=layers,
                                           stats_tokens=self.stats_tokens or 10 * lm.arch.intermediate_size))


def layer_moments(lm: LoadedModel, hp: MassEditHParams) -> tuple[str, dict[int, torch.Tensor]]:
    """The corpus named for C and C = E[kkᵀ] of each layer of the range (cached by `second_moments`)."""
    corpus = resolve_corpus(lm, hp.stats_corpus)
    return corpus, second_moments(lm, hp.layers, corpus, hp.stats_tokens, hp.stats_dir)


def mlp_width_weight(value: float | None, lm: LoadedModel) -> float:
    """λ of C = λ E[kkᵀ], by default the MLP width: the papers' 15000-20000 for MLP widths 6400-16384 (GPT-2 XL,
    GPT-J, Llama-7B); with kᵀC⁻¹k ≈ d_ff for a typical key, each layer then writes about half of its share of
    the residual."""
    return value if value is not None else float(lm.arch.intermediate_size)


def bare_prompt_outputs(lm: LoadedModel, layer: int, contexts, module: str | None = None) -> torch.Tensor:
    """h_L: the output of block `layer` (or of `module`) at the subject's last token of each bare edit prompt."""
    return read_at(lm, module or lm.arch.block(layer), [c.texts[0] for c in contexts],
                   [c.lookup[0] for c in contexts], "output")


def value_module(lm: LoadedModel, layers: list[int], method: str) -> str:
    """Where z is optimised and the residual measured: the output of the range's last block, as MEMIT does.

    In a post-norm block (OLMo-2, Gemma-2/3: the MLP output is normalised before the residual add) a change
    written into the MLP output projection does not reach the block output unchanged, so there z lives at the
    output projection's own output: the update then writes exactly the change that was optimised, seen by
    the block through its norm. Spreading one residual over several such layers has no exact form: refused."""
    norms = [lm.arch.post_norm[layer] for layer in layers if lm.arch.post_norm and lm.arch.post_norm[layer]]
    if not norms:
        return lm.arch.block(layers[-1])
    if len(layers) > 1:
        raise PolyeditError(f"{method}: {norms[0]} normalises the MLP output before the residual add, so one "
                            f"residual cannot be spread exactly over layers {layers}; edit one layer "
                            f"(layers: [{layers[-1]}])")
    return lm.arch.mlp_out[layers[-1]]


def spread_residual(z: torch.Tensor, z_now: torch.Tensor, layers_left: int) -> torch.Tensor:
    """R = (z − h_L) / (number of layers still to edit): the share of the remaining residual this layer
    writes (MEMIT Alg. 1, line 10). Shapes (n_facts, d_model)."""
    return (z - z_now) / layers_left


#: write(layer, keys K (n, d_ff), residual R (n, d_out), weight W (d_out, d_ff)) -> ΔW (d_out, d_ff)
LayerWrite = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Spread:
    info: dict  # what to record: language handling, v* loss and steps, each edit's outcome ("edits")
    z: torch.Tensor  # (n_facts, d_model): the target of each fact at the last layer of the range
    keys: dict[int, torch.Tensor]  # layer -> the keys written there, (n_facts, d_ff)


@dataclass
class FactValues:
    """Step 1 for a list of edits: each fact's contexts and its optimised value at `module`."""
    contexts: list[FactContexts]
    value: ValueResult
    module: str

    def take(self, i: int) -> FactValues:
        """Edit i's step 1 alone (each fact's δ is optimised on its own loss: what it gets alone)."""
        return FactValues(self.contexts[i:i + 1], self.value.take(i), self.module)


def fact_values(lm: LoadedModel, hp: MassEditHParams, edits: list[Edit], method: str = "memit") -> FactValues:
    """Step 1 of the module docstring on the model as it is now; `hp` resolved (`resolve_range`)."""
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, hp.prefixes, hp.prefix_tokens, hp.seed),
                              hp.fact_token) for e in edits]
    module = value_module(lm, hp.layers, method)
    torch.manual_seed(hp.seed)
    value = optimise_values(lm, contexts, module, lr=hp.v_lr, steps=hp.v_steps,
                            kl_factor=hp.kl_factor, weight_decay=hp.v_weight_decay,
                            clamp_norm_factor=hp.clamp_norm_factor)
    return FactValues(contexts, value, module)


def spread_edits(lm: LoadedModel, hp: MassEditHParams, edits: list[Edit], write: LayerWrite,
                 method: str = "memit", facts: FactValues | None = None) -> Spread:
    """Steps 1-2 of the module docstring, in place; `hp` resolved (`resolve_range`). Step 1 is `facts` where
    given (`fact_values` of these edits, made on the model as it is now). What each layer's commit in the
    model's dtype lost of its update is recorded (`precision.commit_note`, under `method`'s name)."""
    facts = facts or fact_values(lm, hp, edits, method)
    contexts, value, module, z_layer = facts.contexts, facts.value, facts.module, hp.layers[-1]
    z = value.v_init + value.delta
    written, losses = {}, {}
    for i, layer in enumerate(hp.layers):
        keys = subject_keys(lm, layer, contexts, hp.key_weighting)
        now = bare_prompt_outputs(lm, z_layer, contexts, module).to(z.device)
        residual = spread_residual(z, now, len(hp.layers) - i)
        w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[layer]))
        losses[f"layer {layer}"] = add_to_weight(w, write(layer, keys.to(w.device), residual.to(w.device), w))
        written[layer] = keys
    # per-edit fields in one entry per edit (the same shape for one edit as for many)
    info = {"edits": [{**lang, "v_loss": loss} for lang, loss in zip(language_info(contexts), value.loss)],
            "z_module": module}
    convergence.record(info, [convergence.outcome(loss, steps, value.early_stop_loss)
                              for loss, steps in zip(value.loss, value.steps)])
    commit_note(method, losses, w.dtype, info)
    return Spread(info, z, written)
