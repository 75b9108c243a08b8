"""The server's sampling path for a model that takes no KV-cache object (`models/generation.py`'s fallbacks):
seeded sampling gives the same text alone and batched, with greedy rows in the same batch, and the same text
as the cached path, through the server's model worker (`serve/batching.py`). Two such models, wrapped from a
tiny llama (`tiny_models.without_cache_object`): one whose forward ignores the cache object and returns
none, found out by the decoder's first forward, and a legacy one (tuple caches, flagged as transformers 4
flagged them). Before the fallbacks were fixed the first crashed in the cached path and the second's greedy
rows were decoded wrongly by transformers' `generate` (which under transformers 5 feeds a model without a
Cache object the last token alone)."""

from __future__ import annotations

import pytest

from helpers.tiny_models import without_cache_object

PROMPTS = ["The capital of", "Paris is the capital", "巴黎是", "Berlin ist die", "The capital of France is"]
SEEDS = [3, None, 7, 3, 11]  # None: greedy; seed 3 twice, on different prompts
LIMITS = [8, 6, 10, 7, 9]


def _rows(lm):
    from polyedit.models.generation import Sampling
    from polyedit.serve.batching import Row

    return [Row(p, lm.tokenizer(p)["input_ids"], n, sampling=None if seed is None else Sampling(1.5, 0.95, seed))
            for p, seed, n in zip(PROMPTS, SEEDS, LIMITS)]


def _serve(lm, jobs):
    """The texts and token ids of each job's rows, each job submitted and answered in turn."""
    from polyedit.serve.batching import ModelWorker

    worker = ModelWorker(lm, batch_size=8)
    try:
        return [[(r.text, r.token_ids) for r in worker.submit(rows).result(timeout=120)] for rows in jobs], worker
    finally:
        worker.close()


@pytest.fixture(scope="module")
def cached(tiny_model_dirs):
    """The cached path's answers: each row alone, and all rows in one batch."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    rows = _rows(lm)
    alone, _ = _serve(lm, [[r] for r in rows])
    (batched,), _ = _serve(lm, [rows])
    assert batched == [a for (a,) in alone]
    from polyedit.models.generation import GreedyDecoder

    assert GreedyDecoder(lm.model, lm.tokenizer.pad_token_id, lm.tokenizer.eos_token_id).takes_cache  # cached indeed
    return batched


@pytest.mark.parametrize("legacy", [False, True], ids=["returns_no_cache", "legacy_tuple_cache"])
def test_seeded_sampling_without_a_cache_object(tiny_model_dirs, cached, legacy):
    from polyedit.models import load_model
    from polyedit.models.generation import GreedyDecoder

    lm = load_model(str(tiny_model_dirs["llama"]))
    without_cache_object(lm.model, legacy=legacy)
    rows = _rows(lm)
    alone, _ = _serve(lm, [[r] for r in rows])
    (batched,), worker = _serve(lm, [rows])
    assert worker.batches == 1 and worker.largest_batch == len(rows)  # one batch, greedy and sampled rows mixed
    assert batched == [a for (a,) in alone]  # each row as alone: its own generator, whatever it is batched with
    assert batched == cached  # and as the cached path decodes it (greedy rows too)
    # it did sample: the sampled rows are not the greedy answers, and a seed's text depends on its prompt
    greedy, _ = _serve(lm, [[type(r)(r.prompt, r.ids, r.max_tokens) for r in rows]])
    assert sum(b != g for b, g in zip(batched, greedy[0])) >= 3
    assert batched[0][0] != batched[3][0]
    assert not GreedyDecoder(lm.model, lm.tokenizer.pad_token_id, lm.tokenizer.eos_token_id).takes_cache
