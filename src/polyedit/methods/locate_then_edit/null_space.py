"""Null-space constrained updates (AlphaEdit, Fang et al. 2025, arXiv 2410.02355) and the memory of the keys
written so far, shared by AlphaEdit and the per-language variant (LangEdit-style, arXiv 2506.10800).

- The projector P onto the (approximate) null space of the preserved keys K₀: the eigenvectors U of the
  second moment C = E[k kᵀ] (`second_moment`) whose eigenvalues are below a threshold, P = U Uᵀ (AlphaEdit
  §3.2; the reference's `get_project`, which cuts at 2e-2 on C's singular values). Then Δ P K₀ ≈ 0: the
  update leaves the layer's output on every preserved key (nearly) unchanged.
- The update (AlphaEdit eq. 11): Δ = R K₁ᵀ P (K_p K_pᵀ P + K₁ K₁ᵀ P + α I)⁻¹, the minimiser of
  ‖(W + ΔP) K₁ − V₁‖² + ‖ΔP K_p‖² + α ‖ΔP‖² over Δ, written as Δ P (it satisfies Δ = Δ P exactly).
  K_p: the keys written by earlier edits of the sequence, which the update should keep mapping where they
  were (this is what makes the method lifelong). α: the reference's `L2` (10 in all its configs).
- `KeyMemory`: the keys written into each layer, by language, kept on the model (its slot in `lm.method_state`) so that every
  edit of a sequence sees the ones before it, and truncated by `restore()` so that an undone edit is
  forgotten too (`MemoryHandle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle
from polyedit.models.load import LoadedModel


def null_space_projector(c: torch.Tensor, threshold: float, fraction: float | None = None) -> tuple[torch.Tensor, dict]:
    """P = U Uᵀ over the eigenvectors of the symmetric `c` with eigenvalue < `threshold` (AlphaEdit), or, with
    `fraction`, over that fraction of all eigenvectors, those of the smallest eigenvalues (a scale-free cut,
    for models whose C has no eigenvalue below the paper's threshold: module docstring of `alphaedit`).
    Returns P (float64, on c's device) and what to record: the null space's dimension, the largest eigenvalue
    kept, and the share of C's trace inside it (the preserved keys' energy the update may still touch)."""
    c64 = c.double()
    c64 = (c64 + c64.T) / 2  # an estimate of E[kkᵀ] summed in float32 is symmetric only to rounding
    eigenvalues, vectors = torch.linalg.eigh(c64)  # ascending
    if fraction is not None:
        dims = int(round(fraction * len(eigenvalues)))
    else:
        dims = int((eigenvalues < threshold).sum())
    u = vectors[:, :dims]
    info = {"null_space_dims": dims, "of_dims": len(eigenvalues), "min_eigenvalue": float(eigenvalues[0]),
            "max_eigenvalue_kept": float(eigenvalues[dims - 1]) if dims else None,
            "trace_share_kept": float(eigenvalues[:dims].clamp_min(0).sum() / eigenvalues.clamp_min(0).sum().clamp_min(1e-30))}
    return u @ u.T, info


def require_null_space(info: dict, method: str, layer: int, threshold: float, corpus: str | None = None) -> None:
    """An empty null space would make every update zero: a clear error, never a silent no-op. Without a stats
    corpus C is the identity, which has no null space: the error names the fix."""
    if info["null_space_dims"] == 0 and corpus == "identity":
        raise PolyeditError(f"{method}: no stats_corpus given, so C = I, which has no null space to edit in; "
                            f"compute C with `polyedit stats --model MODEL --corpus SPEC` and set stats_corpus: SPEC "
                            f"(or set nullspace_fraction)")
    if info["null_space_dims"] == 0:
        raise PolyeditError(f"{method}: layer {layer} has no null space at nullspace_threshold {threshold:g} (C's "
                            f"smallest eigenvalue is {info['min_eigenvalue']:.3g}); raise nullspace_threshold or "
                            f"set nullspace_fraction")


def null_space_update(keys: torch.Tensor, residual: torch.Tensor, p: torch.Tensor, kp_kpt: torch.Tensor | None,
                      l2: float) -> torch.Tensor:
    """Δ = R K₁ᵀ P (K_p K_pᵀ P + K₁ K₁ᵀ P + α I)⁻¹   (AlphaEdit eq. 11, α = `l2`)

    keys: K₁ as (n, d_ff) rows; residual: R as (n, d_out); p: P (d_ff, d_ff); kp_kpt: K_p K_pᵀ (d_ff, d_ff) or
    None (no earlier edits). Solved as its transpose, (P (K₁K₁ᵀ + K_pK_pᵀ) + α I) Δᵀ = P K₁ Rᵀ, as the
    reference does. Returns Δ in (d_out, d_ff) orientation, float64, on the keys' device."""
    k = keys.double().T  # (d_ff, n)
    p = p.to(k.device).double()
    a = k @ k.T
    if kp_kpt is not None:
        a = a + kp_kpt.to(k.device).double()
    lhs = p @ a + l2 * torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    return torch.linalg.solve(lhs, p @ k @ residual.to(k.device).double()).T


@dataclass
class KeyMemory:
    """Keys written so far: an append-only log of (layer, language, keys), and per (layer, language) the sum of
    k kᵀ over its entries, added in log order (so a sum rebuilt after `truncate` is bit-identical to the one
    kept up to date)."""

    log: list[tuple[int, str, torch.Tensor]] = field(default_factory=list)
    _sums: dict[tuple[int, str], tuple[int, torch.Tensor]] = field(default_factory=dict)  # -> (entries in, sum)

    def mark(self) -> int:
        return len(self.log)

    def add(self, layer: int, lang: str, keys: torch.Tensor) -> None:
        self.log.append((layer, lang, keys.detach().double().cpu()))

    def nbytes(self) -> int:
        """What the memory holds: every key written (float64), and the k kᵀ sums kept per (layer, language)."""
        tensors = [k for _, _, k in self.log] + [s for _, s in self._sums.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def truncate(self, mark: int) -> None:
        del self.log[mark:]
        self._sums = {k: v for k, v in self._sums.items() if v[0] <= mark}

    def languages(self, layer: int) -> list[str]:
        return sorted({lang for l, lang, _ in self.log if l == layer})

    def count(self, layer: int, langs: list[str]) -> int:
        return sum(len(k) for l, lang, k in self.log if l == layer and lang in langs)

    def second_moment(self, layer: int, langs: list[str], d: int) -> torch.Tensor:
        """Σ k kᵀ over the keys written into `layer` in `langs` (d × d, float64; zeros if none)."""
        total = torch.zeros(d, d, dtype=torch.float64)
        for lang in sorted(langs):
            total += self._sum(layer, lang, d)
        return total

    def _sum(self, layer: int, lang: str, d: int) -> torch.Tensor:
        done, s = self._sums.get((layer, lang), (0, None))
        s = torch.zeros(d, d, dtype=torch.float64) if s is None else s.clone()
        for l, g, k in self.log[done:]:
            if l == layer and g == lang:
                s += k.T @ k
        self._sums[(layer, lang)] = (len(self.log), s)
        return s


def key_memory(lm: LoadedModel) -> KeyMemory:
    """The model's memory of written keys (one per loaded model, shared by the null-space editors)."""
    return lm.method_state.of(KeyMemory)


class MemoryHandle(EditHandle):
    """An edit that also remembered its keys: `restore()` restores the weights and forgets the keys."""

    def __init__(self, lm: LoadedModel, param_names: list[str], info: dict | None = None) -> None:
        super().__init__(lm, param_names, info)
        self.memory = key_memory(lm)
        self.mark = self.memory.mark()

    def restore(self) -> None:
        super().restore()
        self.memory.truncate(self.mark)


def key_memory_bytes(handle: EditHandle) -> int:
    """A null-space editor's state beside the weights (`EditMethod.state_bytes`): the key memory K_p."""
    return handle.memory.nbytes() if isinstance(handle, MemoryHandle) else 0
