"""The unedited model's answers, computed once and shared by runs.

Every method of `polyedit demo`, every cell of a sweep and every trial of `polyedit tune` scores the same
probes on the same unedited model before its edit. `CachedBackend` wraps a local backend and keeps each
`score` and `generate` request's result in a SQLite file shared by runs (beside the second-moment cache),
under a namespace of everything that determines it:

- the weights, bit for bit (SHA-256 of every parameter and buffer: a model edited and saved is another model);
- the tokenizer (its serialised form), dtype, device and chat-template setting;
- the source of the modules that compute a result (backend, scoring, decoding, tokens, chat templates), so
  a change of polyedit's scoring never reads results the old code made;
- `FORMAT`, this cache's own layout.

A request is the text itself (context and answer, or prompt, length and stop strings), so the protocol that
asked for it, and its version, determine the key through what it asks. Results are stored as the backend
returned them (floats through JSON round-trip exactly). The runner uses the cache only where the model is
unedited: before each edit (restores are bit-identical) and for the untouched facts of lifelong runs.
A result a run reads from the cache is what the same batch computed then; a request whose neighbours in a
batch differ may differ from a fresh computation in the last floating-point digits (padding), never more.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

import torch

from polyedit.models.backend import Generation, ScoreResult

FORMAT = 1
CACHE_ENV = "POLYEDIT_CACHE_DIR"
#: the modules whose code decides what a request returns (their text is part of every key)
COMPUTING_MODULES = ("backend", "scoring", "generation", "tokens", "chat", "batching")


def default_root() -> Path:
    """`$POLYEDIT_CACHE_DIR` or `~/.cache/polyedit`, the folder of polyedit's caches."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "polyedit").expanduser()


def weights_sha256(model: torch.nn.Module) -> str | None:
    """SHA-256 over every parameter and buffer: name, dtype, shape and bytes (about a second per GB); None
    when a weight is not in memory (offloaded to disk by a device map), which nothing here can hash."""
    h = hashlib.sha256()
    for name, t in sorted({**dict(model.named_parameters()), **dict(model.named_buffers())}.items()):
        t = t.detach()
        if t.device.type == "meta":
            return None
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.contiguous().reshape(-1).view(torch.uint8).cpu().numpy()))
    return h.hexdigest()


def tokenizer_sha256(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    text = backend.to_str() if backend is not None and hasattr(backend, "to_str") else json.dumps(
        tokenizer.get_vocab(), sort_keys=True)
    special = json.dumps({"bos": tokenizer.bos_token, "eos": tokenizer.eos_token, "pad": tokenizer.pad_token,
                          "class": type(tokenizer).__name__}, sort_keys=True)
    return hashlib.sha256((text + special).encode("utf-8")).hexdigest()


def code_sha256() -> str:
    import importlib

    h = hashlib.sha256()
    for name in COMPUTING_MODULES:
        h.update(Path(importlib.import_module(f"polyedit.models.{name}").__file__).read_bytes())
    return h.hexdigest()


def namespace(backend) -> str | None:
    """What every key of `backend`'s results begins with: the weights as they are now (hashed each time, never
    remembered on the model, which a caller may edit and keep edited between runs)."""
    lm = backend.lm
    weights = weights_sha256(lm.model)
    if weights is None:
        return None
    placement = lm.placement()
    parts = {"format": FORMAT, "weights": weights, "tokenizer": tokenizer_sha256(lm.tokenizer),
             "code": code_sha256(),
             "dtype": str(placement.get("dtype")), "device": str(placement.get("device")),
             "chat_template": backend.chat_template}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class RequestCache:
    """Key -> JSON value in one SQLite file; safe for several processes (SQLite's own locking)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=60)
            db.execute("PRAGMA journal_mode=WAL")
        return db

    def get_many(self, keys: list[str]) -> dict[str, object]:
        out, db = {}, self._db()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = db.execute(f"SELECT key, value FROM results WHERE key IN ({','.join('?' * len(part))})", part)
            out.update((k, json.loads(v)) for k, v in rows)
        return out

    def put_many(self, items: dict[str, object]) -> None:
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in items.items()])


class CachedBackend:
    """A local backend whose results are read from, and written to, a `RequestCache`. Everything but
    `score` and `generate` is the wrapped backend's. `hits` and `misses` count requests. The namespace is
    taken at the first request, so the wrapper must first be used while the model is unedited."""

    def __init__(self, backend, cache: RequestCache) -> None:
        self.backend = backend
        self.cache = cache
        self.hits = self.misses = 0
        self._ns: str | None = None
        self._started = False

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def describe(self) -> dict:
        """The wrapped backend's description, and what this run read from the cache."""
        return {**self.backend.describe(), "pre_edit_cache": {
            "path": str(self.cache.path), "requests_cached": self.hits, "requests_computed": self.misses,
            "weights_hashed": self._ns is not None}}

    def _key(self, *request) -> str:
        text = json.dumps([self._ns, *request])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _through(self, requests: list, kind: str, compute, encode, decode) -> list:
        if not self._started:
            self._ns, self._started = namespace(self.backend), True
        if self._ns is None:  # a model this cache cannot name: computed, never stored
            self.misses += len(requests)
            return compute(list(range(len(requests))))
        keys = [self._key(kind, *r) for r in requests]
        found = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = compute(missing)
            self.cache.put_many({keys[i]: encode(r) for i, r in zip(missing, fresh)})
            found.update((keys[i], encode(r)) for i, r in zip(missing, fresh))
        return [decode(found[k]) for k in keys]

    def score(self, requests: list[tuple[str, str]]) -> list[ScoreResult]:
        return self._through([list(r) for r in requests], "score",
                             lambda idx: self.backend.score([requests[i] for i in idx]),
                             lambda r: [r.target_ids, r.logprobs, r.argmax_ids], lambda v: ScoreResult(*v))

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[Generation]:
        return self._through([[p, max_new_tokens, list(stop)] for p in prompts], "generate",
                             lambda idx: self.backend.generate([prompts[i] for i in idx], max_new_tokens, stop),
                             lambda g: [g.text, g.token_ids], lambda v: Generation(*v))


def cached(backend, root: str | Path | None = None) -> CachedBackend:
    """`backend` reading and writing the shared cache under `root` (default `default_root()`)."""
    return CachedBackend(backend, RequestCache(Path(root or default_root()) / "pre_edit" / f"v{FORMAT}.sqlite"))
