"""GRACE's codebook (Hartvigsen et al. 2023, "Aging with GRACE", arXiv 2211.11031, §3): entries
(k_i, v_i, ε_i, y_i): a key (the edited layer's input), a value (the output that replaces the layer's),
a deferral radius and the label the entry was made for.

Router (Eq. 1): for a layer input h, i* = argmin_i ||h − k_i||₂; the layer outputs v_{i*} if
||h − k_{i*}|| ≤ ε_{i*}, else its own output f(h).

Codebook maintenance for an edit (h, y) (§3.2; the rules of the authors' code as EasyEdit ships it, read
there, not copied):
- empty codebook, or d = ||h − k_{i*}|| > ε_{i*} + ε_init: add (h, v, ε_init, y);
- otherwise, same label (y = y_{i*}): *expand*, ε_{i*} ← max(ε_{i*}, d) (the "coverage" rule), no new key;
- otherwise, another label: *split*, add (h, v, d/2, y) and shrink ε_{i*} ← d/2, so the two balls touch
  and no longer overlap.
Distances are Euclidean, computed in float32. The router's check is ||h − k|| ≤ ε + tol with
tol = `ROUTE_RTOL` · ||k||: the expand rule sets ε to the distance exactly, and the same prompt read again in
a batch of another width or padding gives a key that moves by float32 rounding (~1e-6 relative), so without
the tolerance a key on its own boundary leaves its entry in some batch compositions (seen on world:medium:
p(target) 0.955 alone, 7.5e-8 in a batch of 32). The maintenance rules compare exact distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


#: The router's tolerance relative to the key's norm: far above float32 rounding of a key read in another
#: batch (~1e-6 relative), far below any radius the rules make (ε_init, or half the distance to another key).
ROUTE_RTOL = 1e-4


@dataclass
class Codebook:
    key_dim: int
    value_dim: int
    device: torch.device | str = "cpu"
    keys: torch.Tensor = field(init=False)  # (K, key_dim) float32
    values: torch.Tensor = field(init=False)  # (K, value_dim) float32
    epsilons: torch.Tensor = field(init=False)  # (K,) float32
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = torch.zeros(0, self.key_dim, device=self.device)
        self.values = torch.zeros(0, self.value_dim, device=self.device)
        self.epsilons = torch.zeros(0, device=self.device)

    def __len__(self) -> int:
        return len(self.labels)

    def nearest(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance, index) of the nearest key for each row of `queries` (N, key_dim)."""
        # Computed directly, not through the matrix-product expansion cdist uses for many rows: that one is
        # off by ~1e-3 at these norms (~80), more than the router's tolerance.
        d = torch.cdist(queries.float(), self.keys, compute_mode="donot_use_mm_for_euclid_dist")
        return d.min(dim=1)

    def route(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 1 for each row: (index of the nearest key, whether the row lies inside its radius)."""
        if not len(self):
            n = queries.shape[0]
            return torch.zeros(n, dtype=torch.long, device=queries.device), torch.zeros(n, dtype=torch.bool,
                                                                                        device=queries.device)
        dist, idx = self.nearest(queries)
        return idx, dist <= self.epsilons[idx] + ROUTE_RTOL * self.keys[idx].norm(dim=-1)

    def update(self, key: torch.Tensor, label: str, eps_init: float, value: torch.Tensor) -> tuple[int, str]:
        """Apply §3.2's rules for one edit; returns (the entry whose value the edit trains, the rule taken:
        `add`, `expand`, `inside` (same label, already covered) or `split`). `value` initialises a new entry."""
        key = key.detach().float().reshape(1, -1).to(self.keys.device)
        if len(self):
            dist, idx = (t.item() for t in self.nearest(key))
            eps = self.epsilons[idx].item()
        if not len(self) or dist > eps + eps_init:
            return self._add(key, value, eps_init, label), "add"
        if label == self.labels[idx]:
            if dist > eps:
                self.epsilons[idx] = dist
                return idx, "expand"
            return idx, "inside"
        new = self._add(key, value, dist / 2, label)
        self.epsilons[idx] = dist / 2
        return new, "split"

    def _add(self, key: torch.Tensor, value: torch.Tensor, eps: float, label: str) -> int:
        self.keys = torch.cat([self.keys, key])
        self.values = torch.cat([self.values, value.detach().float().reshape(1, -1).to(self.values.device)])
        self.epsilons = torch.cat([self.epsilons, torch.tensor([eps], device=self.epsilons.device)])
        self.labels.append(label)
        return len(self.labels) - 1

    def nbytes(self) -> int:
        """The codebook's size: keys, values, radii and the labels' UTF-8 text."""
        tensors = (self.keys, self.values, self.epsilons)
        return sum(t.numel() * t.element_size() for t in tensors) + sum(len(x.encode()) for x in self.labels)

    def state(self) -> tuple:
        """A copy of the whole codebook, for restoring it exactly."""
        return self.keys.clone(), self.values.clone(), self.epsilons.clone(), list(self.labels)

    def load(self, state: tuple) -> None:
        keys, values, eps, labels = state
        self.keys, self.values, self.epsilons, self.labels = keys.clone(), values.clone(), eps.clone(), list(labels)
