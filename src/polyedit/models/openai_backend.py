"""A backend for any OpenAI-compatible `/v1/completions` endpoint (vLLM, TGI, llama.cpp, `polyedit serve`).

- `generate`: greedy (`temperature: 0`) completions with the stop strings, several prompts per request,
  at most `concurrency` requests in flight.
- `score`: teacher-forced log-probabilities through `echo: true` + `logprobs: 1` + `max_tokens: 0`, where the
  endpoint returns them; the continuation's tokens are those that start at or after the end of the context
  (`text_offset`). Endpoints without logprobs get `capabilities = {"generate"}` and the engine reports the
  probability protocols as unavailable.
- Token ids: the API returns token strings, not ids; each distinct token string gets a session id, which
  is all the protocols need (they only compare ids). `tokenize` asks the endpoint (echo, special tokens
  such as BOS dropped); without logprobs it falls back to words and punctuation, and `notes` says so.
- HTTP (`openai_backend_http.py`): the official `openai` SDK with polyedit's retry policy (429, 5xx, dropped
  connections, timeouts and malformed answers retried, honouring `Retry-After`; any other 4xx is one clear
  `EndpointError`), an optional response cache and a token ledger. The API key is read from an environment
  variable and never written to messages, logs or `repr`.
"""

from __future__ import annotations

import copy
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from polyedit.errors import PolyeditError
from polyedit.models.backend import Generation, ScoreResult, cut_at_stop
from polyedit.models.openai_backend_http import (Endpoint, EndpointClient, EndpointError, Ledger, ResponseCache,
                                                 RetryPolicy)

