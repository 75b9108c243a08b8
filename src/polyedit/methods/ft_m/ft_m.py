"""FT-M (Zhang et al. 2024, "A Comprehensive Study of Knowledge Editing for LLMs", EasyEdit's FT with
`objective_optimization: target_new`): Adam on the MLP output projection of chosen layers, minimising the
teacher-forced negative log-likelihood of the target tokens only (prompt tokens are masked out):

    L = mean_edits mean_{t ∈ target} −log p(y_t | prompt, y_<t)

The target is joined to the prompt per language (`join_target`), never with an assumed leading space.
Shares the training loop of FT-L (`constrained_finetune`); no norm constraint by default, as in EasyEdit.
Defaults tuned on world:small (16 English edits, all failing before; layer 3 of 4): EasyEdit's lr 5e-4 × 25
steps moved 25% of them to passing (locality 0.99); lr 2e-3 with up to 40 steps, stopped once the target's
mean NLL < 0.5, moved 94% with locality 0.94 (lr 1e-3: 88%, 0.95). Without the early stop, on a less
trained world model, locality fell from 0.79 to 0.67 at the same reliability.
"""

from __future__ import annotations


from polyedit.data.cases import Edit
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.layer_choice import check_layers, layer_at
from polyedit.methods.ft.ft_l import constrained_finetune
from polyedit.methods.objectives import mean_target_nll
from polyedit.methods.search import int_range, log_range, single_layer
from polyedit.models.load import LoadedModel


FTM_DEPTH = 0.66  # EasyEdit's FT-M: layer 21 of 32


class FTMHParams(HParams):
    layers: list[int] | None = param(None, "layers whose MLP output projection is tuned (default: the layer "
                                           "two thirds of the way up)", search=single_layer())
    lr: float = param(2e-3, "Adam learning rate", gt=0, search=log_range(1e-4, 5e-2))
    steps: int = param(40, "at most this many Adam steps", ge=0, search=int_range(5, 100, log=True))
    norm_constraint: float | None = param(None, "L-inf radius around the original weights; null = none", gt=0)
    early_stop_loss: float = param(0.5, "stop once the target's mean token NLL is below this (locality)", ge=0,
                                   search=log_range(1e-2, 1.0))

    def resolve(self, lm: LoadedModel) -> FTMHParams:
        layers = self.layers if self.layers is not None else [layer_at(lm.arch.n_layers, FTM_DEPTH)]
        return self.model_copy(update=dict(layers=check_layers(layers, lm.arch.n_layers, "ft-m")))


@register_method
class FTM(EditMethod):
    name = "ft-m"
    description = "fine-tuning of MLP layers with the loss on the target tokens only (EasyEdit's FT-M)"
    hparams_class = FTMHParams
    supports_batch = True

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        names = lm.arch.mlp_out_weights(hp.layers, experts=True)  # every expert of an MoE layer (experts_note)
        handle = constrained_finetune(lm, edits, names, hp, mean_target_nll)
        handle.info["layers"] = hp.layers
        handle.info.update(lm.arch.experts_note(hp.layers))
        return handle
