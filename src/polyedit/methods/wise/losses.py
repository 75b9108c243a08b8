"""WISE's training objective for the side memory (§3.1, Eq. 5; EasyEdit's `__cal_activation_loss`): the
edit's token NLL plus three hinge terms on the routing activation, so that edits score high and
unrelated text low:

    L_a = mean⁺(Δ_out − Δ_in + γ) + mean⁺(Δ_out − α) + mean⁺(β − Δ_in)

mean⁺ the mean of the positive entries (0 if none), Δ_in each edit row's score, Δ_out each
out-of-scope row's, the first term over every (out, in) pair."""

from __future__ import annotations

import torch


def positive_mean(t: torch.Tensor) -> torch.Tensor:
    pos = t[t > 0]
    return pos.mean() if pos.numel() else t.new_zeros(())


def margin_loss(inside: torch.Tensor, outside: torch.Tensor, alpha: float, beta: float, gamma: float) -> torch.Tensor:
    loss = positive_mean(beta - inside)
    if outside.numel():
        loss = loss + positive_mean(outside[:, None] - inside[None, :] + gamma) + positive_mean(outside - alpha)
    return loss
