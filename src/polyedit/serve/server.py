"""`polyedit serve`: a local model, optionally edited, behind the OpenAI-compatible `/v1/completions` API.

Supported: `prompt` (a string or a list), `max_tokens`, `temperature` 0 (greedy; anything else is refused),
`stop`, `echo`, `logprobs` (top-k alternatives per token, k <= 5), `n` = 1. `GET /v1/models` lists the one
model. Token strings are each token decoded alone (a token that is part of a multi-byte character is shown
as `bytes:...`, as OpenAI does) and `text_offset` is where the token starts in the text. Requests are
served one model call at a time (a lock), from a thread per connection; the server binds 127.0.0.1 unless
told otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from polyedit.models.backend import HFBackend
from polyedit.models.load import LoadedModel

log = logging.getLogger("polyedit.serve")
MAX_TOP_LOGPROBS = 5
MAX_BODY = 16 * 1024 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CompletionModel:
    """The model side of the server: greedy completions with echo and logprobs, under one lock."""

    def __init__(self, lm: LoadedModel, model_name: str, batch_size: int = 16) -> None:
        self.lm, self.model_name = lm, model_name
        self.backend = HFBackend(lm, batch_size)
        self.lock = threading.Lock()

    @property
    def tok(self):
        return self.lm.tokenizer

    def complete(self, body: dict) -> dict:
        prompts = body.get("prompt")
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise BadRequest(400, "'prompt' must be a string or a non-empty list of strings")
        model = body.get("model")
        if model is not None and model != self.model_name:
            raise BadRequest(404, f"model {model!r} does not exist (this server has {self.model_name!r})")
        max_tokens = body.get("max_tokens", 16)
        if not isinstance(max_tokens, int) or max_tokens < 0:
            raise BadRequest(400, "'max_tokens' must be a non-negative integer")
        if float(body.get("temperature", 1.0) or 0.0) != 0.0:
            raise BadRequest(400, "only greedy decoding is served: set 'temperature' to 0")
        if int(body.get("n", 1)) != 1:
            raise BadRequest(400, "'n' must be 1")
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        echo = bool(body.get("echo", False))
        k = body.get("logprobs")
        if k is not None and (not isinstance(k, int) or not 0 <= k <= MAX_TOP_LOGPROBS):
            raise BadRequest(400, f"'logprobs' must be an integer 0..{MAX_TOP_LOGPROBS}")
        with self.lock:
            if max_tokens > 0:
                gens = self.backend.generate(prompts, max_tokens, tuple(stop))
            else:
                gens = [None] * len(prompts)
            choices = []
            for i, (prompt, g) in enumerate(zip(prompts, gens)):
                text = g.text if g is not None else ""
                choice = {"index": i, "text": (prompt if echo else "") + text, "finish_reason": "length",
                          "logprobs": None}
                if k is not None:
                    choice["logprobs"] = self._logprobs(prompt, g.token_ids if g is not None else [], echo, k)
                choices.append(choice)
        return {"id": f"cmpl-{uuid.uuid4().hex[:16]}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices}

    def _token_text(self, tid: int) -> str:
        """A token as the API shows it: its text, or, for part of a multi-byte character (which decodes to
        U+FFFD alone), `bytes:` and the tokenizer's own spelling, so distinct tokens stay distinct."""
        if tid in self.tok.all_special_ids:
            return ""
        text = self.tok.decode([tid])
        return f"bytes:{self.tok.convert_ids_to_tokens(tid)}" if "\ufffd" in text else text

    @torch.no_grad()
    def _logprobs(self, prompt: str, new_ids: list[int], echo: bool, k: int) -> dict:
        tok, model = self.tok, self.lm.model
        enc = tok(prompt, return_offsets_mapping=True) if getattr(tok, "is_fast", False) else tok(prompt)
        prompt_ids = enc["input_ids"]
        # where each prompt token starts in the prompt text (the tokenizer's own offsets when it has them)
        if "offset_mapping" in enc:
            starts = [s for s, _ in enc["offset_mapping"]]
        else:
            starts = [len(tok.decode(prompt_ids[:i], skip_special_tokens=True)) for i in range(len(prompt_ids))]
        new_starts = [len(tok.decode(new_ids[:j], skip_special_tokens=True)) for j in range(len(new_ids))]
        ids = prompt_ids + list(new_ids)
        if echo:
            positions, offsets = range(len(ids)), starts + [len(prompt) + s for s in new_starts]
        else:
            positions, offsets = range(len(prompt_ids), len(ids)), new_starts
        if not ids or not positions:
            return {"tokens": [], "token_logprobs": [], "top_logprobs": [] if k > 0 else None, "text_offset": []}
        logits = model(input_ids=torch.tensor([ids], device=self.lm.device)).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        tokens, token_lps, tops = [], [], []
        for i in positions:
            tokens.append(self._token_text(ids[i]))
            if i == 0:
                token_lps.append(None)
                tops.append(None)
                continue
            row = logp[i - 1]
            token_lps.append(float(row[ids[i]]))
            if k > 0:
                vals, idx = row.topk(k)
                tops.append({self._token_text(int(j)): float(v) for v, j in zip(vals, idx)})
            else:
                tops.append(None)
        return {"tokens": tokens, "token_logprobs": token_lps, "top_logprobs": tops if k > 0 else None,
                "text_offset": list(offsets)}


def make_handler(model: CompletionModel, api_key: str | None = None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # requests go to the logger, never headers
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def _authorised(self) -> bool:
            if api_key is None:
                return True
            if self.headers.get("Authorization", "") == f"Bearer {api_key}":
                return True
            self._error(401, "missing or wrong API key")
            return False

        def do_GET(self):
            if not self._authorised():
                return
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": model.model_name, "object": "model",
                                                             "owned_by": "polyedit"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._error(413, "request body too large")
                return
            raw = self.rfile.read(length)
            if not self._authorised():
                return
            if self.path.rstrip("/") not in ("/v1/completions", "/completions"):
                self._error(404, f"no route {self.path} (this server has /v1/completions)")
                return
            try:
                body = json.loads(raw.decode("utf-8"))
                if not isinstance(body, dict):
                    raise BadRequest(400, "the body must be a JSON object")
                self._send(200, model.complete(body))
            except json.JSONDecodeError:
                self._error(400, "the body is not valid JSON")
            except BadRequest as e:
                self._error(e.status, str(e))
            except Exception as e:  # the model failed: a server error the client may retry
                log.exception("completion failed")
                self._error(500, f"{type(e).__name__}: {e}")

    return Handler


def make_server(model: CompletionModel, host: str = "127.0.0.1", port: int = 8000,
                api_key: str | None = None) -> ThreadingHTTPServer:
    """A ready server (port 0: any free port; see `server.server_address`). Call `serve_forever()`."""
    server = ThreadingHTTPServer((host, port), make_handler(model, api_key))
    server.daemon_threads = True
    return server


def serve_in_thread(model: CompletionModel, host: str = "127.0.0.1", port: int = 0,
                    api_key: str | None = None) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = make_server(model, host, port, api_key)
    thread = threading.Thread(target=server.serve_forever, name="polyedit-serve", daemon=True)
    thread.start()
    return server, thread
