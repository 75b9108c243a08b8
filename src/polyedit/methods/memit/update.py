"""MEMIT's batch update of one layer (Meng et al. 2023, eq. 14)."""

from __future__ import annotations

import torch


def spread_residual(z: torch.Tensor, z_now: torch.Tensor, layers_left: int) -> torch.Tensor:
    """R = (z − h_L) / (number of layers still to edit): the share of the remaining residual this layer
    writes (MEMIT Alg. 1, line 10). Shapes (n_facts, d_model)."""
    return (z - z_now) / layers_left


def batch_update(c: torch.Tensor, keys: torch.Tensor, residual: torch.Tensor, weight: float) -> torch.Tensor:
    """ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹   (MEMIT eq. 14, λ = `weight` the mom2 update weight)

    keys: K as (n_facts, d_ff) rows; residual: R as (n_facts, d_out); c: (d_ff, d_ff).
    Returns ΔW in (d_out, d_ff) orientation, float64, on the keys' device (the layer's)."""
    k = keys.double().T  # (d_ff, n)
    a = weight * c.to(k.device).double() + k @ k.T
    adj = torch.linalg.solve(a, k)  # (λC + KKᵀ)⁻¹ K
    return residual.to(k.device).double().T @ adj.T
