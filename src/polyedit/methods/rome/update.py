"""ROME's closed-form rank-one update (Meng et al. 2022, eq. 2), and the reference code's variant of it."""

from __future__ import annotations

import torch

#: the key k in the denominator (C⁻¹k*)ᵀk of the update, i.e. the key Ŵ maps exactly onto v* (see below)
DENOMINATOR_KEYS = ("bare_prompt", "context_mean")


def solve_c(c: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """C⁻¹ k, in float64. A singular C (too few corpus tokens) gets a small ridge, never a silent pseudo-inverse."""
    c64, k64 = c.double(), k.double()
    try:
        return torch.linalg.solve(c64, k64)
    except RuntimeError:
        ridge = 1e-6 * c64.diagonal().mean().clamp_min(1e-12)
        return torch.linalg.solve(c64 + ridge * torch.eye(c64.shape[0], dtype=c64.dtype, device=c64.device), k64)


def rank_one_update(w: torch.Tensor, c: torch.Tensor, k_star: torch.Tensor, v_star: torch.Tensor,
                    k_fit: torch.Tensor | None = None) -> torch.Tensor:
    """ΔW = (v* − W k) (C⁻¹ k*)ᵀ / ((C⁻¹ k*)ᵀ k),   k = `k_fit` (default k*).

    With k = k* (the context-averaged key) this is the paper's eq. 2, the solution of
    min ‖Ŵ K − W K‖ subject to Ŵ k* = v*, with C = K Kᵀ. With k = k₀, the bare prompt's key, and
    v* = W k₀ + δ, it is what the reference code computes (`compute_v.py`: right vector
    (target − cur_output) / (cur_input · u), u = C⁻¹k*/‖C⁻¹k*‖, cur_input = k₀): the same direction C⁻¹k*,
    scaled so that Ŵ k₀ = v*. Either way Ŵ k = v* exactly and ΔW x = 0 for every x with xᵀC⁻¹k* = 0.

    w: (d_out, d_ff) in out×in orientation; c: (d_ff, d_ff); keys: (d_ff,); v_star: (d_out,).
    Computed in float64 on w's device, returned in w's dtype, or float32 for a half-precision w (the caller
    adds it in float32 and rounds once: `precision.add_to_weight`)."""
    c, k_star, v_star = c.to(w.device), k_star.to(w.device), v_star.to(w.device)
    k = (k_star if k_fit is None else k_fit.to(w.device)).double()
    u = solve_c(c, k_star)  # C⁻¹ k*
    residual = v_star.double() - w.double() @ k  # v* − W k
    return (torch.outer(residual, u) / (u @ k)).to(torch.promote_types(w.dtype, torch.float32))
