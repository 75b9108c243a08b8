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

A closed-form update (ROME, MEMIT, MEMLA's commit, KN's shift) is computed in float32 or float64 but lands in
the model's dtype: a bfloat16 weight keeps 8 significant bits, so an entry of ΔW smaller than half the
spacing of representable values around W's entry rounds back to W. `add_to_weight` measures what was lost,
the commit loss ‖ΔW_committed − ΔW‖ / ‖ΔW‖ (0: committed exactly, 1: nothing committed), for the edit's
record; `commit_note` says so, in the run's notes and once in the log, when most of an update was lost.
"""

from __future__ import annotations

import logging

import torch

from polyedit.errors import PolyeditError

log = logging.getLogger("polyedit.precision")

#: a commit loss above this means most of the update was rounded away
MOST_LOST = 0.5
_warned: set[tuple[str, str]] = set()  # (method, dtype) already warned about


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
def add_to_weight(w: torch.Tensor, delta: torch.Tensor) -> float:
    """w += delta, summed in float32 (at least) on w's device and rounded once to w's dtype: a half-precision
    weight gets the nearest representable value of the exact sum, not a rounded delta rounded again.
    Returns the commit loss ‖(w_after − w_before) − delta‖ / ‖delta‖ (0.0 for a zero delta)."""
    after, _, lost = committed(w, delta)
    w.copy_(after)
    return lost


@torch.no_grad()
def committed(w: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """What `add_to_weight` would write, without writing it: (w + delta rounded once to w's dtype, the change
    that makes (w_after − w_before, float32 at least), the commit loss)."""
    wide = torch.promote_types(w.dtype, torch.float32)
    before = w.to(wide, copy=True)
    d = delta.to(w.device, wide)
    after = (before + d).to(w.dtype)
    change = after.to(wide) - before  # out of place: for a float32 w, `after` is that sum itself
    norm = float(d.norm())
    return after, change, 0.0 if norm == 0.0 else float((change - d).norm()) / norm


def commit_note(method: str, losses: dict, dtype: torch.dtype, info: dict) -> None:
    """Record `losses` ({where: commit loss}) in `info["commit_loss"]`; where most of an update was lost,
    add a note to `info["notes"]` (the run's summary shows it) and warn once per method and dtype."""
    info["commit_loss"] = {str(k): round(v, 6) for k, v in losses.items()}
    lost = {k: v for k, v in losses.items() if v > MOST_LOST}
    if not lost:
        return
    name = str(dtype).replace("torch.", "")
    note = (f"{method}: most of the update was rounded away when committed in {name} (commit loss > {MOST_LOST}; "
            f"info.commit_loss); --dtype float32 keeps it")
    info.setdefault("notes", []).append(note)
    if (method, name) not in _warned:
        _warned.add((method, name))
        worst = max(lost, key=lost.get)
        log.warning("%s (worst: %s, %.2f)", note, worst, lost[worst])
