"""UltraEdit: the lifelong statistics and the closed-form update against direct computations, then edits on
world:small (a batch moves failing targets to passing, a sequence feeds the statistics, restore is bit-identical
for weights and statistics) and `polyedit bench` in batch and sequential mode."""

import json

import pytest
import torch

from polyedit.methods import get_method
from polyedit.methods.ultraedit.statistics import EPS, RunningStatistics, lifelong_statistics
from polyedit.methods.ultraedit.ultraedit_main import default_layers
from polyedit.methods.ultraedit.update import pseudo_values, ridge_update, ultraedit_update
from helpers.weights import state_hash
from helpers.weights import passes


def fed(batches):
    s = RunningStatistics.empty(batches[0].shape[1])
    for b in batches:
        s.update(b)
    return s


def test_statistics_are_the_reference_sums_over_all_batches():
    """μ is the mean of every row; M = Σ_b n_b s_b² + Σ_b n_b (m_b − μ)² (the reference's within term n_b s_b²,
    exact between term), with a one-row batch adding nothing within."""
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(n, 5, generator=g, dtype=torch.float64) * 3 + 1 for n in (4, 1, 7, 2)]
    s = fed(batches)
    rows = torch.cat(batches)
    mu = rows.mean(0)
    within = sum(len(b) * b.var(0) for b in batches if len(b) > 1)
    between = sum(len(b) * (b.mean(0) - mu) ** 2 for b in batches)
    assert s.n == 14
    torch.testing.assert_close(s.mean, mu, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s.spread, within + between, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s.std(), ((within + between) / (14 - 1 + EPS)).sqrt())
    z = torch.randn(3, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(s.normalise(z), (z - mu) / (s.std() + EPS))


def test_one_row_first_edit_writes_nothing():
    """The first row of a sequence is its own mean: ẑ = 0, so V = 0 and ΔW = 0 (the method's cold start)."""
    k, gr = torch.randn(1, 6, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64)
    s = fed([torch.cat([k, gr], -1)])
    assert torch.isfinite(s.std()).all()
    assert torch.count_nonzero(ultraedit_update(k, gr, s, 0.1, 1.0)) == 0


def test_pseudo_values_are_a_normalised_gradient_step():
    g = torch.Generator().manual_seed(1)
    k, gr = torch.randn(5, 6, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    s = fed([torch.cat([k, gr], -1), torch.randn(3, 10, generator=g, dtype=torch.float64)])
    mu, sd = s.mean, s.std()
    k_hat, g_hat = (k - mu[:6]) / (sd[:6] + EPS), (gr - mu[6:]) / (sd[6:] + EPS)
    want = torch.stack([-0.3 * float(k_hat[i] @ k_hat[i]) * g_hat[i] for i in range(5)])
    torch.testing.assert_close(pseudo_values(k, gr, s, 0.3), want)


@pytest.mark.parametrize("n,ridge", [(3, 1.0), (12, 0.25)])  # fewer and more rows than key dimensions
def test_ridge_update_is_the_ridge_least_squares_solution(n, ridge):
    """ΔW minimises ‖K ΔWᵀ − V‖² + λ‖ΔW‖²: solved independently as least squares on
    [K; √λ I] ΔWᵀ = [V; 0]."""
    g = torch.Generator().manual_seed(n)
    k, v = torch.randn(n, 8, generator=g, dtype=torch.float64), torch.randn(n, 5, generator=g, dtype=torch.float64)
    delta = ridge_update(k, v, ridge)
    a = torch.cat([k, ridge ** 0.5 * torch.eye(8, dtype=torch.float64)])
    b = torch.cat([v, torch.zeros(8, 5, dtype=torch.float64)])
    direct = torch.linalg.lstsq(a, b).solution.T
    assert delta.shape == (5, 8)
    torch.testing.assert_close(delta, direct, rtol=1e-10, atol=1e-10)


def test_default_layers_end_below_the_top():
    assert default_layers(28) == list(range(18, 27))  # GPT-J: the reference's 18-26
    assert default_layers(4) == [1, 2] and default_layers(3) == [0, 1] and default_layers(1) == [0]


@pytest.fixture(scope="module")
def world():
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    world_checkpoint("small")
    return load_model("world:small"), load_dataset("world:small").cases[:12]


def test_a_batch_moves_failing_targets_and_restores_bit_identically(world):
    lm, cases = world
    before = state_hash(lm.model)
    failing = [c for c in cases if not passes(lm, c.edit, c.edit.target_new)]
    handle = get_method("ultraedit", {}).apply_cases(lm, failing)
    moved = sum(passes(lm, c.edit, c.edit.target_new) for c in failing)
    assert moved >= 0.75 * len(failing), (moved, len(failing))  # measured: 10 of 12 (layers [1, 2], η 0.03)
    assert len(handle.info["edits"]) == len(failing) and handle.info["state_bytes"] > 0
    assert lifelong_statistics(lm)  # fed
    handle.restore()
    assert state_hash(lm.model) == before
    assert lifelong_statistics(lm) == {}  # forgotten with the edit


def test_a_sequence_accumulates_statistics_and_undoes_them_in_turn(world):
    lm, cases = world
    before = state_hash(lm.model)
    m = get_method("ultraedit", {})
    handles = [m.apply_cases(lm, [c]) for c in cases[:4]]
    stats = lifelong_statistics(lm)
    per_edit = len(handles[0].info["layers"])  # one-token targets: one row per edited layer
    assert [h.info["rows_seen"] for h in handles] == [{next(iter(stats)): n * per_edit} for n in (1, 2, 3, 4)]
    assert handles[1].info["state_bytes"] == handles[3].info["state_bytes"] > 0  # fixed, whatever the length
    # the method-level API (read at lifelong checkpoints): μ and M in float64 and the count, per module shape
    size = next(iter(stats.values())).mean.numel()
    assert m.state_bytes(handles[0]) == m.state_bytes(handles[3]) == len(stats) * (2 * size * 8 + 8)
    saved = (stats[next(iter(stats))].mean.clone(), stats[next(iter(stats))].spread.clone())
    handles[3].restore()
    after_three = stats[next(iter(stats))]
    assert after_three.n == 3 * per_edit and not torch.equal(after_three.mean, saved[0])
    for h in reversed(handles[:3]):
        h.restore()
    assert state_hash(lm.model) == before and lifelong_statistics(lm) == {}


@pytest.mark.parametrize("mode,step", [("batch", 4), ("sequential", 1)])
def test_bench_on_world_small(mode, step, world, tmp_path):
    from polyedit.cli.main import main

    out = tmp_path / mode
    assert main(["bench", "--model", "world:small", "--method", "ultraedit", "--data", "world:small", "--out",
                 str(out), "--mode", mode, "--edits-per-step", str(step), "--limit", "4"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) == 4 and {r["mode"] for r in rows} == {mode}
    assert all(len(r["info"]["edits"]) == (4 if mode == "batch" else 1) for r in rows)
    reliability = json.loads((out / "summary.json").read_text("utf-8"))["mean"]["reliability"]
    assert reliability["pre"] == 0.0 and reliability["post"] > 0.2, reliability  # measured (batch of 6): 0.53


def test_the_crosscheck_against_the_reference_rule_agrees(world):
    """benchmarks/ultraedit_crosscheck.py: the reference's arithmetic (re-derived, in float64 so that only the
    rule is compared) and polyedit's weight change agree to float32 commit rounding (measured: 1.9e-7)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[3] / "benchmarks"))
    try:
        from ultraedit_crosscheck import main
    finally:
        sys.path.pop(0)
    assert main(["--steps", "2", "--batch", "3", "--reference-dtype", "float64"]) < 1e-5
