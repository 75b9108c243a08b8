"""Nearest training edits for MIKE-search and IKE: similarity of the edits' `src + " " + alt` texts.

Embeddings come from sentence-transformers when it is installed and the model is available locally (the
optional `embeddings` extra); otherwise from TF-IDF over character n-grams (n = 2..4, words padded with
spaces), computed here with numpy. The embedder's name goes into the results, so a run says which it used.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Protocol

import numpy as np

DEFAULT_ST_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str

    def fit(self, texts: list[str]) -> np.ndarray: ...  # (n, d), rows L2-normalised

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _ngrams(text: str, lo: int, hi: int) -> Counter:
    out: Counter = Counter()
    for word in text.lower().split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            for i in range(max(1, len(w) - n + 1)):
                out[w[i:i + n]] += 1
    return out


class CharNgramTfidf:
    """TF-IDF over character n-grams: tf = 1 + log(count), idf = log((1 + N) / (1 + df)) + 1, rows L2-normalised
    (cosine similarity is then a dot product)."""

    def __init__(self, lo: int = 2, hi: int = 4) -> None:
        self.lo, self.hi = lo, hi
        self.name = f"tfidf-char-{lo}-{hi}"
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)

    def fit(self, texts: list[str]) -> np.ndarray:
        grams = [_ngrams(t, self.lo, self.hi) for t in texts]
        df: Counter = Counter()
        for g in grams:
            df.update(g.keys())
        self.vocab = {k: i for i, k in enumerate(sorted(df))}
        n = len(texts)
        self.idf = np.array([math.log((1 + n) / (1 + df[k])) + 1 for k in sorted(df)], dtype=np.float32)
        return self._matrix(grams)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._matrix([_ngrams(t, self.lo, self.hi) for t in texts])

    def _matrix(self, grams: list[Counter]) -> np.ndarray:
        m = np.zeros((len(grams), len(self.vocab)), dtype=np.float32)
        for row, g in enumerate(grams):
            for k, c in g.items():
                j = self.vocab.get(k)
                if j is not None:
                    m[row, j] = (1 + math.log(c)) * self.idf[j]
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms == 0, 1, norms)


class SentenceTransformerEmbedder:
    def __init__(self, model) -> None:
        self.model = model
        self.name = "sentence-transformers"

    def fit(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, normalize_embeddings=True, show_progress_bar=False),
                          dtype=np.float32)


def make_embedder(kind: str = "auto", model_name: str = DEFAULT_ST_MODEL) -> Embedder:
    """`tfidf`, `sentence-transformers`, or `auto` (sentence-transformers if it loads offline, else TF-IDF)."""
    if kind == "tfidf":
        return CharNgramTfidf()
    try:
        from sentence_transformers import SentenceTransformer  # optional: the `embeddings` extra

        emb = SentenceTransformerEmbedder(SentenceTransformer(model_name, local_files_only=True))
        emb.name = f"sentence-transformers:{model_name}"
        return emb
    except Exception as e:  # not installed, or the model is not in the local cache
        why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if kind == "sentence-transformers":
            from polyedit.errors import PolyeditError

            raise PolyeditError(f"ike: sentence-transformers model {model_name!r} unavailable ({why}); "
                                "use embedder: tfidf") from None
        fallback = CharNgramTfidf()
        # said wherever the run is read: the console now, the handle's notes (summary and report) later
        fallback.note = (f"MIKE-search retrieved with TF-IDF, not sentence-transformers: model {model_name!r} "
                         f"unavailable ({why}); set embedder: tfidf to choose it, sentence-transformers to require it")
        logging.getLogger("polyedit").warning("%s", fallback.note)
        return fallback


class NearestEdits:
    """An index of corpus texts; `nearest(text, k, exclude)` gives corpus positions, most similar first."""

    def __init__(self, texts: list[str], embedder: Embedder) -> None:
        self.texts, self.embedder = texts, embedder
        self.matrix = embedder.fit(texts)

    def nearest(self, text: str, k: int, exclude: set[int] = frozenset()) -> list[int]:
        sims = self.matrix @ self.embedder.embed([text])[0]
        order = np.argsort(-sims, kind="stable")  # ties: corpus order
        return [int(i) for i in order if int(i) not in exclude][:k]
