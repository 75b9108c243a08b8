"""EMMET (Gupta et al. 2024): MEMIT's pipeline (`mass_edit`: z at the last layer of the range, residual spread
bottom-up over the layers) with ROME's equality constraint for the whole batch instead of MEMIT's least
squares: each layer writes its share R of the residual exactly for every edit's key (`update.emmet_update`).

With one layer and one edit this is ROME (eq. 2 of ROME, context-mean key); with several edits of distinct
keys every one is written exactly, where MEMIT trades them off against the preserved keys. `emmet_lambda`
(0.1, the authors' unified-editing configs) regularises K₁ᵀC⁻¹K₁ for batches of two or more edits, whose keys
may be nearly dependent; a single edit is written exactly, as in the authors' code (EasyEdit's copy adds ε
to a single edit too).
"""

from __future__ import annotations


from polyedit.data.cases import Edit
from polyedit.methods.base import EditHandle, EditMethod, param, register_method
from polyedit.methods.emmet.update import emmet_update
from polyedit.methods.locate_then_edit.mass_edit import MassEditHParams, layer_moments, mlp_width_weight, spread_edits
from polyedit.methods.search import log_range
from polyedit.models.load import LoadedModel


class EMMETHParams(MassEditHParams):
    mom2_update_weight: float | None = param(None, "λ of C = λ E[kkᵀ] (default: the MLP width, as MEMIT's); it "
                                             "matters only through emmet_lambda", gt=0)
    emmet_lambda: float = param(0.1, "ε added to the diagonal of K₁ᵀC⁻¹K₁ for batches of two or more edits (0: exact)", ge=0,
                                 search=log_range(1e-3, 1.0))
    update_norm_lambda: float = param(0.0, "μ added to the diagonal of C (the reference's, default 0)", ge=0)

    def resolve(self, lm: LoadedModel) -> EMMETHParams:
        hp = self.resolve_range(lm, "emmet")
        return hp.model_copy(update=dict(mom2_update_weight=mlp_width_weight(self.mom2_update_weight, lm)))


@register_method
class EMMET(EditMethod):
    name = "emmet"
    description = "equality-constrained batched ROME over MEMIT's layer range (Gupta et al. 2024)"
    hparams_class = EMMETHParams
    supports_batch = True
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        corpus, cs = layer_moments(lm, hp)
        handle = EditHandle(lm, lm.arch.mlp_out_weights(hp.layers), info={"layers": hp.layers, "second_moment": corpus})
        spread = spread_edits(lm, hp, edits, lambda layer, keys, residual, w: emmet_update(
            cs[layer], keys, residual, hp.mom2_update_weight, hp.emmet_lambda, hp.update_norm_lambda), method=self.name)
        handle.info.update(spread.info)
        handle.targets = spread.z
        return handle
