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
- Errors: HTTP 429 and 5xx, and dropped connections, are retried with exponential backoff (honouring a
  short `Retry-After`); any other 4xx is one clear `PolyeditError`. The API key is read from an environment
  variable, sent only in the `Authorization` header, and never written to messages, logs or `repr`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from polyedit.errors import PolyeditError
from polyedit.models.backend import Generation, ScoreResult, cut_at_stop

log = logging.getLogger("polyedit.openai")
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class EndpointError(PolyeditError):
    """A 4xx answer: the request is wrong (bad model name, missing key, unsupported parameter)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay)
            except ValueError:
                pass
        return min(self.base_delay * 2 ** attempt, self.max_delay)


class OpenAIBackend:
    """`Backend` over HTTP. `logprobs`: True, False, or None to ask the endpoint once at construction."""

    def __init__(self, base_url: str, model_name: str, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, batch_size: int = 8, timeout: float = 120.0, logprobs: bool | None = None,
                 retry: RetryPolicy | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise PolyeditError(f"--base-url must be an http(s) URL, got {base_url!r}")
        base = base_url.rstrip("/")
        self.url = base + ("/completions" if base.endswith("/v1") else "/v1/completions")
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.__key = os.environ.get(api_key_env) or None  # private: never logged, never in results
        self.concurrency = max(1, concurrency)
        self.batch_size = max(1, batch_size)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._vocab: dict[str, int] = {}
        self._vocab_lock = threading.Lock()
        self._tok_cache: dict[str, list[int]] = {}
        self.requests_sent = 0
        self.notes: list[str] = []
        self.has_logprobs = self._probe_logprobs() if logprobs is None else logprobs
        self.capabilities = frozenset({"score", "generate"} if self.has_logprobs else {"generate"})
        if not self.has_logprobs:
            self.notes.append("endpoint returns no logprobs: probability protocols unavailable; token-level "
                              "metrics count words and punctuation instead of the model's tokens")

    def __repr__(self) -> str:
        return f"OpenAIBackend(url={self.url!r}, model={self.model_name!r}, key_env={self.api_key_env!r})"

    def describe(self) -> dict:
        """What a results file may record about this backend (no secrets)."""
        return {"backend": "openai", "url": self.url, "model": self.model_name, "logprobs": self.has_logprobs,
                "notes": list(self.notes)}

    # -- HTTP ---------------------------------------------------------------------------------------

    def _post(self, body: dict) -> dict:
        data = json.dumps({"model": self.model_name, **body}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        last = ""
        for attempt in range(self.retry.max_retries + 1):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            retry_after = None
            try:
                self.requests_sent += 1
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = _error_message(e)
                if e.code not in RETRY_STATUS:
                    raise EndpointError(f"{self.url}: HTTP {e.code} {e.reason}: {detail}", e.code) from None
                last, retry_after = f"HTTP {e.code} {detail}", e.headers.get("Retry-After")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except json.JSONDecodeError:
                raise PolyeditError(f"{self.url}: the endpoint answered with something that is not JSON") from None
            if attempt < self.retry.max_retries:
                wait = self.retry.delay(attempt, retry_after)
                log.warning("%s: %s; retry %d/%d in %.1fs", self.url, last, attempt + 1, self.retry.max_retries, wait)
                time.sleep(wait)
        raise PolyeditError(f"{self.url}: gave up after {self.retry.max_retries + 1} attempts ({last})")

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


def _error_message(e: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(e.read().decode("utf-8", "replace"))
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else str(err)
        return str(msg)[:300]
    except Exception:
        return "(no error message)"
