"""Scoring reads the output head only at answer positions: identical results to the full-logits path,
and the head never sees more rows than there are answer tokens."""

import pytest
import torch

from polyedit.models.backend import HFBackend
from polyedit.models.scoring import head_at
from helpers.tiny_models import ARCH_FAMILIES

REQS = [("The capital of France is", " Paris."), ("巴黎是", "法国的首都。"), ("Berlin ist die", " Hauptstadt"),
        ("Москва —", " столица России."), ("Paris", " is the capital of France.")]


def test_answer_positions_equal_full_logits(tiny_lm):
    new = HFBackend(tiny_lm, batch_size=3).score(REQS)
    old = HFBackend(tiny_lm, batch_size=3, full_vocabulary=True).score(REQS)
    for a, b in zip(new, old):
        assert a.target_ids == b.target_ids and a.argmax_ids == b.argmax_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_head_sees_only_answer_tokens(tiny_model_dirs):
    from polyedit.models.load import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    seen = []
    lm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    backend = HFBackend(lm, batch_size=8)
    results = backend.score(REQS)
    n_answer = sum(len(r.target_ids) for r in results)
    assert seen == [(1, n_answer, lm.model.config.vocab_size)]


def test_auto_batch_size_halves_on_out_of_memory(tiny_model_dirs):
    from polyedit.models.load import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))
    calls = []

    def too_big(_module, args, kwargs):  # a device that holds at most 2 rows
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls.append(ids.shape[0])
        if ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    lm.model.register_forward_pre_hook(too_big, with_kwargs=True)
    backend = HFBackend(lm, batch_size="auto")
    got = backend.score(REQS)
    assert backend.batch_size == 2 and backend.describe()["batch_size_auto"] is True
    assert calls == [5] * 6 + [4, 2, 2, 1]  # 256..8 each try all 5 rows, 4 fails too, 2 fits: 2+2+1
    ref = HFBackend(lm, batch_size=1).score(REQS)
    assert [r.argmax_ids for r in got] == [r.argmax_ids for r in ref]
    assert HFBackend(lm, batch_size=2).score(REQS)[0].logprobs == pytest.approx(got[0].logprobs, abs=1e-6)


def test_other_errors_are_not_swallowed(tiny_model_dirs):
    from polyedit.models.load import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))

    def broken(*_a, **_k):
        raise RuntimeError("a bug, not memory")

    lm.model.register_forward_pre_hook(broken, with_kwargs=True)
    with pytest.raises(RuntimeError, match="a bug"):
        HFBackend(lm, batch_size="auto").score(REQS)


def test_a_shared_context_position_reaches_the_head_once(tiny_model_dirs):
    from polyedit.models.load import load_model

    lm = load_model(str(tiny_model_dirs["qwen2"]))
    seen = []
    lm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    reqs = [("The capital of France is", " Paris"), ("The capital of France is", " Berlin")]  # new vs old answer
    got = HFBackend(lm).score(reqs)
    ref = HFBackend(lm, full_vocabulary=True).score(reqs)
    n_answer = sum(len(r.target_ids) for r in got)
    assert got[0].target_ids[0] != got[1].target_ids[0]  # so only the first position (the context's end) is shared
    assert seen[0] == n_answer - 1  # (seen[1]: the full-logits reference, every position)
    for a, b in zip(got, ref):
        assert a.argmax_ids == b.argmax_ids and a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_answer_positions_reach_the_head_a_chunk_at_a_time(tiny_lm):
    """More answer positions than a chunk: the head sees chunks of at most `chunk` rows, each position once,
    and the scores are those of the full log-softmax (every family: the later chunks' one-token passes)."""
    from polyedit.models.scoring import answer_logits, full_logprobs, target_scores
    from polyedit.models.tokens import pad_right

    lm = tiny_lm
    tok = lm.tokenizer
    ids, mask = pad_right([tok(c + t)["input_ids"] for c, t in REQS], tok.pad_token_id)
    rows, cols = mask.nonzero(as_tuple=True)  # every real position of every row: 30-odd
    seen = []
    lm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    with torch.no_grad():
        chunks = list(answer_logits(lm.model, ids, mask, rows, cols, chunk=4))
        ref = full_logprobs(lm.model, ids, mask, rows, cols)
    assert seen[:-1] == [4] * (len(rows) // 4) + ([len(rows) % 4] if len(rows) % 4 else [])
    assert torch.allclose(torch.log_softmax(torch.cat(chunks), -1), ref, atol=1e-5)
    which = torch.tensor([0, 5, 5, len(rows) - 1])  # positions read twice and across chunks
    targets = torch.tensor([3, 7, 9, 11])
    lp, top = target_scores([c.clone() for c in chunks], which, targets)
    assert lp == pytest.approx(ref[which, targets].tolist(), abs=1e-5)
    assert top == ref.argmax(-1)[which].tolist()
    lp1, top1 = target_scores([torch.cat(chunks)], which, targets)  # one chunk or many: the same numbers
    assert lp1 == pytest.approx(lp, abs=1e-6) and top1 == top


@pytest.mark.parametrize("family", ARCH_FAMILIES)
def test_head_at_gives_the_full_logits_at_the_chosen_positions(arch_lm, family):
    """`head_at` computes the LM head at (row, position) pairs only, in their order, and whatever the model does
    after its head (Gemma-2's soft-capping, Cohere's logit scale) still applies: the same numbers as the
    full logits read there."""
    lm = arch_lm(family)
    ids = torch.tensor([[5, 9, 14, 3, 7], [8, 2, 11, 6, 4]])
    rows, cols = torch.tensor([1, 0, 1, 0]), torch.tensor([4, 2, 0, 0])
    with torch.no_grad():
        full = lm.model(input_ids=ids).logits
        with head_at(lm.model, rows, cols) as on:
            picked = lm.model(input_ids=ids).logits
        with head_at(lm.model, rows, cols, enabled=False) as off:
            again = lm.model(input_ids=ids).logits
    assert on and not off
    assert picked.shape == (1, 4, full.shape[-1])
    torch.testing.assert_close(picked[0], full[rows, cols], rtol=1e-5, atol=1e-6)
    assert torch.equal(again, full)  # off: the hook is gone
