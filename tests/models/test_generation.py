"""polyedit's greedy decoder against `transformers`' own `generate`, one prompt at a time: the shared-prefix
cache, the padding between prefix and suffix, early stopping and dropping finished rows change nothing."""

from __future__ import annotations

import pytest
import torch

from polyedit.methods.ike.prompts import in_context_prompt
from polyedit.models.backend import HFBackend, cut_at_stop
from polyedit.models.generation import MIN_SHARED_PREFIX, GreedyDecoder, plan_batches

DEMOS = [("Ana Lind was born in Oslo", "Wo wurde Ana Lind geboren?", "Oslo"),
         ("Bo Ek works for Acme", "Для кого работает Бо Эк?", "Acme")]


def _prompts(n_demos: int) -> list[str]:
    facts = [("Bo Ek was born in", "Lima"), ("巴黎是法国的", "首都"), ("Kim lives in", "Seoul")]
    questions = ["Где родился Бо?", "東京は日本の首都ですか？", "Where?", "Wo?"]
    return [in_context_prompt(DEMOS * (n_demos // 2), f, a, q) for f, a in facts for q in questions]


def _reference(lm, prompt: str, stop: tuple[str, ...]) -> str:
    """What the authors' loop does: `generate` 15 greedy tokens for one prompt, then cut at the stop."""
    tok = lm.tokenizer
    ids = torch.tensor([tok(prompt)["input_ids"]])
    gen = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                            max_new_tokens=15, pad_token_id=tok.pad_token_id, num_beams=1)[0, ids.shape[1]:].tolist()
    if tok.eos_token_id in gen:
        gen = gen[:gen.index(tok.eos_token_id)]
    return cut_at_stop(tok.decode(gen, skip_special_tokens=True), stop)


@pytest.mark.parametrize("family,n_demos", [("llama", 0), ("llama", 4), ("qwen2", 4), ("bloom", 4),
                                            ("gpt2", 0)])  # gpt2's learned positions stop at 128
def test_decoder_equals_transformers_generate_one_at_a_time(tiny_model_dirs, family, n_demos):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs[family]))
    prompts = _prompts(n_demos)
    free = HFBackend(lm, batch_size=1).generate(prompts, 15)
    assert [g.text for g in free] == [_reference(lm, p, ()) for p in prompts]
    # stop strings taken from the answers themselves, so rows stop (and leave the batch) at different steps
    stop = tuple(sorted({g.text[len(g.text) // 2:][:2] for g in free if len(g.text) > 3}))
    assert stop
    batched = HFBackend(lm, batch_size=8).generate(prompts, 15, stop)
    expected = [_reference(lm, p, stop) for p in prompts]
    assert [g.text for g in batched] == expected
    assert sum(len(t) < len(g.text) for t, g in zip(expected, free)) >= 3  # early stopping was exercised
    assert [g.token_ids for g in batched] == [g.token_ids for g in HFBackend(lm, batch_size=1).generate(prompts, 15, stop)]
    # ... on the cached path: the model was not taken for one that ignores its cache object
    assert GreedyDecoder(lm.model, lm.tokenizer.pad_token_id, lm.tokenizer.eos_token_id).takes_cache


def test_prompts_sharing_demonstrations_are_batched_together():
    shared = list(range(100, 100 + MIN_SHARED_PREFIX))
    enc = [shared + [1, 2], [5, 6, 7], shared + [3], [8] * 9, shared + [1, 4, 4]]
    assert plan_batches(enc, 8) == [[4, 0, 2], [3, 1]]
    assert plan_batches(enc, 2) == [[4, 0], [2, 3], [1]]  # a full group is closed; single prompts go by length
    assert plan_batches(enc, 16) == [[4, 0, 2, 3, 1]]  # groups under a quarter of a batch go by length


@pytest.mark.parametrize("path", ["generate", "concatenating_cache", "returns_no_cache", "legacy_tuple_cache"])
def test_fallbacks_decode_the_same(tiny_model_dirs, monkeypatch, path):
    """The paths for older transformers give the same answers and stops as the in-place cache: `generate`
    on the left-padded batch for a model that takes no Cache object (GPT-2 before transformers 4.47; also
    a model that ignores the cache object and returns none, and a legacy one taking tuple caches), and
    a plain concatenating `DynamicCache` where transformers exports no cache layer classes (before 4.56)."""
    from helpers.tiny_models import without_cache_object
    from transformers import DynamicCache

    from polyedit.models import generation, load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    prompts = _prompts(4)
    free = HFBackend(lm, batch_size=8).generate(prompts, 15)
    stop = tuple(sorted({g.text[len(g.text) // 2:][:2] for g in free if len(g.text) > 3}))
    cached = HFBackend(lm, batch_size=8).generate(prompts, 15, stop)
    expected = [_reference(lm, p, stop) for p in prompts]  # transformers' own loop, before the model is wrapped
    if path == "generate":
        init = generation.GreedyDecoder.__init__

        def no_cache(self, *args):
            init(self, *args)
            self.takes_cache = False

        monkeypatch.setattr(generation.GreedyDecoder, "__init__", no_cache)
    elif path == "concatenating_cache":
        monkeypatch.setattr(generation, "new_cache", lambda config: DynamicCache())
    else:
        without_cache_object(lm.model, legacy=path == "legacy_tuple_cache")
    other = HFBackend(lm, batch_size=8).generate(prompts, 15, stop)
    assert [(g.text, g.token_ids) for g in other] == [(g.text, g.token_ids) for g in cached]
    assert [g.text for g in other] == expected
