"""Known answers for the null-space editors (AlphaEdit, arXiv 2410.02355; the per-language variant after LangEdit,
arXiv 2506.10800) and EMMET (arXiv 2403.14236) on small random matrices: each closed form against an independent
solve of the problem it claims to solve, and the invariants the papers state (Δ = ΔP, preserved keys mapped the
same, earlier edits kept, equality constraints exact)."""

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.methods.emmet.update import emmet_update
from polyedit.methods.langedit.langedit_main import preserved_moment
from polyedit.methods.memit.update import batch_update
from polyedit.methods.locate_then_edit.null_space import (KeyMemory, null_space_projector, null_space_update,
                                                          require_null_space)
from polyedit.methods.rome.update import rank_one_update

D, D_OUT = 24, 10


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def rank_deficient_moment(rank: int, seed=0):
    """C = K₀K₀ᵀ/N of N keys spanning only `rank` of D dimensions: an exact null space of D − rank, and the keys."""
    basis = torch.linalg.qr(torch.randn(D, D, generator=gen(seed), dtype=torch.float64))[0]
    k0 = torch.randn(200, rank, generator=gen(seed + 1), dtype=torch.float64) @ basis[:, :rank].T  # (N, D)
    return k0.T @ k0 / len(k0), k0, basis


def test_projector_spans_the_eigenvectors_below_the_threshold():
    basis = torch.linalg.qr(torch.randn(D, D, generator=gen(), dtype=torch.float64))[0]
    eig = torch.logspace(-4, 2, D, dtype=torch.float64)
    c = basis @ torch.diag(eig) @ basis.T
    p, info = null_space_projector(c, 1e-2)
    small = basis[:, eig < 1e-2]
    assert info["null_space_dims"] == small.shape[1] == 8
    assert torch.allclose(p, small @ small.T, atol=1e-10) and torch.allclose(p @ p, p, atol=1e-10)
    assert torch.allclose(p, p.T)
    assert info["trace_share_kept"] == pytest.approx(float(eig[eig < 1e-2].sum() / eig.sum()))
    p_frac, info = null_space_projector(c, 1e-2, fraction=0.25)
    assert info["null_space_dims"] == 6 and torch.allclose(p_frac, basis[:, :6] @ basis[:, :6].T, atol=1e-10)
    _, empty = null_space_projector(c, 1e-9)
    with pytest.raises(PolyeditError, match="layer 3 has no null space at nullspace_threshold 1e-09"):
        require_null_space(empty, "alphaedit", 3, 1e-9)


def test_alphaedit_update_is_the_minimiser_of_eq_10_and_lives_in_the_null_space():
    """C of full rank, 10 of its eigenvalues tiny (an approximate null space, as in an LLM): AlphaEdit's Δ has
    no component outside P, so keys in the span of C's large eigenvectors are mapped exactly as before;
    MEMIT's update, which only weighs them by C, moves them."""
    basis = torch.linalg.qr(torch.randn(D, D, generator=gen(), dtype=torch.float64))[0]
    eig = torch.cat([torch.logspace(0, 2, 14, dtype=torch.float64), torch.full((10,), 1e-4, dtype=torch.float64)])
    c = basis @ torch.diag(eig) @ basis.T
    p, info = null_space_projector(c, 1e-2)
    assert info["null_space_dims"] == 10
    g = gen(3)
    k0 = (basis[:, :14] @ torch.randn(14, 50, generator=g, dtype=torch.float64)).T  # preserved keys
    k1 = torch.randn(3, D, generator=g, dtype=torch.float64)
    kp = torch.randn(5, D, generator=g, dtype=torch.float64)
    r = torch.randn(3, D_OUT, generator=g, dtype=torch.float64)
    alpha = 0.5
    delta = null_space_update(k1, r, p, kp.T @ kp, alpha)
    # independent: X = Y Uᵀ over an orthonormal basis U of range(P), min ‖X K₁ᵀ − Rᵀ‖² + ‖X K_pᵀ‖² + α‖X‖²
    # → Y (Uᵀ A U + α I) = Rᵀ K₁ U with A = K₁ᵀK₁ + K_pᵀK_p
    u = basis[:, 14:]
    a = k1.T @ k1 + kp.T @ kp
    y = torch.linalg.solve(u.T @ a @ u + alpha * torch.eye(10, dtype=torch.float64), u.T @ k1.T @ r).T
    assert torch.allclose(delta, y @ u.T, atol=1e-10)
    assert torch.allclose(delta @ p, delta, atol=1e-12)  # Δ = ΔP: no component outside the null space
    assert (delta @ k0.T).abs().max() < 1e-10 * delta.abs().max()  # (W + Δ) K₀ = W K₀
    memit = batch_update(c, k1, r, 1.0)
    # MEMIT's update only weighs them by their (large) eigenvalues: it moves them, a little
    assert (memit @ k0.T).abs().max() > 1e-6 * memit.abs().max()


def test_sequential_edits_keep_the_earlier_keys_outputs():
    """Edit b after edit a: with a's keys in K_p the second update leaves a's outputs (nearly) where a put
    them; with K_p empty (remember_edits false) it moves them about as much as it writes b."""
    c, _, _ = rank_deficient_moment(rank=8)
    p, _ = null_space_projector(c, 1e-8)  # a 16-dimensional null space: room for both edits
    g = gen(5)
    ka, kb = torch.randn(3, D, generator=g, dtype=torch.float64), torch.randn(3, D, generator=g, dtype=torch.float64)
    rb = torch.randn(3, D_OUT, generator=g, dtype=torch.float64)
    kept = null_space_update(kb, rb, p, ka.T @ ka, 1e-4)
    forgot = null_space_update(kb, rb, p, None, 1e-4)
    assert (kept @ ka.T).norm() < 1e-3 * (forgot @ ka.T).norm()
    assert (forgot @ ka.T).norm() > 0.1 * rb.norm()
    assert torch.allclose(kept @ kb.T, rb.T, atol=1e-3)  # and b is still written


