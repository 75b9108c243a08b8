"""WISE: the routing rule, the shard mask and the TIES merge against known answers, the margin losses by
hand, the weights never written (restore bit-identical, the hooks gone), and edits on world:small that the
model then generates, through `polyedit bench` in batch and sequential modes."""

import json
from types import SimpleNamespace

import pytest
import torch

from polyedit.methods import get_method
from polyedit.methods.wise.losses import margin_loss
from polyedit.methods.wise.memory import SideMemory, route, row_scores, shard_mask, ties_merge
from polyedit.methods.wise.wise_main import Router, active_routers
from helpers.weights import state_hash


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 2)
        with torch.no_grad():  # dyadic weights: every sum below is exact, so the threshold's edge is too
            self.proj.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
            self.proj.bias.copy_(torch.tensor([0.5, -1.0]))

    def forward(self, x, attention_mask=None):
        return self.proj(x)


def _router():
    model = _Tiny()
    r = Router(SimpleNamespace(model=model), "proj", torch.nn.Identity())
    r.memory.side = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # side − main = (x₀, 0): the score is |x₀|
    r.memory.scores, r.act_ratio = [10.0], 0.5  # threshold 5
    return model, r


def test_a_row_below_the_threshold_gets_the_main_output_exactly_and_one_at_it_the_side_output():
    model, r = _router()
    x = torch.tensor([[[0.25, 3.0], [-0.25, 1.0]], [[5.0, 2.0], [-5.0, 7.0]]])  # scores 0.25 and 5.0 (= threshold)
    with torch.no_grad():
        main = torch.nn.functional.linear(x, model.proj.weight, model.proj.bias)  # the hooked module unhooked
        out = model(x, attention_mask=torch.ones(2, 2))
    assert torch.equal(out[0], main[0])
    assert torch.equal(out[1], main[1] + x[1] @ r.memory.side)
    r.detach()
    assert torch.equal(model(x), main)


def test_padding_does_not_vote_in_a_rows_score():
    model, r = _router()
    x = torch.tensor([[[0.25, 3.0], [100.0, 0.0]]])  # the second position is padding
    with torch.no_grad():
        main = torch.nn.functional.linear(x, model.proj.weight, model.proj.bias)
        assert torch.equal(model(x, attention_mask=torch.tensor([[1, 0]])), main)
        assert not torch.equal(model(x, attention_mask=torch.tensor([[1, 1]])), main)
    r.detach()


def test_route_takes_main_below_the_threshold_else_the_side_memory_that_scores_higher():
    merged, side = torch.tensor([0.5, 2.0, 1.0, 0.5, 1.0]), torch.tensor([0.5, 1.0, 2.0, 3.0, 1.0])
    assert route(merged, side, 1.0).tolist() == [0, 1, 2, 2, 2]  # a tie goes to the current shard


def test_row_scores_mean_over_valid_positions_and_the_top_one_past_100():
    s = torch.tensor([[1.0, 3.0, 8.0]])
    assert row_scores(s, torch.tensor([[1, 1, 0]])).tolist() == [2.0]
    long = torch.arange(101.0)[None]
    assert row_scores(long, torch.ones(1, 101)).tolist() == [100.0]
    assert row_scores(long, torch.ones(1, 101), infer=False).tolist() == [50.0]


def test_a_shard_mask_trains_the_mask_ratio_of_the_entries():
    for ratio in (0.2, 0.5):
        m = shard_mask((300, 400), ratio, torch.Generator().manual_seed(1))
        assert abs(m.float().mean().item() - ratio) < 0.005
    a, b = (shard_mask((50, 50), 0.2, torch.Generator().manual_seed(s)) for s in (1, 2))
    assert not torch.equal(a, b)  # each shard its own random subset


def test_ties_merge_against_a_hand_computation():
    d1, d2 = torch.tensor([[3.0, -1.0], [0.5, 2.0]]), torch.tensor([[-1.5, -4.0], [1.0, -0.1]])
    # trim to 2 entries each: d1 → [[3,0],[0,2]], d2 → [[-1.5,-4],[0,0]]; × 0.5; elected signs [[+,-],[+,+]];
    # agreeing entries summed and divided by the agreeing weights
    assert torch.equal(ties_merge([d1, d2], [0.5, 0.5], 0.5), torch.tensor([[3.0, -4.0], [0.0, 2.0]]))


