"""FT-L: constrained fine-tuning (Zhu et al. 2020, "Modifying Memories in Transformer Models"), as run in
ROME's baselines: Adam on the MLP output projection of chosen layers, each weight kept within an L-inf ball
of radius `norm_constraint` around its original value.

ROME's FT objective puts every target token at the prompt's last position (`objective: prompt_last`);
`objective: target_tokens` is the teacher-forced variant.
"""

from __future__ import annotations

from typing import Literal

import torch

from polyedit.data.cases import Edit
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.layer_choice import check_layers
from polyedit.methods.objectives import edit_batch, fit_adam, mean_target_nll, trainable
from polyedit.methods.search import int_range, log_range, single_layer
from polyedit.models.load import LoadedModel


class FTLHParams(HParams):
    layers: list[int] | None = param(None, "layers whose MLP output projection is tuned (default: the layer a "
                                           "third of the way up)", search=single_layer())
    lr: float = param(5e-4, "Adam learning rate", gt=0, search=log_range(1e-4, 1e-1))
    steps: int = param(25, "at most this many Adam steps", ge=0, search=int_range(5, 100, log=True))
    norm_constraint: float | None = param(5e-4, "L-inf radius around the original weights; null = none", gt=0,
                                          search=log_range(1e-4, 1e-1))
    objective: Literal["prompt_last", "target_tokens"] = param("prompt_last", "prompt_last: every target token at the "
                                                               "prompt's last position (ROME's FT); target_tokens: "
                                                               "teacher forced")
    early_stop_loss: float = param(1e-2, "stop once the loss is below this", ge=0)

    def resolve(self, lm: LoadedModel) -> FTLHParams:
        layers = self.layers if self.layers is not None else [lm.arch.n_layers // 3]
        return self.model_copy(update=dict(layers=check_layers(layers, lm.arch.n_layers, "ft-l")))


def prompt_last_nll(logits: torch.Tensor, batch) -> torch.Tensor:
    """ROME's FT loss: -mean over target tokens of log p(token) at the last prompt position."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    logp = torch.log_softmax(logits[rows, batch.last_prompt.to(logits.device)].float(), dim=-1)  # (B, V)
    per_row = []
    for i in range(logits.shape[0]):
        tgt = batch.next_ids[i][batch.target_mask[i]].to(logp.device)
        per_row.append(-logp[i, tgt].mean())
    return torch.stack(per_row).mean()


OBJECTIVES = {"prompt_last": prompt_last_nll, "target_tokens": mean_target_nll}  # FTLHParams.objective's choices


def constrained_finetune(lm: LoadedModel, edits: list[Edit], param_names: list[str], hp, loss_fn) -> EditHandle:
    """The loop shared by the fine-tuning baselines: Adam on `param_names`, optional L-inf projection."""
    handle = EditHandle(lm, param_names, info={"steps": 0})
    params = dict(lm.model.named_parameters())
    chosen = [params[n] for n in param_names]
    torch.manual_seed(hp.seed)
    batch = edit_batch(lm, edits)

    @torch.no_grad()
    def project(trained: list[torch.Tensor]) -> None:  # back into the L-inf ball around the original weights
        for n, p in zip(param_names, trained):  # float32 (the masters of a half-precision model)
            orig = handle._backup[n].to(p.dtype)
            p.copy_(torch.clamp(p, orig - hp.norm_constraint, orig + hp.norm_constraint))

    try:
        with trainable(lm.model, chosen):
            fit_adam(lm.model, chosen, batch, loss_fn, hp, handle.info,
                     project if getattr(hp, "norm_constraint", None) else None)
    except BaseException:  # an error or Ctrl-C in mid-training leaves the model as it was
        handle.restore()
        raise
    return handle


@register_method
class FTL(EditMethod):
    name = "ft-l"
    description = "constrained fine-tuning of one MLP layer (Zhu et al. 2020; ROME's FT-L baseline)"
    hparams_class = FTLHParams
    supports_batch = True

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        names = lm.arch.mlp_out_weights(hp.layers, experts=True)  # every expert of an MoE layer (experts_note)
        handle = constrained_finetune(lm, edits, names, hp, OBJECTIVES[hp.objective])
        handle.info.update(lm.arch.experts_note(hp.layers))
        return handle
