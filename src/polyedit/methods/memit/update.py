"""MEMIT's batch update of one layer (Meng et al. 2023, eq. 14)."""

from __future__ import annotations

import torch

from polyedit.methods.locate_then_edit.mass_edit import spread_residual

__all__ = ["batch_update", "spread_residual"]


def batch_update(c: torch.Tensor, keys: torch.Tensor, residual: torch.Tensor, weight: float) -> torch.Tensor:
    """ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹   (MEMIT eq. 14, λ = `weight` the mom2 update weight)

    keys: K as (n_facts, d_ff) rows; residual: R as (n_facts, d_out); c: (d_ff, d_ff).
    Returns ΔW in (d_out, d_ff) orientation, float64, on the keys' device (the layer's)."""
    k = keys.double().T  # (d_ff, n)
    a = weight * c.to(k.device).double() + k @ k.T
    adj = torch.linalg.solve(a, k)  # (λC + KKᵀ)⁻¹ K
    return residual.to(k.device).double().T @ adj.T
