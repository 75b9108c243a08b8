"""ROME (Meng et al. 2022): write one fact into one MLP output projection with a rank-one update.

For each edit: k* is the key at the lookup position averaged (flat, as ROME's `compute_u`) over the bare
prompt and the context prefixes in the edit's language (`rank_one.subject_keys`), δ is optimised on the edit
prompt and the essence KL term (`rank_one.optimise_values`, at the output of the MLP output projection), and
the update is the rank-one closed form of `update.rank_one_update` with the second moment C of the layer's
keys (`second_moment`), along C⁻¹k*. `denominator_key` chooses the key the edited layer maps onto v*:

- `bare_prompt` (default, what the reference code does and the published ROME numbers come from):
  v* = W k₀ + δ with k₀ the bare prompt's key, ΔW = δ (C⁻¹k*)ᵀ / ((C⁻¹k*)ᵀ k₀);
- `context_mean` (the paper's eq. 2): v* = W k* + δ, ΔW = δ (C⁻¹k*)ᵀ / ((C⁻¹k*)ᵀ k*).

Several edits in one call are applied one after another, each on the already edited model.
"""

from __future__ import annotations

from typing import Literal

import torch

from polyedit.data.cases import Edit, EditCase
from polyedit.methods import convergence
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.layer_choice import check_layers, layer_at
from polyedit.methods.precision import add_to_weight, commit_note, committed
from polyedit.methods.locate_then_edit.rank_one import (FACT_TOKENS, context_keys, context_prefixes, fact_contexts,
                                                        language_info, mean_key, optimise_values)
from polyedit.methods.rome.update import DENOMINATOR_KEYS, rank_one_update
from polyedit.methods.locate_then_edit.second_moment import resolve_corpus, second_moments
from polyedit.methods.search import choice, int_range, log_range, one_layer
from polyedit.models.arch import weight_out_in
from polyedit.models.load import LoadedModel


ROME_DEPTH = 0.18


class ROMEHParams(HParams):
    layer: int | None = param(None, "the edited layer (default: 18% of the way up; ROME: 5 of 28 in GPT-J)",
                              search=one_layer())
    prefixes: int = param(5, "context prefixes generated in the edit's language (k* and v* average over them)",
                          ge=0)
    prefix_tokens: int = param(10, "tokens per context prefix", ge=1)
    fact_token: Literal[FACT_TOKENS] = param("subject_last", "where the fact is read and written "
                                             "(rank_one.lookup_position)", search=choice(*FACT_TOKENS))
    denominator_key: Literal[DENOMINATOR_KEYS] = param("bare_prompt", "the key of the update's denominator: "
                                                       "bare_prompt (the reference code's) or context_mean (the "
                                                       "paper's eq. 2; module docstring)")
    v_lr: float = param(0.5, "learning rate of v*'s optimisation", gt=0, search=log_range(0.05, 2.0))
    v_steps: int = param(20, "optimisation steps of v*", ge=0, search=int_range(5, 40))
    kl_factor: float = param(0.0625, "weight of the KL term on the essence prompt", ge=0)
    v_weight_decay: float = param(0.5, "weight decay on δ = v* - W k*", ge=0)
    clamp_norm_factor: float = param(4.0, "|δ| is clamped to this times |W k*|", gt=0, search=log_range(1.0, 200.0))
    stats_corpus: str | None = param(None, "corpus of C (see `polyedit stats`); default: world corpus or identity")
    stats_tokens: int | None = param(None, "tokens streamed for C (default: 10 x MLP width)", ge=1)
    stats_dir: str | None = param(None, "cache of C (default: $POLYEDIT_STATS_DIR or ~/.cache/polyedit/stats)")

    def resolve(self, lm: LoadedModel) -> ROMEHParams:
        layer = self.layer if self.layer is not None else layer_at(lm.arch.n_layers, ROME_DEPTH)
        check_layers([layer], lm.arch.n_layers, "rome")
        return self.model_copy(update=dict(layer=layer,
                                           stats_tokens=self.stats_tokens or 10 * lm.arch.intermediate_size))


def rome_edit(lm: LoadedModel, edit: Edit, hp: ROMEHParams, c: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """One ROME edit in place; returns what to record, and the key k and value v* with Ŵ k = v*."""
    [(record, k_fit, v_star, delta)] = rome_updates(lm, [edit], hp, c)
    record["commit_loss"] = add_to_weight(weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[hp.layer])), delta)
    return record, k_fit, v_star


