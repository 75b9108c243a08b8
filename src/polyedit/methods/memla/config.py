"""MEMLA's hyperparameters, with the constants of the authors' code (jiakuan01/memla4mke) as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from polyedit.errors import PolyeditError
from polyedit.methods.attribution import BASELINES, DEFAULT_TOKENS_PER_PASS
from polyedit.methods.base import HParams


@dataclass
class MEMLAHParams(HParams):
    # -- knowledge neurons (identify_kn/locate_kn.py, AMIG/knowledge_neurons/garns.py)
    ig_steps: int = 20  # m, integration steps
    attribution_baseline: str = "eos"  # "eos": mean of EOS-replaced activations (the reference); "zero"
    threshold: float = 0.3  # keep Attr > threshold * max Attr, per prompt
    #: pivot languages whose neuron sets are intersected into the language-independent set;
    #: ["all"] means every language the case has
    pivot_langs: list[str] = field(default_factory=lambda: ["en", "zh", "fr"])
    max_tokens_per_pass: int = DEFAULT_TOKENS_PER_PASS  # memory budget of an attribution pass
    # -- the editor (memla/editor.py)
    rank_per_neuron: int = 4  # r = rank_per_neuron x |neurons of the block|
    lr: float = 1e-3
    max_steps: int = 60
    nll_weight: float = 2.5  # loss = 2.5 NLL(target_new) + 2 P(target_true)
    true_prob_weight: float = 2.0
    early_stop_loss: float = 1e-2
    early_stop_prob: float = 0.96  # stop once P(target_new) exceeds this
    commit_scale: float = 0.5  # W += scale * (B A ⊙ M)^T: the reference's fixed scale
    # -- ablations (Xie et al. §5.3)
    use_specific: bool = True  # the language-specific editor
    use_independent: bool = True  # the language-independent editor
    use_masks: bool = True  # False: the same LoRA pairs on the whole projection, unmasked

    def __post_init__(self) -> None:
        if self.attribution_baseline not in BASELINES:
            raise PolyeditError(f"memla: attribution_baseline must be one of {', '.join(BASELINES)}")
        if not 0.0 <= self.threshold < 1.0:
            raise PolyeditError("memla: threshold must be in [0, 1)")
        if self.ig_steps < 1 or self.rank_per_neuron < 1 or self.max_steps < 0 or self.max_tokens_per_pass < 1:
            raise PolyeditError("memla: ig_steps, rank_per_neuron, max_tokens_per_pass must be >= 1, "
                                "max_steps >= 0")
        if not (self.use_specific or self.use_independent):
            raise PolyeditError("memla: at least one of use_specific / use_independent must be on")
        if not self.pivot_langs:
            raise PolyeditError("memla: pivot_langs may not be empty (use [\"all\"] for every language)")
