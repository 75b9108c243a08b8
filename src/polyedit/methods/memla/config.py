"""MEMLA's hyperparameters, with the constants of the authors' code (jiakuan01/memla4mke) as defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from polyedit.errors import PolyeditError
from polyedit.methods.knowledge_neurons.attribution import BASELINES, DEFAULT_TOKENS_PER_PASS
from polyedit.methods.base import HParams, param
from polyedit.methods.search import int_range, log_range, real_range


NEURON_SELECTIONS = ("attributed", "random")


class MEMLAHParams(HParams):
    # -- knowledge neurons (identify_kn/locate_kn.py, AMIG/knowledge_neurons/garns.py)
    ig_steps: int = param(20, "m, integrated-gradient steps", ge=1)
    attribution_baseline: Literal[BASELINES] = param("eos", "eos: mean of EOS-replaced activations (the reference); "
                                                     "zero")
    threshold: float = param(0.3, "keep Attr > threshold x max Attr, per prompt", ge=0, lt=1,
                             search=real_range(0.05, 0.6))
    pivot_langs: list[str] = param(["en", "zh", "fr"], "pivot languages whose neuron sets are intersected into "
                                   "the language-independent set; [all]: every language the case has")
    max_tokens_per_pass: int = param(DEFAULT_TOKENS_PER_PASS, "memory budget of an attribution pass (tokens)", ge=1)
    # -- the editor (memla/editor.py)
    rank_per_neuron: int = param(4, "r = rank_per_neuron x |neurons of the block|", ge=1,
                                 search=int_range(1, 16, log=True))
    lr: float = param(1e-3, "Adam learning rate", gt=0, search=log_range(1e-4, 1e-1))
    max_steps: int = param(60, "at most this many Adam steps", ge=0, search=int_range(10, 300, log=True))
    nll_weight: float = param(2.5, "loss = nll_weight NLL(target_new) + true_prob_weight P(target_true)", ge=0)
    true_prob_weight: float = param(2.0, "weight of P(target_true) in the loss", ge=0)
    early_stop_loss: float = param(1e-2, "stop once the loss is below this", ge=0)
    early_stop_prob: float = param(0.96, "stop once P(target_new) exceeds this", ge=0, le=1)
    commit_scale: float = param(0.5, "W += scale x (B A ⊙ M)^T: the reference's fixed scale", gt=0,
                                search=log_range(0.25, 8.0))
    # -- ablations (Xie et al. §5.3)
    use_specific: bool = param(True, "the language-specific editor")
    use_independent: bool = param(True, "the language-independent editor")
    use_masks: bool = param(True, "false: the same LoRA pairs on the whole projection, unmasked")
    neuron_selection: Literal[NEURON_SELECTIONS] = param("attributed", "attributed: the knowledge neurons; random: as "
                                                         "many neurons per block and category, drawn from those "
                                                         "attribution did not select (a control)")

    @model_validator(mode="after")
    def _one_editor_and_pivots(self) -> HParams:
        if not (self.use_specific or self.use_independent):
            raise PolyeditError("memla: at least one of use_specific / use_independent must be on")
        if not self.pivot_langs:
            raise PolyeditError("memla: pivot_langs may not be empty (use [\"all\"] for every language)")
        return self