__all__ = ["OpenAIBackend", "Endpoint", "EndpointError", "Ledger", "ResponseCache", "RetryPolicy", "word_ids"]
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class OpenAIBackend(EndpointClient):
    """`Backend` over HTTP. `logprobs`: True, False, or None to ask the endpoint once at construction."""

    def __init__(self, base_url: str, model_name: str, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, batch_size: int = 8, timeout: float = 120.0, logprobs: bool | None = None,
                 retry: RetryPolicy | None = None, cache: ResponseCache | None = None,
                 ledger: Ledger | None = None, purpose: str = "completions") -> None:
        self.endpoint = Endpoint(base_url, model_name, api_key_env=api_key_env, timeout=timeout, retry=retry,
                                 cache=cache, ledger=ledger)
        self.url = self.endpoint.url("completions")
        self.model_name, self.api_key_env, self.purpose = model_name, api_key_env, purpose
        self.concurrency = max(1, concurrency)
        self.batch_size = max(1, batch_size)
        self._vocab: dict[str, int] = {}
        self._vocab_lock = threading.Lock()
        self._tok_cache: dict[str, list[int]] = {}
        self.notes: list[str] = []
        self.has_logprobs = self._probe_logprobs() if logprobs is None else logprobs
        self.capabilities = frozenset({"score", "generate"} if self.has_logprobs else {"generate"})
        if not self.has_logprobs:
            self.notes.append("endpoint returns no logprobs: probability protocols unavailable; token-level "
                              "metrics count words and punctuation instead of the model's tokens")

    def for_model(self, model_name: str) -> OpenAIBackend:
        """This backend asking the same server for another model it serves (an adapter loaded at run time):
        the same token ids (a token string has one id across both), response cache and ledger."""
        other = copy.copy(self)
        other.endpoint = copy.copy(self.endpoint)
        other.endpoint.model_name = other.model_name = model_name
        return other

    def __repr__(self) -> str:
        return f"OpenAIBackend(url={self.url!r}, model={self.model_name!r}, key_env={self.api_key_env!r})"

    def describe(self) -> dict:
        """What a results file may record about this backend (no secrets)."""
        return {"backend": "openai", "api": "completions", "url": self.url, "model": self.model_name,
                "logprobs": self.has_logprobs, "decoding": {"temperature": 0}, "notes": list(self.notes),
                "ledger": self.ledger.to_dict()}

    def protocol_info(self, protocol) -> dict:
        """A completions endpoint reads the prompts as they are: no chat template, no chat protocol."""
        return {"chat_template": False}

    # -- HTTP ---------------------------------------------------------------------------------------

    def _post(self, body: dict) -> dict:
        return self.endpoint.post("completions", body, self.purpose)

    def _complete(self, prompts: list[str], **params) -> list[dict]:
        """One choice per prompt, in order; `batch_size` prompts per request, `concurrency` requests at once."""
        chunks = [prompts[i:i + self.batch_size] for i in range(0, len(prompts), self.batch_size)]

        def run(chunk: list[str]) -> list[dict]:
            resp = self._post({"prompt": chunk, **params})
            choices = resp.get("choices")
            if not isinstance(choices, list) or len(choices) != len(chunk):
                raise PolyeditError(f"{self.url}: expected {len(chunk)} choices, got "
                                    f"{len(choices) if isinstance(choices, list) else type(choices).__name__}")
            return sorted(choices, key=lambda c: c.get("index", 0))

        if len(chunks) == 1:
            return run(chunks[0])
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
            return [c for part in pool.map(run, chunks) for c in part]

    def _probe_logprobs(self) -> bool:
        try:
            choice = self._complete(["a"], max_tokens=0, echo=True, logprobs=1, temperature=0)[0]
        except EndpointError as e:
            if e.status in (400, 422):  # the endpoint rejects echo/logprobs: generation only
                return False
            raise
        lp = choice.get("logprobs") or {}
        return bool(lp.get("tokens")) and lp.get("token_logprobs") is not None

    # -- tokens -------------------------------------------------------------------------------------

    def _id(self, token: str) -> int:
        with self._vocab_lock:
            return self._vocab.setdefault(token, len(self._vocab))

    def _echo(self, texts: list[str]) -> list[dict]:
        choices = self._complete(texts, max_tokens=0, echo=True, logprobs=1, temperature=0)
        out = []
        for c in choices:
            lp = c.get("logprobs") or {}
            if not lp.get("tokens") or lp.get("text_offset") is None:
                raise PolyeditError(f"{self.url}: echo without tokens and text_offset; cannot score")
            out.append(lp)
        return out

    def tokenize(self, text: str) -> list[int]:
        if text in self._tok_cache:
            return self._tok_cache[text]
        if not text:
            ids: list[int] = []
        elif self.has_logprobs:
            lp = self._echo([text])[0]
            ids = [self._id(t) for t in lp["tokens"] if t]  # special tokens (BOS) decode to nothing
        else:
            ids = [self._id(w) for w in _WORDS.findall(text)]
        self._tok_cache[text] = ids
        return ids

    # -- the Backend protocol -------------------------------------------------------------------------

    def score(self, requests: list[tuple[str, str]]) -> list[ScoreResult]:
        if not self.has_logprobs:
            raise PolyeditError(f"{self.url} returns no logprobs: scoring protocols are unavailable")
        out = []
        for (context, continuation), lp in zip(requests, self._echo([c + t for c, t in requests])):
            tokens, token_lps = lp["tokens"], lp["token_logprobs"]
            tops = lp.get("top_logprobs") or [None] * len(tokens)
            n = len(context)  # the continuation: tokens that start in it, or straddle the boundary
            pick = [i for i, (t, off) in enumerate(zip(tokens, lp["text_offset"]))
                    if t and (off >= n or off + _text_len(t) > n)]
            if not pick:
                raise PolyeditError(f"{self.url}: no tokens of the continuation {continuation!r} in the echo")
            target = [self._id(tokens[i]) for i in pick]
            logprobs = [float(token_lps[i]) if token_lps[i] is not None else 0.0 for i in pick]
            argmax = [self._id(max(tops[i], key=tops[i].get)) if tops[i] else -1 for i in pick]
            out.append(ScoreResult(target, logprobs, argmax))
        return out

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[Generation]:
        params = dict(max_tokens=max_new_tokens, temperature=0)
        if stop:
            params["stop"] = list(stop)[:4]  # the API allows four
        if self.has_logprobs:
            params["logprobs"] = 1
        out = []
        for choice in self._complete(prompts, **params):
            text = cut_at_stop(choice.get("text") or "", stop)
            lp = choice.get("logprobs") or {}
            if lp.get("tokens") and text == (choice.get("text") or ""):
                ids = [self._id(t) for t in lp["tokens"]]
            else:
                ids = self.tokenize(text)
            out.append(Generation(text, ids))
        return out


def _text_len(token: str) -> int:
    """Characters a token spans; a `bytes:` token (part of a multi-byte character) is counted at its start."""
    return 0 if token.startswith("bytes:") else len(token)


def word_ids(text: str, vocab_id) -> list[int]:
    """Words and punctuation as token ids, for endpoints that report no tokens."""
    return [vocab_id(w) for w in _WORDS.findall(text)]
