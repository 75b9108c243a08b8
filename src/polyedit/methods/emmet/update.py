"""EMMET's closed form (Gupta et al. 2024, "A Unified Framework for Model Editing", eq. 11): ROME's equality
constraint for a whole batch, W' K₁ = V₁, with the preservation objective ‖W' K₀ − W K₀‖ over C₀ = λ K₀K₀ᵀ."""

from __future__ import annotations

import torch


def emmet_update(c: torch.Tensor, keys: torch.Tensor, residual: torch.Tensor, weight: float,
                 emmet_lambda: float = 0.0, update_norm_lambda: float = 0.0) -> torch.Tensor:
    """Δ = R (K₁ᵀ C⁻¹ K₁ + ε I)⁻¹ K₁ᵀ C⁻¹,   C = λ C₀ + μ I,   R = V₁ − W K₁ (a layer's share of it)

    The solution of min ‖Δ C^½‖ subject to (W + Δ) K₁ = V₁ when ε = 0: then Δ K₁ = R exactly, for every
    edit of the batch (ROME's constraint for all of them; λ cancels). ε = `emmet_lambda` regularises an
    ill-conditioned K₁ᵀC⁻¹K₁ (near-duplicate keys), at the cost of exactness, and only for two or more edits,
    as the authors' code does (`if D.shape[0] > 1`): one edit is ROME's exact write; μ =
    `update_norm_lambda` adds ‖Δ‖² to the preserved objective (the reference's, 0 by default).

    keys: K₁ as (n, d_ff) rows; residual: R as (n, d_out); c: C₀ (d_ff, d_ff); returns Δ (d_out, d_ff),
    float64, on the keys' device."""
    k = keys.double().T  # (d_ff, n)
    c = weight * c.to(k.device).double()
    if update_norm_lambda:
        c = c + update_norm_lambda * torch.eye(c.shape[0], dtype=c.dtype, device=c.device)
    c_inv_k = torch.linalg.solve(c, k)  # C⁻¹ K₁
    d = k.T @ c_inv_k  # K₁ᵀ C⁻¹ K₁, n × n
    if emmet_lambda and d.shape[0] > 1:
        d = d + emmet_lambda * torch.eye(d.shape[0], dtype=d.dtype, device=d.device)
    # Δ = R D⁻¹ (C⁻¹K₁)ᵀ, C symmetric
    return torch.linalg.solve(d, residual.to(k.device).double()).T @ c_inv_k.T
