"""Per-language null spaces (LangEdit-style, Sun et al. 2025): AlphaEdit whose preserved set, for an edit in
language ℓ, holds the corpus keys *and* the keys written earlier by edits in the other languages, so that an
update in one language is projected away from what the other languages' updates wrote (the paper's constraint
(W_{t−1} + ΔW_t) K̄_{t−1} = V̄_{t−1}, i.e. ΔW_t K̄_{t−1} ≈ 0, with K̄ the other languages' keys).

For each language ℓ of a call, in the order its edits first appear, and each layer:

    C_ℓ = (N₀ C + w Σ_{k ∈ K_¬ℓ} k kᵀ) / (N₀ + w |K_¬ℓ|)      the preserved keys' second moment
    P_ℓ = null-space projector of C_ℓ                         (`null_space.null_space_projector`)
    Δ   = R K₁ᵀ P_ℓ (K_p K_pᵀ P_ℓ + K₁ K₁ᵀ P_ℓ + α I)⁻¹         (AlphaEdit eq. 11, K_p: every earlier key)

N₀: the tokens C was estimated from (`stats_tokens`); w = `edited_key_weight`: how many corpus tokens one
written key counts as. This is how the authors' code mixes the two (`get_project`: the corpus moment and
the edited keys' sum, weighted as one more preserved sample each, then cut at the threshold and the
projector recomputed before every step). Their code keeps every earlier key, of any language, in the preserved
set (each of their steps is one language, so the earlier steps are mostly the others); `preserve_edits:
other_languages` (default, what the issue asks) leaves the same language's earlier keys out of the hard
projection (they are still kept softly, in K_p), `all` is the authors' choice. The edits of one call are written
language by language, each language's group seeing the groups before it as earlier edits.
"""

from __future__ import annotations

from typing import Literal

import torch

from polyedit.data.cases import Edit
from polyedit.methods.alphaedit.alphaedit_main import AlphaEditHParams, remember
from polyedit.methods.base import EditMethod, param, register_method
from polyedit.methods.locate_then_edit.mass_edit import layer_moments, spread_edits
from polyedit.methods.locate_then_edit.null_space import (KeyMemory, MemoryHandle, key_memory_bytes,
                                                          null_space_projector, null_space_update,
                                                          require_null_space)
from polyedit.methods.search import log_range
from polyedit.models.load import LoadedModel

PRESERVE_EDITS = ("other_languages", "all")


class LangEditHParams(AlphaEditHParams):
    preserve_edits: Literal[PRESERVE_EDITS] = param("other_languages", "which earlier keys join the projected-out set "
                                                    "of an edit in language ℓ: those of the other languages, or all "
                                                    "(the authors' code)")
    edited_key_weight: float = param(1.0, "w: how many corpus tokens of C one written key counts as", gt=0,
                                     search=log_range(0.1, 100.0))

    def resolve(self, lm: LoadedModel) -> LangEditHParams:
        return self.resolve_range(lm, "langedit")


def preserved_moment(c: torch.Tensor, n_corpus: int, memory: KeyMemory, layer: int, langs: list[str],
                     weight: float) -> torch.Tensor:
    """C_ℓ = (N₀ C + w Σ kkᵀ) / (N₀ + w m) over the written keys of `langs` (float64, on the CPU)."""
    m = memory.count(layer, langs)
    s = memory.second_moment(layer, langs, c.shape[0])
    return (n_corpus * c.double().cpu() + weight * s) / (n_corpus + weight * m)


def language_groups(edits: list[Edit]) -> list[tuple[str, list[Edit]]]:
    groups: dict[str, list[Edit]] = {}
    for e in edits:
        groups.setdefault(e.lang, []).append(e)
    return list(groups.items())


@register_method
class LangEdit(EditMethod):
    name = "langedit"
    description = "AlphaEdit with a null space per language, away from the other languages' edits (Sun et al. 2025)"
    hparams_class = LangEditHParams
    supports_batch = True
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> MemoryHandle:
        hp = self.resolved(lm)
        corpus, cs = layer_moments(lm, hp)
        handle = MemoryHandle(lm, lm.arch.mlp_out_weights(hp.layers), info={"layers": hp.layers, "second_moment": corpus})
        memory, d = handle.memory, lm.arch.intermediate_size
        per_language, info, outcomes = {}, {}, {}
        for lang, group in language_groups(edits):
            ps = {}
            for layer in hp.layers:
                written = memory.languages(layer)
                preserved = written if hp.preserve_edits == "all" else [g for g in written if g != lang]
                c_lang = preserved_moment(cs[layer], hp.stats_tokens, memory, layer, preserved, hp.edited_key_weight)
                p, null = null_space_projector(c_lang, hp.nullspace_threshold, hp.nullspace_fraction)
                require_null_space(null, "langedit", layer, hp.nullspace_threshold, corpus)
                ps[layer] = p
                per_language.setdefault(lang, {})[str(layer)] = {
                    **null, "preserved_edit_keys": memory.count(layer, preserved)}

            def write(layer, keys, residual, w, ps=ps):
                langs = memory.languages(layer)
                kp = memory.second_moment(layer, langs, d) if langs else None
                return null_space_update(keys, residual, ps[layer], kp, hp.l2)

            spread = spread_edits(lm, hp, group, write, method=self.name)
            if hp.remember_edits:
                remember(handle, group, spread.keys)
            for e, out in zip(group, spread.info.pop("edits")):
                outcomes.setdefault(id(e), []).append(out)
            for k, v in spread.info.items():  # per edit, in the order of the call
                info.setdefault(k, []).append(v)
        handle.info["null_space"] = per_language
        handle.info.update(_merged(info, edits))
        handle.info["edits"] = [outcomes[id(e)].pop(0) for e in edits]  # in the order of the call
        return handle

    def state_bytes(self, handle) -> int:
        """The key memory K_p, as AlphaEdit's: grows with the edits."""
        return key_memory_bytes(handle)


def _merged(info: dict[str, list], edits: list[Edit]) -> dict:
    """The same shape for any number of edits and languages: `edits`, one entry per edit in group order;
    `notes`, every group's; each other field one value per language group, in `language_order`."""
    flat = {k: [x for part in info.pop(k, []) for x in part] for k in ("edits", "notes")}
    return {**{k: v for k, v in flat.items() if v or k == "edits"}, **info,
            "language_order": [lang for lang, _ in language_groups(edits)]}
