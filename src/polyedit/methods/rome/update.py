"""ROME's closed-form rank-one update (Meng et al. 2022, eq. 2)."""

from __future__ import annotations

import torch


def solve_c(c: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """C⁻¹ k, in float64. A singular C (too few corpus tokens) gets a small ridge, never a silent pseudo-inverse."""
    c64, k64 = c.double(), k.double()
    try:
        return torch.linalg.solve(c64, k64)
    except RuntimeError:
        ridge = 1e-6 * c64.diagonal().mean().clamp_min(1e-12)
        return torch.linalg.solve(c64 + ridge * torch.eye(c64.shape[0], dtype=c64.dtype, device=c64.device), k64)


def rank_one_update(w: torch.Tensor, c: torch.Tensor, k_star: torch.Tensor, v_star: torch.Tensor) -> torch.Tensor:
    """ΔW such that Ŵ = W + ΔW solves  min ‖Ŵ K − W K‖  subject to  Ŵ k* = v*,  with C = K Kᵀ:

        ΔW = (v* − W k*) (C⁻¹ k*)ᵀ / ((C⁻¹ k*)ᵀ k*)

    w: (d_out, d_ff) in out×in orientation; c: (d_ff, d_ff); k_star: (d_ff,); v_star: (d_out,).
    Computed in float64 on w's device, returned in w's dtype, or float32 for a half-precision w (the caller
    adds it in float32 and rounds once: `precision.add_to_weight`)."""
    c, k_star, v_star = c.to(w.device), k_star.to(w.device), v_star.to(w.device)
    u = solve_c(c, k_star)  # C⁻¹ k*
    residual = v_star.double() - w.double() @ k_star.double()  # v* − W k*
    return (torch.outer(residual, u) / (u @ k_star.double())).to(torch.promote_types(w.dtype, torch.float32))
