"""UltraEdit's closed-form update of one linear module (Gu et al. 2025, §3; the reference's
`predict_param_shifts`).

For the rows i of the edits (one per target position): the key k_i (the module's input) and the gradient g_i of
the edit loss with respect to the module's output. With ẑ_i = [k̂_i, ĝ_i] the lifelong-normalised rows
(`statistics`), the pseudo-target of each row is one gradient step scaled by its normalised key's energy,

    v_i = −η ‖k̂_i‖² ĝ_i

and the update is the ridge least-squares map from the raw keys to those values:

    ΔW = argmin_Δ ‖K Δᵀ − V‖² + λ ‖Δ‖²  =  Vᵀ K (Kᵀ K + λ I)⁻¹     (λ = 1 in the reference)
"""

from __future__ import annotations

import torch

from polyedit.methods.ultraedit.statistics import RunningStatistics


def pseudo_values(keys: torch.Tensor, grads: torch.Tensor, stats: RunningStatistics, lr: float) -> torch.Tensor:
    """V = −η ‖k̂‖² ĝ per row: keys (n, d_in), grads (n, d_out) -> (n, d_out), float64."""
    z = stats.normalise(torch.cat([keys.double(), grads.double()], dim=-1))
    k_hat, g_hat = z.split([keys.shape[1], grads.shape[1]], dim=-1)
    return -lr * (k_hat * k_hat).sum(-1, keepdim=True) * g_hat


def ridge_update(keys: torch.Tensor, values: torch.Tensor, ridge: float) -> torch.Tensor:
    """ΔW = Vᵀ K (KᵀK + λI)⁻¹ in (d_out, d_in) orientation, float64, solved as (KᵀK + λI) ΔWᵀ = KᵀV."""
    k = keys.double()
    a = k.T @ k + ridge * torch.eye(k.shape[1], dtype=k.dtype, device=k.device)
    return torch.linalg.solve(a, k.T @ values.double().to(k.device)).T


def ultraedit_update(keys: torch.Tensor, grads: torch.Tensor, stats: RunningStatistics, lr: float,
                     ridge: float) -> torch.Tensor:
    """The update of one module from its rows, with the statistics already holding this batch."""
    return ridge_update(keys, pseudo_values(keys, grads, stats, lr), ridge)
