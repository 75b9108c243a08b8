"""The remote backends (the official `openai` SDK under polyedit's retry policy) against a fault-injecting
server on loopback: 429 with Retry-After, 500, a dropped connection, malformed JSON, an answer slower than
the timeout, and a chat-only stand-in that answers 404 on /v1/completions."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from polyedit.errors import PolyeditError
from polyedit.evaluation.judge import make_judge
from polyedit.models.openai_backend import OpenAIBackend
from polyedit.models.openai_backend_chat import ChatBackend
from polyedit.models.openai_backend_http import retry_after_seconds

from helpers.fast import FAST_RETRY

FAST = replace(FAST_RETRY, max_delay=0.02)
CHAT_404 = "This is a chat model and not supported in the v1/completions endpoint. Did you mean v1/chat/completions?"


class _Faulty(BaseHTTPRequestHandler):
    """Plays `script` (one fault per request), then answers. Faults: 429 (with `Retry-After: 1`, and refuses
    any request that comes back before the second is up), 500, drop (closes without answering), badjson,
    slow (answers after 1.5 s). Chat-only mode answers 404 on /v1/completions as OpenAI does."""

    script: list[str] = []
    times: list[float] = []
    not_before = 0.0
    chat_only = False
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            now = time.monotonic()
            cls.times.append(now)
            early = now < cls.not_before
            fault = None if early else (cls.script.pop(0) if cls.script else None)
            if fault == "429":
                cls.not_before = now + 1.0
        if early or fault == "429":  # a rate limit: asking again within the second is refused again
            return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
        if fault == "500":
            return self._send(500, {"error": {"message": "boom"}})
        if fault == "drop":
            self.close_connection = True
            return self.connection.close()
        if fault == "badjson":
            return self._send(200, None, raw=b'{"choices": [{"text": ')
        if fault == "slow":
            time.sleep(1.5)
        if self.path.endswith("/chat/completions"):
            reply = 'Answer: "Lima"\nIt is the capital of Peru.' if "Verdict" not in str(body) else "YES"
            return self._send(200, {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": reply}}],
                                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
        if cls.chat_only:
            return self._send(404, {"error": {"message": CHAT_404, "type": "invalid_request_error"}})
        n = len(body["prompt"]) if isinstance(body["prompt"], list) else 1
        self._send(200, {"id": "x", "object": "text_completion", "created": 0, "model": body["model"],
                         "choices": [{"index": i, "text": ' Lima" tail', "finish_reason": "stop", "logprobs": None}
                                     for i in range(n)],
                         "usage": {"prompt_tokens": 5 * n, "completion_tokens": 2 * n, "total_tokens": 7 * n}})


@pytest.fixture()
def faulty():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Faulty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Faulty.script, _Faulty.times, _Faulty.not_before, _Faulty.chat_only = [], [], 0.0, False
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_retry_after_is_honoured(faulty):
    """The server refuses anything within a second of its 429: a client that ignores Retry-After (the
    fast backoff here waits 0.01-0.02 s) spends its retries inside that second and gives up."""
    backend = OpenAIBackend(faulty, "m", logprobs=False, retry=FAST)
    _Faulty.script = ["429"]
    assert backend.generate(["Q"], 5, ('"',))[0].text == " Lima"
    assert len(_Faulty.times) == 2 and _Faulty.times[1] - _Faulty.times[0] >= 0.95


@pytest.mark.parametrize("fault", ["500", "drop", "badjson", "slow"])
def test_faults_are_retried_then_answered(faulty, fault):
    for backend in (OpenAIBackend(faulty, "m", logprobs=False, retry=FAST, timeout=0.5),
                    ChatBackend(faulty, "m", retry=FAST, timeout=0.5)):
        _Faulty.script, _Faulty.times = [fault], []
        assert backend.generate(["Q: where? A: \""], 5, ('"',))[0].text.strip() == "Lima"
        assert backend.requests_sent == 2 and len(_Faulty.times) == 2


def test_bounded_retries_end_in_one_line(faulty):
    backend = ChatBackend(faulty, "m", retry=FAST, timeout=0.5)
    _Faulty.script = ["500", "drop", "badjson", "500", "500"]
    with pytest.raises(PolyeditError, match=r"gave up after 4 attempts \(HTTP 500") as info:
        backend.generate(["Q"], 5)
    assert "\n" not in str(info.value) and backend.requests_sent == 4


@pytest.mark.parametrize("value,seconds", [("2", 2.0), ("0.5", 0.5), ("soon", None), (None, None)])
def test_retry_after_header_parsing(value, seconds):
    assert retry_after_seconds({"retry-after": value} if value else {}) == seconds
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert 9 < retry_after_seconds({"retry-after": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                                 time.gmtime(time.time() + 10))}) <= 10


def test_chat_only_endpoint_names_the_chat_backend_and_the_chat_judge_works(faulty, tmp_path):
    _Faulty.chat_only = True
    with pytest.raises(PolyeditError, match="HTTP 404.*chat route, --backend openai-chat") as info:
        OpenAIBackend(faulty, "gpt-chat", retry=FAST)
    assert "\n" not in str(info.value) and len(_Faulty.times) == 1  # a permanent error: never retried
    judge = make_judge(faulty, "gpt-chat", tmp_path / "v.jsonl", api="chat")
    assert judge.verdicts(["...\nVerdict:"]) == [(1.0, "YES")]
    # the completions judge on the same endpoint: a permanent 404 on its first request stops the run
    with pytest.raises(PolyeditError, match="judge cannot be used.*404.*openai-chat"):
        make_judge(faulty, "gpt-chat", None, api="completions").verdicts(["...\nVerdict:"])


def test_cache_answers_repeated_requests_and_the_ledger_counts(faulty, tmp_path):
    from polyedit.models.openai_backend_http import Ledger, ResponseCache

    cache, ledger = ResponseCache(tmp_path / "api"), Ledger()
    first = ChatBackend(faulty, "m", retry=FAST, cache=cache, ledger=ledger)
    a = first.generate(["Q1", "Q2"], 5)
    again = ChatBackend(faulty, "m", retry=FAST, cache=cache, ledger=ledger)
    b = again.generate(["Q1", "Q2"], 5)
    assert a == b and len(_Faulty.times) == 2 and again.requests_sent == 0
    assert ledger.to_dict() == {"chat:user_prompt": {"requests_sent": 2, "requests_cached": 2, "prompt_tokens": 28,
                                                     "completion_tokens": 12}}
    ChatBackend(faulty, "m", retry=FAST, cache=cache, seed=1).generate(["Q1"], 5)  # another body: sent
    assert len(_Faulty.times) == 3
