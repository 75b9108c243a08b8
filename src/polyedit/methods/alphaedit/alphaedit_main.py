"""AlphaEdit (Fang et al. 2025): MEMIT's pipeline (`mass_edit`) with each layer's update projected onto the null
space of the preserved keys and fitted with the keys of the earlier edits of the sequence kept in place:

    Δ = R K₁ᵀ P (K_p K_pᵀ P + K₁ K₁ᵀ P + α I)⁻¹          (eq. 11; `null_space.null_space_update`)

P from the same second moment C = E[kkᵀ] that MEMIT uses (`second_moment`), cut at `nullspace_threshold`
(`null_space.null_space_projector`); C enters only through P, as in the reference (no λC term). K_p: the keys
of every earlier edit of this model written into the layer (`null_space.KeyMemory`, forgotten on restore);
after an edit its keys join K_p, read once per layer (module docstring of `mass_edit`: they are the edited
model's keys, what the reference recomputes after the edit).

Deviation, documented: on the built-in world models (d_ff = 352, every direction used) C has no eigenvalue
below the reference's 2e-2 at the edited layers (smallest ≈ 1e-3 to 2e-2), so there is no null space to project
on; `nullspace_fraction` keeps instead a fixed share of the eigenvectors with the smallest eigenvalues, and the
share of C's trace left inside is recorded (`trace_share_kept`), so a run says how much of the preserved keys'
energy the update could still touch. An empty null space is an error, never a silent no-op.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from polyedit.data.cases import Edit
from polyedit.methods.base import EditMethod, param, register_method
from polyedit.methods.locate_then_edit.mass_edit import MassEditHParams, layer_moments, spread_edits
from polyedit.methods.locate_then_edit.null_space import (MemoryHandle, key_memory_bytes, null_space_projector,
                                                          null_space_update, require_null_space)
from polyedit.methods.search import log_range, real_range
from polyedit.models.load import LoadedModel


class AlphaEditHParams(MassEditHParams):
    nullspace_threshold: float = param(2e-2, "eigenvalues of C below this span the null space P projects on (the "
                                       "reference's configs: 2e-2)", gt=0)
    nullspace_fraction: float | None = param(None, "instead of the threshold: this share of C's eigenvectors, "
                                             "those of the smallest eigenvalues (module docstring)", gt=0, le=1,
                                             search=real_range(0.1, 0.9))
    l2: float = param(10.0, "α of eq. 11, the ridge on ‖ΔP‖ (the reference's L2)", gt=0, search=log_range(0.1, 100.0))
    remember_edits: bool = param(True, "add each edit's keys to K_p, the keys later edits keep in place "
                                 "(false: every edit fits with K_p empty)")

    def resolve(self, lm: LoadedModel) -> AlphaEditHParams:
        return self.resolve_range(lm, "alphaedit")


class Projectors(dict):
    """A model's memo of null-space projectors (its slot in `lm.method_state`): (layer, corpus, statistics and
    threshold settings) -> (P, what `null_space_projector` reports)."""


def projector(lm: LoadedModel, c: torch.Tensor, layer: int, corpus: str, hp: AlphaEditHParams,
              method: str = "alphaedit") -> tuple[torch.Tensor, dict]:
    """P of `layer` from its C, memoised on the model (an eigendecomposition of d_ff × d_ff per layer)."""
    memo = lm.method_state.of(Projectors)
    key = (layer, corpus, hp.stats_tokens, hp.stats_dir, hp.nullspace_threshold, hp.nullspace_fraction)
    if key not in memo:
        p, info = null_space_projector(c, hp.nullspace_threshold, hp.nullspace_fraction)
        require_null_space(info, method, layer, hp.nullspace_threshold, corpus)
        memo[key] = (p.to(c.device), info)
    return memo[key]


def remember(handle: MemoryHandle, edits: list[Edit], keys: dict[int, torch.Tensor]) -> None:
    """Add the keys written into each layer to the memory, one entry per (layer, language)."""
    rows = defaultdict(list)
    for i, e in enumerate(edits):
        rows[e.lang].append(i)
    for layer, k in keys.items():
        for lang, idx in rows.items():
            handle.memory.add(layer, lang, k[idx])


@register_method
class AlphaEdit(EditMethod):
    name = "alphaedit"
    description = "MEMIT projected onto the null space of preserved keys, earlier edits kept (Fang et al. 2025)"
    hparams_class = AlphaEditHParams
    supports_batch = True
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> MemoryHandle:
        hp = self.resolved(lm)
        corpus, cs = layer_moments(lm, hp)
        ps = {layer: projector(lm, cs[layer], layer, corpus, hp) for layer in hp.layers}
        handle = MemoryHandle(lm, lm.arch.mlp_out_weights(hp.layers), info={"layers": hp.layers, "second_moment": corpus})
        memory, d = handle.memory, lm.arch.intermediate_size

        def write(layer, keys, residual, w):
            langs = memory.languages(layer)
            kp = memory.second_moment(layer, langs, d) if langs else None
            return null_space_update(keys, residual, ps[layer][0], kp, hp.l2)

        handle.info["earlier_keys"] = memory.count(hp.layers[0], memory.languages(hp.layers[0]))
        spread = spread_edits(lm, hp, edits, write, method=self.name)
        if hp.remember_edits:
            remember(handle, edits, spread.keys)
        handle.info.update({**spread.info, "null_space": {str(layer): ps[layer][1] for layer in hp.layers}})
        handle.targets = spread.z
        return handle

    def state_bytes(self, handle) -> int:
        """The key memory K_p (each edit's keys, kept so later edits leave them in place): grows with the edits."""
        return key_memory_bytes(handle)
