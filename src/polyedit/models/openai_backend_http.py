"""The HTTP side of the OpenAI-compatible backends: the official `openai` SDK, our retry policy, the response
cache and the token ledger.

- Client: `openai.OpenAI` with its own retries off (`max_retries=0`), so one policy, ours, is used and
  tested: HTTP 429 and 5xx, a dropped connection, a timeout and a body that is not JSON are retried up to
  `max_retries` times. The wait honours the server's `Retry-After` (seconds or an HTTP date) or
  `retry-after-ms`, up to `max_retry_after`; without one, exponential backoff. Any other 4xx is permanent:
  one `EndpointError` line, never retried.
- Cache (`ResponseCache`): every answer is stored under the hash of (URL, model, full request body), so a
  resumed run, or the same run into a new folder, sends nothing it has sent before.
- Ledger (`Ledger`): per purpose (the chat protocol, the judge, ...), requests sent and answered from the
  cache, and prompt and completion tokens as the API's `usage` reports them.
The API key is read from an environment variable, handed only to the SDK (the `Authorization` header) and
never written to messages, logs or `repr`.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from polyedit.errors import PolyeditError

log = logging.getLogger("polyedit.openai")
CACHE_ENV = "POLYEDIT_API_CACHE_DIR"
#: sent as the key to endpoints that want none (vLLM, Ollama, polyedit serve): the SDK refuses to run without
NO_KEY = "EMPTY"


class EndpointError(PolyeditError):
    """A 4xx answer other than 429: the request is wrong (bad model name, missing key, unsupported route)."""

    def __init__(self, message: str, status: int, too_long: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.too_long = too_long  # the prompt is longer than the model's context: this request only


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0  # backoff without a Retry-After
    max_retry_after: float = 60.0  # the longest Retry-After honoured as given

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.base_delay * 2 ** attempt, self.max_delay)


def retry_after_seconds(headers) -> float | None:
    """The server's requested wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return float(ms) / 1000
    except ValueError:
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def default_cache_dir() -> Path:
    """Beside the second-moment cache: `$POLYEDIT_API_CACHE_DIR` or `~/.cache/polyedit/api`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "polyedit" / "api").expanduser()


class ResponseCache:
    """One JSON file per answered request, named by the hash of (URL, model, body); written atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    @staticmethod
    def key(url: str, body: dict) -> str:
        text = json.dumps({"url": url, "model": body.get("model"), "body": body}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text("utf-8"))["response"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, or torn by a killed run: asked again

    def put(self, key: str, url: str, body: dict, response: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"url": url, "request": body, "response": response}, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)


class Ledger:
    """Requests and tokens per purpose (thread-safe): what summary.json's `api` block reports."""

    FIELDS = ("requests_sent", "requests_cached", "prompt_tokens", "completion_tokens")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(self.FIELDS, 0))

    def add(self, purpose: str, response: dict | None, cached: bool = False, sent: int = 0) -> None:
        usage = (response or {}).get("usage") or {}
        with self._lock:
            row = self.rows[purpose]
            row["requests_sent"] += sent
            row["requests_cached"] += int(cached)
            row["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            row["completion_tokens"] += int(usage.get("completion_tokens") or 0)

    def to_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: dict(v) for k, v in sorted(self.rows.items())}


ROUTES = {"completions": "/completions", "chat": "/chat/completions"}


