"""WISE's side memory and its rules (Wang et al. 2024, "WISE: Rethinking the Knowledge Memory for Lifelong
Model Editing of Large Language Models", arXiv 2405.14768; the rules of the authors' code as EasyEdit ships
it, `easyeditor/models/wise/`, read there, not copied).

The main memory is the MLP output projection W (never written). A side memory is W' = W + Δ; it is kept
as Δ (in the orientation x @ Δ, so a Linear and GPT-2's Conv1D are one case and the bias is the main
memory's): its output at a layer input x is f(x) + x @ Δ.

- Routing activation (§3.1, `euc`): Δ_act(x) = ||a(f_side(x)) − a(f(x))||₂ per position, a the model's MLP
  activation, averaged over a row's positions (the top position where a row is longer than 100 tokens).
- Routing rule (non-retrieval WISE): with ε = act_ratio · min over edits of Δ_act at the edit, a row whose
  scores for the merged side memory and the current one are both below ε gets the main memory's output;
  otherwise the side memory with the larger score answers.
- Knowledge shards (§3.2): each shard trains only a random subset of Δ's entries, chosen with probability
  `mask_ratio`; after `save_freq` edits the shard is set aside and a fresh one starts.
- Merge (§3.2, TIES): every `merge_freq` edits the shards, as task vectors Δ_i, are merged: each keeps its
  `density` largest-magnitude entries, is weighted, and an entry sums only the shards that agree with the
  sign of the weighted sum, divided by the weights that agreed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

LONG_ROW = 100  # a row longer than this is scored by its top position (EasyEdit's `euc(..., infer=True)`)


def activation_scores(main: torch.Tensor, side: torch.Tensor, act) -> torch.Tensor:
    """Δ_act per position: ||a(side) − a(main)||₂ over the last dimension, in float32."""
    return torch.linalg.vector_norm(act(side.float()) - act(main.float()), dim=-1)


def row_scores(per_position: torch.Tensor, valid: torch.Tensor, infer: bool = True) -> torch.Tensor:
    """One score per row (N, L) -> (N,): the mean over the row's valid positions, or at inference, for rows
    of more than LONG_ROW positions, the largest."""
    valid = valid.to(per_position.dtype)
    mean = (per_position * valid).sum(1) / valid.sum(1).clamp(min=1)
    if infer and per_position.shape[1] > LONG_ROW:
        return per_position.masked_fill(valid == 0, float("-inf")).max(1).values
    return mean


def route(score_merged: torch.Tensor, score_side: torch.Tensor, threshold: float) -> torch.Tensor:
    """Per row: 0 main memory, 1 merged side memory, 2 current side memory (the non-retrieval rule)."""
    below = (score_merged < threshold) & (score_side < threshold)
    side = torch.where(score_merged > score_side, 1, 2)
    return torch.where(below, torch.zeros_like(side), side)


def shard_mask(shape: tuple[int, ...], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """A knowledge shard's gradient mask: each entry trainable with probability `ratio`."""
    return torch.rand(shape, generator=generator) < ratio


def magnitude_prune(delta: torch.Tensor, density: float) -> torch.Tensor:
    """TIES' trim: keep the int(density · n) entries of largest magnitude, zero the rest."""
    if density >= 1:
        return delta
    k = int(density * delta.numel())
    keep = torch.zeros(delta.numel(), dtype=torch.bool, device=delta.device)
    keep[delta.abs().reshape(-1).topk(k).indices] = True
    return delta * keep.reshape(delta.shape)


def ties_merge(deltas: list[torch.Tensor], weights: list[float], density: float) -> torch.Tensor:
    """TIES (trim, elect sign, disjoint mean) of task vectors, normalised by the weights that agreed."""
    trimmed = torch.stack([magnitude_prune(d, density) for d in deltas])
    w = torch.tensor(weights, dtype=trimmed.dtype, device=trimmed.device).reshape(-1, *[1] * (trimmed.dim() - 1))
    weighted = trimmed * w
    majority = torch.where(weighted.sum(0) >= 0, 1.0, -1.0).to(trimmed.dtype)
    agree = (weighted.sign() == majority).to(trimmed.dtype)
    divisor = (w * agree).sum(0)
    divisor[divisor == 0] = 1
    return (weighted * agree).sum(0) / divisor


@dataclass
class SideMemory:
    """Everything WISE keeps for one projection: the merged side memory, the shard being trained and its
    mask, the shards set aside, the edits' activation scores (the threshold's data) and the edit count."""

    key_dim: int
    value_dim: int
    device: torch.device | str = "cpu"
    merged: torch.Tensor | None = None  # Δ of the merged side memory; None while nothing was merged
    side: torch.Tensor = field(init=False)  # Δ of the current shard
    mask: torch.Tensor | None = None  # its trainable entries
    shards: list[torch.Tensor] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    edits: int = 0
    merges: int = 0

    def __post_init__(self) -> None:
        self.side = self.zeros()

    def zeros(self) -> torch.Tensor:
        return torch.zeros(self.key_dim, self.value_dim, device=self.device)

    def threshold(self, act_ratio: float) -> float:
        return min(self.scores) * act_ratio if self.scores else float("inf")

    def set_aside(self) -> None:
        """The current shard is full: keep it for the next merge and start a fresh one."""
        self.shards.append(self.side)
        self.side = self.zeros()

    def merge(self, weights: float, density: float) -> None:
        """EasyEdit's merge: the shards alone the first time; afterwards the shards share `0.4` and the
        merged memory `0.6` of the weight. The current shard starts afresh."""
        n = len(self.shards)
        if self.merged is None:
            self.merged = ties_merge(self.shards, [weights / n] * n, density)
        else:
            self.merged = ties_merge(self.shards + [self.merged], [0.4 / n] * n + [0.6], density)
        self.shards, self.side = [], self.zeros()
        self.merges += 1

    def nbytes(self) -> int:
        tensors = [self.side, *self.shards] + [t for t in (self.merged, self.mask) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors) + 8 * len(self.scores)

    def state(self) -> tuple:
        clone = (lambda t: None if t is None else t.clone())
        return (clone(self.merged), self.side.clone(), clone(self.mask), [s.clone() for s in self.shards],
                list(self.scores), self.edits, self.merges)

    def load(self, state: tuple) -> None:
        merged, side, mask, shards, scores, edits, merges = state
        clone = (lambda t: None if t is None else t.clone())
        self.merged, self.side, self.mask = clone(merged), side.clone(), clone(mask)
        self.shards, self.scores, self.edits, self.merges = [s.clone() for s in shards], list(scores), edits, merges
