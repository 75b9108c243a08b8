"""UltraEdit's lifelong normalisation: running mean and spread of z = [k, g] (key ⊕ output gradient) over every
edit made so far (the reference's `RunningMeanStd`, updated with each batch before its update is computed).

The spread is accumulated as the reference does (Chan et al.'s parallel update): with a batch of n_b rows, batch
mean m_b and unbiased batch variance s_b²,

    n' = n + n_b,   δ = m_b − μ,   μ' = μ + n_b δ / n',   M' = M + n_b s_b² + n n_b δ² / n'
    σ = sqrt(M' / (n' − 1 + ε)),   ẑ = (z − μ) / (σ + ε)            (ε: float32's machine epsilon)

n_b s_b² is the reference's within-batch term (exact Chan would use (n_b − 1) s_b²); a one-row batch, where the
reference's unbiased variance is undefined (NaN), adds 0 within (its own spread is zero).

One set of statistics per module shape (the reference shares one normaliser across modules of a shape), kept on
the model (`LifelongStatistics`, UltraEdit's slot in `lm.method_state`) so every edit of a sequence sees the ones before it; a handle snapshots the set before its
edit and `restore()` puts it back, so an undone edit is forgotten too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from polyedit.models.load import LoadedModel

EPS = torch.finfo(torch.float32).eps  # the reference's ε (its statistics are float32)


@dataclass
class RunningStatistics:
    """μ, M and n of z = [k, g] rows seen so far (float64, on the CPU)."""

    mean: torch.Tensor
    spread: torch.Tensor  # M: the accumulated sum of squares (the reference's buffer `var`)
    n: int = 0

    @classmethod
    def empty(cls, size: int) -> RunningStatistics:
        return cls(torch.zeros(size, dtype=torch.float64), torch.zeros(size, dtype=torch.float64))

    def update(self, z: torch.Tensor) -> None:
        z = z.detach().double().cpu()
        n_b = z.shape[0]
        n = self.n + n_b
        delta = z.mean(0) - self.mean
        within = n_b * z.var(0) if n_b > 1 else torch.zeros_like(self.mean)
        self.mean = self.mean + n_b * delta / n
        self.spread = self.spread + within + self.n * n_b * delta.pow(2) / n
        self.n = n

    def std(self) -> torch.Tensor:
        return (self.spread / (self.n - 1 + EPS)).sqrt()

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        """ẑ = (z − μ) / (σ + ε), float64 on z's device."""
        return (z.double() - self.mean.to(z.device)) / (self.std().to(z.device) + EPS)

    def nbytes(self) -> int:
        return self.mean.numel() * self.mean.element_size() + self.spread.numel() * self.spread.element_size() + 8


def shape_key(d_in: int, d_out: int) -> str:
    return f"{d_in}x{d_out}"


class LifelongStatistics(dict[str, RunningStatistics]):
    """A model's UltraEdit statistics, module shape -> RunningStatistics."""


def lifelong_statistics(lm: LoadedModel) -> LifelongStatistics:
    """The model's UltraEdit statistics (the one place they live)."""
    return lm.method_state.of(LifelongStatistics)


def snapshot(stats: dict[str, RunningStatistics]) -> dict[str, RunningStatistics]:
    return copy.deepcopy(stats)


def put_back(lm: LoadedModel, saved: dict[str, RunningStatistics]) -> None:
    """Replace the model's statistics with `saved` in place (callers hold the dict itself)."""
    stats = lifelong_statistics(lm)
    stats.clear()
    stats.update(copy.deepcopy(saved))


def state_bytes(stats: dict[str, RunningStatistics]) -> int:
    return sum(s.nbytes() for s in stats.values())
