"""Each batch row under its own low-rank weight change (`models/row_deltas.py`): a row's outputs equal those of
the model with that change written into its weights, in both storage orientations (Linear, GPT-2's Conv1D),
through modules whose output is a tuple, in generation as in scoring; the weights are never written."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polyedit.models.backend import HFBackend
from polyedit.models.row_deltas import RowDeltas, factors


def _low_rank(module: nn.Module, rank: int, seed: int) -> torch.Tensor:
    """A random rank-`rank` change in the module's own storage orientation."""
    g = torch.Generator().manual_seed(seed)
    w = module.weight
    return 20 * torch.randn(w.shape[0], rank, generator=g) @ torch.randn(rank, w.shape[1], generator=g) / w.shape[1]


def _edits(lm, n: int = 2):
    """n edits, each a change of two MLP output projections (edit i of rank i + 1)."""
    names = [lm.arch.mlp_out[0], lm.arch.mlp_out[-1]]
    return [{m: _low_rank(lm.model.get_submodule(m), i + 1, 10 * i + j) for j, m in enumerate(names)}
            for i in range(n)]


def _written(lm, change: dict[str, torch.Tensor]):
    """A context in which `change` is added to the weights (and taken out again)."""
    class Written:
        def __enter__(self):
            self.saved = {m: lm.model.get_submodule(m).weight.detach().clone() for m in change}
            with torch.no_grad():
                for m, d in change.items():
                    lm.model.get_submodule(m).weight.add_(d)

        def __exit__(self, *exc):
            with torch.no_grad():
                for m, w in self.saved.items():
                    lm.model.get_submodule(m).weight.copy_(w)
    return Written()


def _row_deltas(lm, edits):
    return RowDeltas(lm.model, [{m: factors(lm.model.get_submodule(m), d) for m, d in e.items()} for e in edits])


def test_factors_find_the_rank_and_the_orientation(tiny_lm):
    module = tiny_lm.model.get_submodule(tiny_lm.arch.mlp_out[0])
    d = _low_rank(module, 3, 0)
    b, a = factors(module, d)
    assert b.shape[1] == 3
    out_in = d.T if type(module).__name__ == "Conv1D" else d
    assert (b @ a - out_in).norm() <= 1e-5 * out_in.norm()
    assert (b[:, :2] @ a[:2] - out_in).norm() > 1e-2 * out_in.norm()  # and not lower


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_each_row_scores_as_its_edit_written_into_the_weights(tiny_model_dirs, family):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs[family]))
    edits = _edits(lm)
    requests = [("The capital of France is", " Paris"), ("A cat sat on", " the mat"),
                ("The capital of France is", " Paris"), ("One two three", " four")]
    rows = [0, 1, 1, -1]  # the same request under two edits, and one under none
    backend = HFBackend(lm, batch_size=4)  # rows of different edits share a batch
    expected = []
    for (req, e) in zip(requests, rows):
        with _written(lm, edits[e] if e >= 0 else {}):
            expected.append(backend.score([req])[0])
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    deltas = _row_deltas(lm, edits)
    backend.row_deltas = deltas
    seen = []
    with deltas.active():
        got = backend.score(requests, rows=rows)
        gen = backend.generate([r[0] for r in requests], 4, rows=rows)
        seen.append(all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items()))
    for g, x in zip(got, expected):
        assert g.argmax_ids == x.argmax_ids
        assert max(abs(a - b) for a, b in zip(g.logprobs, x.logprobs)) < 1e-5
    assert got[0].logprobs != got[2].logprobs  # the two edits do differ on the same request
    backend.row_deltas = None
    for (prompt, _), e, g in zip(requests, rows, gen):
        with _written(lm, edits[e] if e >= 0 else {}):
            assert backend.generate([prompt], 4) == [g]
    assert seen == [True]  # nothing written into the weights while the edits were carried
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())


@pytest.mark.parametrize("shared, which", [(False, [0, 1, 1, -1]), (True, [1, 1, 1, 1]), (True, [0, 1, 1, -1])])
def test_decoding_follows_each_rows_edit_as_rows_finish(tiny_model_dirs, shared, which):
    """Rows that stop early leave the batch (the others keep their edits); rows of one edit that share a long
    prefix run it once, under that edit."""
    from polyedit.models import load_model
    from polyedit.models.generation import MIN_SHARED_PREFIX, GreedyDecoder

    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = _edits(lm)
    prefix = list(range(5, 5 + MIN_SHARED_PREFIX + 3)) if shared else []
    rows = [prefix + [7, 8, 9], prefix + [11, 12], prefix + [7, 8, 9], prefix + [13, 14, 15, 16]]
    limits = [1, 5, 2, 5]
    tok = lm.tokenizer
    expected = []
    for r, n, e in zip(rows, limits, which):
        with _written(lm, edits[e] if e >= 0 else {}):
            expected.append(GreedyDecoder(lm.model, tok.pad_token_id, None).decode([r], n, lambda ids: False)[0])
    deltas = _row_deltas(lm, edits)
    with deltas.active():
        got = GreedyDecoder(lm.model, tok.pad_token_id, None, deltas).decode(rows, limits, lambda ids: False,
                                                                            edits=which)
    assert got == expected


class _TupleOut(nn.Module):
    """A module whose output is a tuple (as attention blocks return (output, weights))."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, x):
        return self.proj(x), "extra"


def test_a_tuple_output_carries_the_change_in_its_first_element():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("m", _TupleOut())
    module = model.get_submodule("m.proj")
    d = torch.randn(3, 1) @ torch.randn(1, 4)
    deltas = RowDeltas(model, [{"m.proj": factors(module, d)}])
    x = torch.randn(2, 5, 4)
    plain = model.m(x)[0]
    deltas.stacks = {"m": deltas.stacks["m.proj"]}  # hook the tuple-returning module around the projection
    deltas.rows([0, -1])
    with deltas.active():
        out, extra = model.m(x)
    assert extra == "extra"
    assert torch.allclose(out[0], plain[0] + x[0] @ d.T, atol=1e-6)
    assert torch.equal(out[1], plain[1])
