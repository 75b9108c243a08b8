"""W₀, the weights the summed updates are computed against: the edited layers as they were before the first
memit-sum edit still in the model, kept in the model's method state so that every later call (a sequence's next step)
computes its update against the same W₀ and the same C, independently of the edits already made."""

from __future__ import annotations

import torch

from polyedit.methods.base import EditHandle
from polyedit.models.load import LoadedModel

class SumBase(dict):
    """Parameter name -> W₀ (a copy): the model's memit-sum state (`lm.method_state`)."""


def base_weights(lm: LoadedModel) -> dict[str, torch.Tensor]:
    """Parameter name -> W₀ (a copy), for the parameters a memit-sum edit still in the model touched."""
    return lm.method_state.of(SumBase)


class SumHandle(EditHandle):
    """An edit that may have recorded W₀ of the parameters it was the first to touch: `restore()` restores the
    weights and forgets those records (handles are restored last first, so the first edit forgets them)."""

    def __init__(self, lm: LoadedModel, param_names: list[str], info: dict | None = None) -> None:
        super().__init__(lm, param_names, info)
        base = base_weights(lm)
        self.recorded = [n for n in param_names if n not in base]
        for n in self.recorded:
            base[n] = self._backup[n].clone()

    def restore(self) -> None:
        super().restore()
        base = base_weights(self.lm)
        for n in self.recorded:
            base.pop(n, None)