def test_later_merges_weigh_the_shards_0_4_and_the_merged_memory_0_6():
    mem = SideMemory(1, 1)
    mem.side = torch.tensor([[2.0]])
    mem.set_aside()
    mem.merge(1.0, 1.0)
    assert mem.merged.tolist() == [[2.0]] and mem.merges == 1 and not mem.shards
    mem.side = torch.tensor([[-3.0]])
    mem.set_aside()
    mem.merge(1.0, 1.0)  # weighted −3·0.4 and 2·0.6 sum to 0, elected +: the merged memory alone, 1.2 / 0.6
    assert mem.merged.tolist() == [[pytest.approx(2.0)]]
    mem.side = torch.tensor([[-2.5]])
    mem.set_aside()
    mem.merge(1.0, 1.0)  # −1.0 + 1.2 > 0 though the unweighted sum is negative: the weights elect the sign
    assert mem.merged.tolist() == [[pytest.approx(2.0)]] and mem.merges == 3


def test_margin_loss_by_hand():
    inside, outside = torch.tensor([25.0, 10.0]), torch.tensor([8.0])
    # β − in: (−5, 10) → 10; out − in + γ: (−7, 8) → 8; out − α: 3
    assert margin_loss(inside, outside, 5.0, 20.0, 10.0).item() == pytest.approx(21.0)
    assert margin_loss(inside, outside[:0], 5.0, 20.0, 10.0).item() == pytest.approx(10.0)


@pytest.fixture(scope="module")
def world():
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    world_checkpoint("small")
    return load_model("world:small"), load_dataset("world:small:n=3").cases


def _answer(lm, prompt, n=6):
    from polyedit.models.backend import HFBackend

    return HFBackend(lm).generate([prompt], n, ())[0].text


def test_world_edits_are_generated_the_weights_never_written_and_restore_is_exact(world):
    lm, cases = world
    before, answers = state_hash(lm.model), [_answer(lm, c.edit.prompt) for c in cases]
    m = get_method("wise", {"steps": 20, "save_freq": 2, "merge_freq": 4})
    h1 = m.apply(lm, [cases[0].edit])
    mem = active_routers(lm)[0].memory
    assert mem.merged is None and not mem.shards and bool(mem.side.any())
    assert not bool((mem.side * ~mem.mask).any())  # only the shard's masked entries moved
    side1 = mem.side.clone()
    # the side memory's bytes (read at lifelong checkpoints): the shard in float32, its boolean mask, one score
    assert mem.mask.dtype == torch.bool and m.state_bytes(h1) == mem.side.numel() * (4 + 1) + 8
    h2 = m.apply(lm, [cases[1].edit])  # the shard is full (save_freq) and merged before answering
    assert state_hash(lm.model) == before  # a side memory: no weight is written
    assert mem.merges == 1 and not mem.shards and not bool(mem.side.any()) and bool(mem.merged.any())
    assert h2.info["state_bytes"] == mem.nbytes() == m.state_bytes(h2) and len(h2.info["edits"]) == 1
    assert m.state_bytes(h2) == mem.side.numel() * (4 + 4 + 1) + 16  # the merged memory joins the fresh shard
    assert h2.info["threshold"] == pytest.approx(0.88 * min(mem.scores))
    for c in cases[:2]:
        assert _answer(lm, c.edit.prompt).strip().startswith(c.edit.target_new), c.edit
    h2.restore()
    assert len(mem.scores) == 1 and mem.merged is None and torch.equal(mem.side, side1)
    h1.restore()
    assert active_routers(lm) == [] and state_hash(lm.model) == before
    assert [_answer(lm, c.edit.prompt) for c in cases] == answers


@pytest.mark.parametrize("mode", ["batch", "sequential"])
def test_bench_runs_wise_in_batch_and_sequential_modes(world, mode, tmp_path):
    from polyedit.cli.main import main

    lm, _ = world
    hp = tmp_path / "wise.yaml"
    hp.write_text("steps: 10\n")
    out = tmp_path / "run"
    code = main(["bench", "--model", "world:small", "--method", "wise", "--hparams", str(hp), "--data",
                 "world:small:langs=en,de", "--limit", "2", "--mode", mode, "--edits-per-step", "2", "--out", str(out)])
    assert code == 0
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == 2 and all(len(r["info"]["edits"]) >= 1 for r in records)
    reliability = [p for r in records for p in r["probes"] if p["kind"] == "reliability" and p["lang"] == "en"]
    assert all(p["pre"]["token_accuracy"] == 0.0 and p["post"]["token_accuracy"] == 1.0 for p in reliability)
    if mode == "sequential":
        assert (out / "sequential.jsonl").is_file()