class Endpoint:
    """One OpenAI-compatible server and model, through the `openai` SDK. `post(route, body, purpose)` sends
    `body` (the model is added) to /v1/completions or /v1/chat/completions and returns the answer as a dict."""

    def __init__(self, base_url: str, model_name: str, *, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, retry: RetryPolicy | None = None, cache: ResponseCache | None = None,
                 ledger: Ledger | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise PolyeditError(f"--base-url must be an http(s) URL, got {base_url!r}")
        base = base_url.rstrip("/")
        # a bare server address gets /v1; a path is the provider's own (Gemini's /v1beta/openai)
        self.base_url = base if urllib.parse.urlsplit(base).path else base + "/v1"
        self.model_name, self.api_key_env, self.timeout = model_name, api_key_env, timeout
        self.retry = retry or RetryPolicy()
        self.cache, self.ledger = cache, ledger if ledger is not None else Ledger()
        self.requests_sent = 0  # HTTP attempts, retries included
        self._count_lock = threading.Lock()
        self.__client = None  # holds the key: private, built on first use, never in repr

    def __repr__(self) -> str:
        return f"Endpoint(url={self.base_url!r}, model={self.model_name!r}, key_env={self.api_key_env!r})"

    def url(self, route: str) -> str:
        return self.base_url + ROUTES[route]

    def _client(self):
        if self.__client is None:
            import openai

            self.__client = openai.OpenAI(base_url=self.base_url, api_key=os.environ.get(self.api_key_env) or NO_KEY,
                                          max_retries=0, timeout=self.timeout)
        return self.__client

    def post(self, route: str, body: dict, purpose: str) -> dict:
        body = {"model": self.model_name, **body}
        url = self.url(route)
        key = ResponseCache.key(url, body) if self.cache is not None else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.add(purpose, hit, cached=True)
                return hit
        response, sent = self._send(route, body)
        self.ledger.add(purpose, response, sent=sent)
        if key is not None:
            self.cache.put(key, url, body, response)
        return response

    def manage(self, route: str, body: dict) -> str:
        """POST `body` to one of the server's management routes (vLLM's `load_lora_adapter`,
        `unload_lora_adapter`, under the base URL) and return its text answer. Never cached nor retried: a
        load sent twice is refused the second time."""
        import openai

        try:
            return self._client().post(f"/{route}", body=body, cast_to=str)
        except openai.APIStatusError as e:
            raise EndpointError(f"{self.base_url}/{route}: HTTP {e.status_code}: {_message(e)}", e.status_code) from None
        except openai.APIConnectionError as e:
            raise PolyeditError(f"{self.base_url}/{route}: connection failed ({_first_line(e.__cause__ or e)})") from None

    def _send(self, route: str, body: dict) -> tuple[dict, int]:
        """(the answer, HTTP attempts it took)."""
        import openai

        create = (self._client().completions.create if route == "completions"
                  else self._client().chat.completions.create)
        last = ""
        for attempt in range(self.retry.max_retries + 1):
            retry_after = None
            with self._count_lock:
                self.requests_sent += 1
            try:
                return create(**body).model_dump(), attempt + 1
            except openai.APIStatusError as e:
                if e.status_code < 500 and e.status_code != 429:
                    raise EndpointError(f"{self.url(route)}: HTTP {e.status_code}: {_message(e)}{_hint(route, e)}",
                                        e.status_code, _too_long(e)) from None
                last, retry_after = f"HTTP {e.status_code} {_message(e)}", retry_after_seconds(e.response.headers)
            except openai.APITimeoutError:
                last = f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError as e:
                last = f"connection failed ({_first_line(e.__cause__ or e)})"
            except (ValueError, openai.APIResponseValidationError):  # json.JSONDecodeError is a ValueError
                last = "the answer is not valid JSON"
            if attempt < self.retry.max_retries:
                wait = self.retry.delay(attempt, retry_after)
                log.warning("%s: %s; retry %d/%d in %.2fs", self.url(route), last, attempt + 1,
                            self.retry.max_retries, wait)
                time.sleep(wait)
        raise PolyeditError(f"{self.url(route)}: gave up after {self.retry.max_retries + 1} attempts ({last})")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _message(e) -> str:
    body = getattr(e, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else body
    msg = err.get("message") if isinstance(err, dict) else err
    return str(msg)[:300] if msg else "(no error message)"


def _too_long(e) -> bool:
    """OpenAI and polyedit serve say `context_length_exceeded` (as code or type); vLLM says it in words."""
    body = getattr(e, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else {}
    marks = {str(err.get(k)) for k in ("code", "type")} if isinstance(err, dict) else set()
    return e.status_code == 400 and ("context_length_exceeded" in marks or "context length" in _message(e).lower())


def _hint(route: str, e) -> str:
    """A chat-only model asked on /v1/completions (OpenAI's 404 says so) is pointed at the chat backend."""
    if route == "completions" and e.status_code == 404 and "chat" in _message(e).lower():
        return " (a chat model: use its chat route, --backend openai-chat or --judge-api chat)"
    return ""


class EndpointClient:
    """What the completions and chat backends share about their `Endpoint`: its count of requests sent and
    its token ledger (what a run's summary reports)."""

    endpoint: Endpoint

    @property
    def requests_sent(self) -> int:
        return self.endpoint.requests_sent

    @property
    def ledger(self) -> Ledger:
        return self.endpoint.ledger