def rome_updates(lm: LoadedModel, edits: list[Edit], hp: ROMEHParams, c: torch.Tensor) -> list[tuple]:
    """ROME's update of each edit against the weights as they are, none written: per edit (record, k, v*, ΔW in
    the (out, in) view). The v* of all edits are optimised together, each δ with its single-fact gradient and
    its own stopping (`rank_one.optimise_facts`), so each is the v* it gets alone."""
    module = lm.arch.mlp_out[hp.layer]
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, hp.prefixes, hp.prefix_tokens, hp.seed),
                              hp.fact_token) for e in edits]
    keys = context_keys(lm, hp.layer, contexts)
    torch.manual_seed(hp.seed)
    value = optimise_values(lm, contexts, module, lr=hp.v_lr, steps=hp.v_steps, kl_factor=hp.kl_factor,
                            weight_decay=hp.v_weight_decay, clamp_norm_factor=hp.clamp_norm_factor)
    w = weight_out_in(lm.model.get_submodule(module))
    out = []
    for i, info in enumerate(language_info(contexts)):
        k_star = mean_key(keys[i], "flat")  # ROME's compute_u: "{}" and the prefixes weigh the same
        k_fit = keys[i][0] if hp.denominator_key == "bare_prompt" else k_star
        with torch.no_grad():
            k_star, k_fit = k_star.to(w.device), k_fit.to(w.device)
            v_star = w.float() @ k_fit + value.delta[i].to(w.device)  # v* = W k + δ (bias unchanged: added to both)
            delta = rank_one_update(w, c, k_star, v_star, k_fit)
        record = {**info, "v_loss": value.loss[i], "v_steps": value.steps[i],
                  "delta_norm": value.delta[i].norm().item(),
                  "outcome": convergence.outcome(value.loss[i], value.steps[i], value.early_stop_loss)}
        out.append((record, k_fit, v_star, delta))
    return out


@register_method
class ROME(EditMethod):
    name = "rome"
    description = "rank-one model editing of one MLP layer (Meng et al. 2022), prefixes and KL prompt in the edit's language"
    hparams_class = ROMEHParams
    supports_batch = False
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        corpus = resolve_corpus(lm, hp.stats_corpus)
        c = second_moments(lm, [hp.layer], corpus, hp.stats_tokens, hp.stats_dir)[hp.layer]
        handle = EditHandle(lm, lm.arch.mlp_out_weights([hp.layer]), info={"layer": hp.layer, "second_moment": corpus})
        done = [rome_edit(lm, e, hp, c) for e in edits]
        self._record(handle, hp, [r for r, _, _ in done], lm.dtype)
        handle.keys_values = [(k, v) for _, k, v in done]  # (k, v*) with Ŵ k = v*, for inspection and tests
        return handle

    def independent_changes(self, lm: LoadedModel, cases: list[EditCase]) -> list[tuple[EditHandle, dict]]:
        """Each case's edit alone on the unedited model, their v* optimised together (`rome_updates`), as the
        change its `apply` would commit (`precision.committed`); no weight is written."""
        hp = self.resolved(lm)
        corpus = resolve_corpus(lm, hp.stats_corpus)
        c = second_moments(lm, [hp.layer], corpus, hp.stats_tokens, hp.stats_dir)[hp.layer]
        module = lm.arch.mlp_out[hp.layer]
        w = weight_out_in(lm.model.get_submodule(module))
        out = []
        for record, _, _, delta in rome_updates(lm, [c_.edit for c_ in cases], hp, c):
            _, change, record["commit_loss"] = committed(w, delta)
            handle = EditHandle(lm, (), info={"layer": hp.layer, "second_moment": corpus})
            self._record(handle, hp, [record], lm.dtype)
            handle.info.setdefault("hparams", hp.to_dict())
            out.append((handle, {module: change}))
        return out

    def _record(self, handle: EditHandle, hp: ROMEHParams, records: list[dict], dtype) -> None:
        outcomes = [r.pop("outcome") for r in records]
        losses = {f"layer {hp.layer}" + (f", edit {i}" if len(records) > 1 else ""): r.pop("commit_loss")
                  for i, r in enumerate(records)}
        handle.info["edits"] = records  # one entry per edit, however many
        convergence.record(handle.info, outcomes)
        commit_note(self.name, losses, dtype, handle.info)