def test_key_memory_truncation_rebuilds_the_same_sums():
    g = gen(7)
    m = KeyMemory()
    batches = [torch.randn(2, D, generator=g, dtype=torch.float64) for _ in range(4)]
    for i, k in enumerate(batches):
        m.add(0, "en" if i % 2 == 0 else "zh", k)
        m.second_moment(0, ["en", "zh"], D)  # kept up to date entry by entry
    mark = 2
    m.truncate(mark)
    rebuilt = m.second_moment(0, ["en", "zh"], D)
    fresh = KeyMemory()
    for i, k in enumerate(batches[:mark]):
        fresh.add(0, "en" if i % 2 == 0 else "zh", k)
    assert torch.equal(rebuilt, fresh.second_moment(0, ["en", "zh"], D))
    assert torch.allclose(rebuilt, batches[0].T @ batches[0] + batches[1].T @ batches[1])
    assert m.count(0, ["zh"]) == 2 and m.languages(0) == ["en", "zh"]
    # its size (AlphaEdit's state_bytes): the two batches kept, and the en and zh sums just rebuilt
    assert m.nbytes() == 2 * (2 * D * 8) + 2 * (D * D * 8)


def test_per_language_null_space_projects_away_from_the_other_languages_keys():
    """C_ℓ = (N₀C + w Σ kkᵀ)/(N₀ + w m): keys written in another language inside C's null space leave it, so the
    next update in language ℓ maps them exactly as before; the same language's keys stay (other_languages)
    or leave too (all, the authors' choice); AlphaEdit's P alone does not protect either."""
    c, _, basis = rank_deficient_moment(rank=10)
    null = basis[:, 10:]  # the exact null space of C
    g = gen(11)
    k_de = (null @ torch.randn(D - 10, 2, generator=g, dtype=torch.float64)).T  # written earlier in German
    k_en = (null @ torch.randn(D - 10, 1, generator=g, dtype=torch.float64)).T  # earlier in English
    memory = KeyMemory()
    memory.add(1, "de", k_de)
    memory.add(1, "en", k_en)
    n0, w = 1000, 2.0
    c_en = preserved_moment(c, n0, memory, 1, ["de"], w)
    assert torch.allclose(c_en, (n0 * c + w * k_de.T @ k_de) / (n0 + 2 * w))
    k1 = torch.randn(2, D, generator=g, dtype=torch.float64)
    r = torch.randn(2, D_OUT, generator=g, dtype=torch.float64)
    p0, _ = null_space_projector(c, 1e-9)
    p_en, info = null_space_projector(c_en, 1e-9)
    assert info["null_space_dims"] == D - 10 - 2
    delta = null_space_update(k1, r, p_en, None, 0.1)
    assert (delta @ k_de.T).abs().max() < 1e-10 * delta.abs().max()  # German keys: exactly as before
    own = (delta @ k_en.T).abs().max()  # English: only AlphaEdit's soft term (absent here) would keep them
    assert own > 1e-3 * delta.abs().max()
    alpha = null_space_update(k1, r, p0, None, 0.1)
    assert (alpha @ k_de.T).abs().max() > 1e-3 * alpha.abs().max()
    p_all, _ = null_space_projector(preserved_moment(c, n0, memory, 1, ["de", "en"], w), 1e-9)
    both = null_space_update(k1, r, p_all, None, 0.1)
    assert (both @ torch.cat([k_de, k_en]).T).abs().max() < 1e-10 * both.abs().max()


def test_emmet_satisfies_every_equality_constraint_and_minimises_the_preserved_change():
    c, _, _ = rank_deficient_moment(rank=D)
    g = gen(13)
    k1 = torch.randn(4, D, generator=g, dtype=torch.float64)
    r = torch.randn(4, D_OUT, generator=g, dtype=torch.float64)
    delta = emmet_update(c, k1, r, weight=50.0, emmet_lambda=0.0)
    assert torch.allclose(delta @ k1.T, r.T, atol=1e-9)  # Δ K₁ = R: (W + Δ) K₁ = V₁ for all four edits
    # independent: the KKT system of min tr(Δ C Δᵀ) s.t. Δ K₁ = R, row by row
    kkt = torch.zeros(D + 4, D + 4, dtype=torch.float64)
    kkt[:D, :D], kkt[:D, D:], kkt[D:, :D] = 2 * c, k1.T, k1
    rhs = torch.cat([torch.zeros(D, D_OUT, dtype=torch.float64), r], dim=0)
    assert torch.allclose(delta, torch.linalg.solve(kkt, rhs)[:D].T, atol=1e-9)
    assert torch.allclose(delta, emmet_update(c, k1, r, weight=1.0), atol=1e-9)  # λ cancels without ε
    near = emmet_update(c, k1, r, weight=50.0, emmet_lambda=0.1)
    assert not torch.allclose(near @ k1.T, r.T, atol=1e-6)  # ε trades exactness for conditioning
    w = torch.randn(D_OUT, D, generator=g, dtype=torch.float64)
    v_star = torch.randn(D_OUT, generator=g, dtype=torch.float64)
    one = emmet_update(c, k1[:1], (v_star - w @ k1[0])[None], weight=3.0)
    assert torch.allclose(one, rank_one_update(w, c, k1[0], v_star), atol=1e-9)  # one edit: ROME's eq. 2
