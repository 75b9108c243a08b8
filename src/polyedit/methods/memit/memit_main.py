"""MEMIT (Meng et al. 2023): many facts at once, spread over a range of MLP layers.

The pipeline is `mass_edit.spread_edits` (z at the last layer of the range, then bottom-up per-layer writes);
MEMIT's write is ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹ (`update.batch_update`, eq. 14). The contexts are averaged as the
reference's `compute_ks` does (`key_weighting: grouped`): the mean within each template group ([bare prompt],
[prefixes]), then across groups, so the bare prompt weighs 1/2 and the prefixes share the other 1/2; `flat`
weighs every context the same (ROME's averaging).
"""

from __future__ import annotations


from polyedit.data.cases import Edit
from polyedit.methods.base import EditHandle, EditMethod, param, register_method
from polyedit.methods.locate_then_edit.mass_edit import (MassEditHParams, bare_prompt_outputs, default_layers,
                                                         layer_moments, mlp_width_weight, spread_edits)
from polyedit.methods.memit.update import batch_update
from polyedit.methods.search import log_range
from polyedit.models.load import LoadedModel

__all__ = ["MEMIT", "MEMITHParams", "bare_prompt_outputs", "default_layers"]


class MEMITHParams(MassEditHParams):
    mom2_update_weight: float | None = param(None, "λ of eq. 14 for C = E[kkᵀ] (default: the MLP width)", gt=0,
                                             search=log_range(1.0, 1e5))

    def resolve(self, lm: LoadedModel) -> MEMITHParams:
        hp = self.resolve_range(lm, "memit")
        return hp.model_copy(update=dict(mom2_update_weight=mlp_width_weight(self.mom2_update_weight, lm)))


@register_method
class MEMIT(EditMethod):
    name = "memit"
    description = "mass-editing memory over a range of MLP layers (Meng et al. 2023), in the edits' languages"
    hparams_class = MEMITHParams
    supports_batch = True
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        corpus, cs = layer_moments(lm, hp)
        handle = EditHandle(lm, lm.arch.mlp_out_weights(hp.layers), info={"layers": hp.layers, "second_moment": corpus})
        spread = spread_edits(lm, hp, edits, lambda layer, keys, residual, w:
                              batch_update(cs[layer], keys, residual, hp.mom2_update_weight), method=self.name)
        handle.info.update(spread.info)
        handle.targets = spread.z  # z of each edit at the last layer of the range, for inspection and tests
        return handle
