"""memit-sum, a control: each edit's MEMIT update computed on its own against the unedited weights W₀ and one
shared C, then the updates summed,

    ΔW_l = Σᵢ ΔW_l⁽ⁱ⁾,    ΔW_l⁽ⁱ⁾ = R⁽ⁱ⁾ k⁽ⁱ⁾ᵀ (λC + k⁽ⁱ⁾k⁽ⁱ⁾ᵀ)⁻¹   (MEMIT eq. 14 for the single edit i on W₀)

the summation merge with a shared covariance that multilingual merging studies compare joint editing against
(each edit's update knows nothing of the others: no KKᵀ of the batch couples them). For one edit it is MEMIT.

Sequential mode: each call computes its edits' updates against the same W₀ (`base_weights`: the layers as they
were before the first memit-sum edit still in the model), not the model as the earlier edits left it, and adds
them; after T steps the model holds W₀ + Σ ΔW⁽ⁱ⁾, the batch's result.
"""

from __future__ import annotations

import torch

from polyedit.data.cases import Edit
from polyedit.methods.base import EditMethod, register_method
from polyedit.methods.locate_then_edit.mass_edit import (FactValues, fact_values, layer_moments, mlp_width_weight,
                                                        spread_edits)
from polyedit.methods.memit.memit_main import MEMITHParams
from polyedit.methods.memit.update import batch_update
from polyedit.methods.memit_sum.base_weights import SumHandle, base_weights
from polyedit.methods.precision import add_to_weight, commit_note
from polyedit.models.arch import weight_out_in
from polyedit.models.load import LoadedModel


def single_update(lm: LoadedModel, hp: MEMITHParams, edit: Edit, facts: FactValues, cs: dict, params: dict,
                  w0: dict, method: str) -> tuple[dict[int, torch.Tensor], dict]:
    """ΔW⁽ⁱ⁾ of each layer (float64, (d_out, d_ff)) for one edit, computed by MEMIT on W₀ from the edit's value
    `facts` (made on W₀); the model is left at W₀."""
    deltas = {}

    def write(layer, keys, residual, w):
        deltas[layer] = batch_update(cs[layer], keys, residual, hp.mom2_update_weight)
        return deltas[layer]

    try:
        spread = spread_edits(lm, hp, [edit], write, method=method, facts=facts)
    finally:
        set_weights(params, w0)
    return deltas, spread.info


@torch.no_grad()
def set_weights(params: dict, values: dict) -> None:
    for name, p in params.items():
        p.copy_(values[name])


class MEMITSumHParams(MEMITHParams):
    """MEMIT's hyperparameters (and search space), each edit's update computed with them."""

    def resolve(self, lm: LoadedModel) -> MEMITSumHParams:
        hp = self.resolve_range(lm, "memit-sum")  # a refused layer range names this method
        return hp.model_copy(update={"mom2_update_weight": mlp_width_weight(self.mom2_update_weight, lm)})


@register_method
class MEMITSum(EditMethod):
    name = "memit-sum"
    description = ("control of MEMIT: each edit's MEMIT update computed alone on the unedited weights against one "
                   "shared C, then summed (a merge baseline, not a published editor)")
    hparams_class = MEMITSumHParams
    supports_batch = True
    control_of = "memit"

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> SumHandle:
        hp = self.resolved(lm)
        corpus, cs = layer_moments(lm, hp)
        names = lm.arch.mlp_out_weights(hp.layers)
        handle = SumHandle(lm, names, info={"layers": hp.layers, "second_moment": corpus})
        params = {n: lm.model.get_parameter(n) for n in names}
        now = {n: p.detach().clone() for n, p in params.items()}
        w0 = {n: base_weights(lm)[n] for n in names}
        set_weights(params, w0)
        total, entries = {}, []
        try:
            # every edit's value at once, on W₀: the optimisation is batched, each fact's δ its single-edit one
            facts = fact_values(lm, hp, edits, self.name)
            for i, edit in enumerate(edits):
                deltas, info = single_update(lm, hp, edit, facts.take(i), cs, params, w0, self.name)
                for layer, d in deltas.items():
                    total[layer] = total[layer] + d if layer in total else d
                entries += info["edits"]
                handle.info.setdefault("z_module", info["z_module"])
        finally:
            set_weights(params, now)  # the model as the earlier edits left it, then the sum is added
        losses = {f"layer {layer}": add_to_weight(weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[layer])),
                                                  total[layer]) for layer in hp.layers}
        handle.info["edits"] = entries
        commit_note(self.name, losses, params[names[0]].dtype, handle.info)
        return handle
