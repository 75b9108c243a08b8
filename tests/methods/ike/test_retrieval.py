"""MIKE-search retrieval through sentence-transformers, on a tiny sentence-transformer built here from a
random BERT (no hub access): the embedder loads a local model, its name goes into the results, and a
missing model is one clear error (or, with `auto`, the TF-IDF fallback)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.requires import importable

importable("sentence_transformers")  # the `test` extra: a skip without it, a failure under CI=true

TEXTS = ["Paris is the capital of France", "東京は日本の首都です", "Berlin ist die Hauptstadt",
         "Москва — столица России", "서울은 한국의 수도이다"]


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import (
            Pooling,
            Transformer,
        )
    except ImportError:  # before sentence-transformers 6
        from sentence_transformers.models import Pooling, Transformer
    from transformers import BertConfig, BertModel

    from helpers.tiny_models import tiny_tokenizer

    root = tmp_path_factory.mktemp("st")
    tok = tiny_tokenizer()
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id)
              ).save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    st = SentenceTransformer(modules=[Transformer(str(root / "bert")), Pooling(32, "mean")],
                             device="cpu")
    st.save(str(root / "st"))
    return root / "st"


def test_local_sentence_transformer_embeds_and_retrieves(st_dir):
    from sentence_transformers import SentenceTransformer

    from polyedit.methods.ike.retrieval import NearestEdits, make_embedder

    emb = make_embedder("sentence-transformers", str(st_dir))
    assert emb.name == f"sentence-transformers:{st_dir}"
    vecs = emb.embed(TEXTS)
    expected = SentenceTransformer(str(st_dir), device="cpu").encode(TEXTS)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vecs, expected, atol=1e-5)
    index = NearestEdits(TEXTS, emb)
    for i, text in enumerate(TEXTS):  # cosine similarity 1 with itself
        assert index.nearest(text, 1) == [i]
        assert i not in index.nearest(text, 2, exclude={i})


def test_missing_model_is_one_error_or_the_named_fallback(tmp_path):
    from polyedit.errors import PolyeditError
    from polyedit.methods.ike.retrieval import make_embedder

    with pytest.raises(PolyeditError, match="unavailable.*use embedder: tfidf"):
        make_embedder("sentence-transformers", str(tmp_path / "nowhere"))
    assert make_embedder("auto", str(tmp_path / "nowhere")).name.startswith("tfidf")


def test_mike_search_retrieves_with_the_sentence_transformer(st_dir):
    from polyedit.data.registry import load_dataset
    from polyedit.methods.base import get_method

    from helpers.requires import bmike53_root

    root = bmike53_root()
    case = load_dataset(f"bmike53:zsre:langs=de:dir={root}", limit=4).cases[3]
    m = get_method("ike", {"setting": "mike_search", "pool_dir": str(root), "embedder": "sentence-transformers",
                           "embedding_model": str(st_dir)})
    h = m.apply_cases(None, [case])
    assert h.info["embedder"] == f"sentence-transformers:{st_dir}"
    prompt = h.transform_prompt(case.probes[0])
    assert prompt.count('New fact: "') == 10
    assert f'New fact: "{case.edit.prompt} {case.edit.target_new}"' not in prompt  # never its own edit
