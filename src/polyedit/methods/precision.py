"""Mixed precision for the weight editors: optimise in float32, commit in the model's dtype, never commit a
non-finite weight.

A float16/bfloat16 model trained directly loses the editors' small steps to rounding and, in float16,
breaks Adam: its ε = 1e-8 underflows to 0 and the first update divides 0 by 0 (issue 12: FT-L/FT-M's loss
NaN, weights non-finite, metrics quietly 0). `Float32Masters` keeps a float32 master copy of every
half-precision parameter being trained (Micikevicius et al. 2018, "Mixed Precision Training"): the forward
and backward passes run in the model's dtype, the gradient is read into the master, the optimiser steps
the master, and the master is written back rounded to the model's dtype. A step whose gradient is not
finite (float16 overflow) is skipped, as `torch.amp.GradScaler` skips it.

`check_finite` is what every edit passes before it is handed back: a non-finite weight in any touched
tensor restores the model (bit for bit) and raises.
"""

from __future__ import annotations

import torch

from polyedit.errors import PolyeditError


class Float32Masters:
    """Float32 masters of `params` (a float32 parameter is its own master)."""

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        self.params = list(params)
        self.masters = [p if p.dtype == torch.float32 else p.detach().float().clone().requires_grad_(True)
                        for p in self.params]

    def pull_grads(self) -> bool:
        """Move each half-precision gradient into its master, as float32; True if every gradient is finite."""
        finite = True
        for p, m in zip(self.params, self.masters):
            if m is not p:
                m.grad = None if p.grad is None else p.grad.float()
                p.grad = None
            if m.grad is not None and not bool(torch.isfinite(m.grad).all()):
                finite = False
        return finite

    @torch.no_grad()
    def push(self) -> None:
        """Write the masters into the model's parameters, rounded to their dtype."""
        for p, m in zip(self.params, self.masters):
            if m is not p:
                p.copy_(m)

    def zero_grad(self) -> None:
        for p, m in zip(self.params, self.masters):
            p.grad = None
            m.grad = None


def check_finite(handle, method: str) -> None:
    """Restore the model and raise if an edit left a non-finite value in any tensor it touched."""
    params = dict(handle.lm.model.named_parameters()) if handle.lm is not None else {}
    bad = [n for n in handle.touched() if n in params and not bool(torch.isfinite(params[n]).all())]
    if bad:
        dtype = str(params[bad[0]].dtype).replace("torch.", "")
        handle.restore()
        raise PolyeditError(f"{method}: the edit produced non-finite weights in {bad[0]} ({dtype}"
                            f"{f', and {len(bad) - 1} more' if len(bad) > 1 else ''}); the model was restored. "
                            f"Try a smaller learning rate or --dtype float32")


@torch.no_grad()
def add_to_weight(w: torch.Tensor, delta: torch.Tensor) -> None:
    """w += delta, summed in float32 (at least) on w's device and rounded once to w's dtype: a half-precision
    weight gets the nearest representable value of the exact sum, not a rounded delta rounded again."""
    wide = torch.promote_types(w.dtype, torch.float32)
    w.copy_((w.to(wide) + delta.to(w.device, wide)).to(w.dtype))
