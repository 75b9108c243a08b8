"""`polyedit serve`: a local model, optionally edited, behind OpenAI's completions API, on FastAPI + uvicorn.

Routes: `POST /v1/completions` (`prompt` a string, a list of token ids, or a list of up to 64 of either,
`max_tokens`, `stop`, `echo`,
`logprobs` 0..5), `POST /v1/chat/completions` (`messages`; the tokenizer's chat template when it has one,
otherwise the plain fallback of `chat_prompt`), `GET /v1/models`, and vLLM's `POST /v1/load_lora_adapter`
and `POST /v1/unload_lora_adapter` (LoRA adapters at run time, each then asked for by name as `model`:
`adapters.py`). Decoding: greedy at `temperature` 0;
above 0, or left out (OpenAI's default, 1), sampling at that temperature with `top_p`, seeded by `seed`
(or by a seed the server draws): each prompt has its own generator, so the same request with the same
seed gets the same text however it is batched. Every response states how it was decoded in its
`decoding` object (`method`, `temperature`, and for sampling `top_p`, `seed`, `seed_from`); `n` > 1,
`stream` and penalties are refused with 400. `finish_reason` is "stop" when
the model ended (EOS) or a stop string was hit, "length" when `max_tokens` or the model's context ran out.

Every bad request gets a 4xx with an OpenAI-shaped JSON error naming what is wrong (`schema.py`); a failure
of the model itself gets a 500 whose text says only that (the details go to the log). Limits: the body
(`max_body` bytes, 413), the prompt (the model's context, 400), `max_tokens` (the context, 400; generation
also stops where the context ends), a request line and headers complete within `read_timeout` seconds
(else the connection is closed) and a body within it too (408), idle keep-alive connections closed after
`keep_alive` seconds, a listen backlog of `backlog`. Requests are batched on the model by one worker
thread (`batching.py`). The server binds 127.0.0.1 unless told otherwise; with an API key, every route
wants `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import threading
import time
import uuid

import anyio
import h11
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from polyedit.models.load import LoadedModel
from polyedit.models.context import context_limit
from polyedit.serve.adapters import RuntimeAdapters
from polyedit.serve.batching import ModelWorker, Row
from polyedit.serve.schema import (BadRequest, ChatCompletionRequest, CompletionRequest, LoadLoRAAdapterRequest,
                                   UnloadLoRAAdapterRequest, parse_json_object, validate)

log = logging.getLogger("polyedit.serve")
MAX_BODY = 8 * 1024 * 1024
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
PLAIN_CHAT_STOP = "\nUser:"
INLINE_TOKENIZE_CHARS = 2000

__all__ = ["CompletionModel", "PolyeditServer", "create_app", "make_server", "serve_in_thread"]


class CompletionModel:
    """The served model: its name, its limits, and (while a server runs) the worker that owns it."""

    def __init__(self, lm: LoadedModel, model_name: str, batch_size: int = 32, *, max_tokens: int | None = None,
                 batch_window: float = 0.004) -> None:
        self.lm, self.model_name = lm, model_name
        self.batch_size, self.batch_window = max(1, batch_size), batch_window
        self.context = context_limit(lm)
        self.max_tokens = max_tokens or self.context or 4096
        self.worker: ModelWorker | None = None
        self.adapters = RuntimeAdapters(lm, model_name)  # LoRA adapters loaded at run time, asked for by name
        # No token spells more characters than the vocabulary's longest entry, so a prompt over twice
        # context x that many characters cannot fit (the factor allows for normalisers that compose
        # characters): it is refused before it is tokenised, which for a 200 KB prompt takes seconds.
        longest = max((len(t) for t in self.tok.get_vocab()), default=0)
        self.max_prompt_chars = 2 * self.context * max(longest, 1) if self.context else None

    @property
    def tok(self):
        return self.lm.tokenizer

    def start(self) -> ModelWorker:
        if self.worker is None:
            self.worker = ModelWorker(self.lm, self.batch_size, self.batch_window,
                                      max_rows=max(4 * self.batch_size, 64), adapters=self.adapters)
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    # -- turning a request into rows (a long prompt on a thread of the pool, not on the event loop) -----------

    def _row(self, prompt: str | list[int], max_tokens: int, stop: tuple[str, ...], *, special: bool = True,
             logprobs: int | None = None, echo: bool = False, param: str = "prompt", sampling=None) -> Row:
        if not isinstance(prompt, str):
            return self._token_row(prompt, max_tokens, stop, logprobs, echo, sampling)
        if self.max_prompt_chars is not None and len(prompt) > self.max_prompt_chars:
            raise BadRequest(400, f"the prompt is {len(prompt)} characters, more than fit in this model's context "
                             f"of {self.context} tokens", param, "context_length_exceeded")
        worker = self.start()
        fast = getattr(self.tok, "is_fast", False)
        enc = worker.encode(prompt, special=special, offsets=fast and logprobs is not None)
        ids = list(enc["input_ids"])
        if not ids:
            raise BadRequest(400, "the prompt has no tokens", param)
        self._check_length(ids, max_tokens, param)
        room = max_tokens if self.context is None else min(max_tokens, self.context - len(ids))
        offsets = None
        if logprobs is not None:
            if "offset_mapping" in enc:
                offsets = [s for s, _ in enc["offset_mapping"]]
            else:
                offsets = [len(self.tok.decode(ids[:i], skip_special_tokens=True)) for i in range(len(ids))]
        return Row(prompt, ids, room, stop, offsets, logprobs, echo, sampling)

    def _check_length(self, ids: list[int], max_tokens: int, param: str) -> None:
        if self.context is not None and len(ids) > self.context:
            raise BadRequest(400, f"the prompt is {len(ids)} tokens; this model's context is {self.context} "
                             "tokens", param, "context_length_exceeded")
        if self.context is not None and max_tokens > 0 and len(ids) >= self.context:
            raise BadRequest(400, f"the prompt is {len(ids)} tokens and fills this model's context of "
                             f"{self.context}: no room for max_tokens {max_tokens}", param, "context_length_exceeded")

    def _token_row(self, ids: list[int], max_tokens: int, stop: tuple[str, ...], logprobs: int | None, echo: bool,
                   sampling) -> Row:
        """A prompt given as token ids: read exactly as sent (no special tokens added); its text, for echo and
        text offsets, is the decoded ids."""
        vocab = len(self.tok)
        if max(ids) >= vocab:
            raise BadRequest(400, f"prompt: token id {max(ids)} is outside this model's vocabulary of {vocab}",
                             "prompt")
        self._check_length(ids, max_tokens, "prompt")
        room = max_tokens if self.context is None else min(max_tokens, self.context - len(ids))
        text = self.tok.decode(ids, skip_special_tokens=True)
        offsets = None
        if logprobs is not None:
            offsets = [len(self.tok.decode(ids[:i], skip_special_tokens=True)) for i in range(len(ids))]
        return Row(text, list(ids), room, stop, offsets, logprobs, echo, sampling)

    def completion_rows(self, req: CompletionRequest, max_tokens: int, sampling=None) -> list[Row]:
        """One row per prompt; each sampling row gets its own generator from the same seed, so a prompt's
        text does not depend on the other prompts of the list."""
        return [self._row(p, max_tokens, req.stop_strings(), logprobs=req.logprobs, echo=bool(req.echo),
                          param="prompt", sampling=sampling) for p in req.prompts()]

    def chat_row(self, req: ChatCompletionRequest, max_tokens: int, sampling=None) -> Row:
        text, special, stop = chat_prompt(self.tok, req)
        return self._row(text, max_tokens, stop, special=special, param="messages", sampling=sampling)


def chat_prompt(tok, req: ChatCompletionRequest) -> tuple[str, bool, tuple[str, ...]]:
    """The conversation as one prompt: (text, whether the tokenizer adds its special tokens, stop strings).

    With a chat template (the tokenizer's `chat_template`), the template renders the messages and the
    assistant's opening (`add_generation_prompt`); it writes its own BOS, so none is added. Without one,
    the plain fallback: one line per message, `System: ...`, `User: ...`, `Assistant: ...`, then
    `Assistant:`, decoded until `\\nUser:` (added to the request's stop strings), so the model answers
    one turn and does not write the user's next."""
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    stop = req.stop_strings()
    if getattr(tok, "chat_template", None):
        try:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as e:  # the template's own raise_exception (e.g. roles must alternate)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise BadRequest(400, f"the model's chat template refused these messages: {first}", "messages") from None
        return text, False, stop
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines + ["Assistant:"]), True, stop + ((PLAIN_CHAT_STOP,) if PLAIN_CHAT_STOP not in stop else ())


# -- the application ---------------------------------------------------------------------------------------

def _error(e: BadRequest) -> JSONResponse:
    headers = {"Connection": "close"} if e.status in (408, 413) else None
    return JSONResponse(e.payload(), status_code=e.status, headers=headers)


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"the body is {declared} bytes; this server takes at most {limit}")

    async def read() -> bytes:
        chunks, n = [], 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > limit:
                raise BadRequest(413, f"the body is over {limit} bytes, this server's limit")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:
        raise BadRequest(400, "the client went away before the body arrived") from None


def authorisation_matches(header: str, api_key: str) -> bool:
    """Whether an `Authorization` header (as the server decodes it, latin-1) is `Bearer KEY`: the scheme in any
    case (RFC 9110 §11.1: schemes are case-insensitive), the key exactly, compared in constant time."""
    scheme, _, token = header.partition(" ")
    return hmac.compare_digest(scheme.lower().encode("latin-1") + b" " + token.encode("latin-1"),
                               f"bearer {api_key}".encode("utf-8"))


def create_app(model: CompletionModel, api_key: str | None = None, *, max_body: int = MAX_BODY,
               read_timeout: float = 30.0) -> FastAPI:
    """The ASGI application. Its lifespan starts the model worker and stops it."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        model.start()
        try:
            yield
        finally:
            model.stop()

    async def authorise(request: Request) -> None:
        if api_key is None:
            return
        if not authorisation_matches(request.headers.get("authorization", ""), api_key):
            raise BadRequest(401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
                             kind="authentication_error")

    app = FastAPI(title="polyedit serve", lifespan=lifespan, dependencies=[Depends(authorise)],
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(BadRequest)
    async def bad_request(request, e: BadRequest):
        return _error(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, e: StarletteHTTPException):
        message = {404: f"no route {request.url.path} (this server has /v1/completions, /v1/chat/completions, "
                        "/v1/models, /v1/load_lora_adapter, /v1/unload_lora_adapter)",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(e.status_code, str(e.detail))
        return JSONResponse(BadRequest(e.status_code, message).payload(), status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request, e: Exception):  # a bug: JSON, and nothing of the exception, to the client
        log.error("unexpected error on %s", request.url.path, exc_info=e)
        return _error(BadRequest(500, "internal server error (the server log has the details)", kind="server_error"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        return _error(BadRequest(400, "the request is not valid"))

    async def parse(request: Request, schema):
        body = parse_json_object(await _read_body(request, max_body, read_timeout))
        req = validate(schema, body)
        refused = req.unsupported()
        if refused is not None:
            raise refused
        if req.model is not None and req.model != model.model_name and req.model not in model.adapters:
            raise BadRequest(404, f"model {req.model!r} does not exist (this server has {model.model_name!r}"
                             f"{' and adapters ' + ', '.join(map(repr, model.adapters.paths)) if model.adapters.paths else ''})",
                             "model", "model_not_found")
        return req

    def adapter_of(req, rows: list[Row]) -> str:
        """Mark the rows with the adapter the request named; the name the response reports."""
        name = req.model if req.model is not None and req.model in model.adapters else None
        for row in rows:
            row.adapter = name
        return name or model.model_name

    def limit(value: int | None, default: int, param: str) -> int:
        value = default if value is None else value
        if value > model.max_tokens:
            raise BadRequest(400, f"'{param}' is {value}; this server allows at most {model.max_tokens}", param)
        return value

    async def run(rows: list[Row]):
        worker = model.start()
        try:
            return await asyncio.wrap_future(worker.submit(rows))
        except Exception:
            log.exception("the model failed on a request")
            raise BadRequest(500, "the model failed on this request (the server log has the details)",
                             kind="server_error") from None

    async def tokenized(build, req, max_tokens: int, chars: int, sampling):
        # a short prompt is tokenised at once (a thread hop costs more); a long one on a worker thread
        if chars <= INLINE_TOKENIZE_CHARS:
            return build(req, max_tokens, sampling)
        return await anyio.to_thread.run_sync(build, req, max_tokens, sampling)

    def usage(rows: list[Row], results) -> dict:
        prompt = sum(len(r.ids) for r in rows)
        completion = sum(len(r.token_ids) for r in results)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    @app.post("/v1/completions")
    @app.post("/completions", include_in_schema=False)
    async def completions(request: Request):
        req = await parse(request, CompletionRequest)
        max_tokens = limit(req.max_tokens, DEFAULT_MAX_TOKENS, "max_tokens")
        sampling, decoding = req.plan()
        rows = await tokenized(model.completion_rows, req, max_tokens, req.prompt_size(), sampling)
        served = adapter_of(req, rows)
        results = await run(rows)
        choices = [{"index": i, "text": (row.prompt if row.echo else "") + res.text,
                    "finish_reason": res.finish_reason, "logprobs": res.logprobs}
                   for i, (row, res) in enumerate(zip(rows, results))]
        return JSONResponse({"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion",
                             "created": int(time.time()), "model": served, "choices": choices,
                             "usage": usage(rows, results), "decoding": decoding})

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions", include_in_schema=False)
    async def chat_completions(request: Request):
        req = await parse(request, ChatCompletionRequest)
        param = "max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens"
        max_tokens = limit(req.limit(), model.max_tokens, param)
        sampling, decoding = req.plan()
        row = await tokenized(model.chat_row, req, max_tokens, sum(len(m.text()) for m in req.messages), sampling)
        served = adapter_of(req, [row])
        (res,) = await run([row])
        choice = {"index": 0, "message": {"role": "assistant", "content": res.text},
                  "finish_reason": res.finish_reason, "logprobs": None}
        return JSONResponse({"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
                             "created": int(time.time()), "model": served, "choices": [choice],
                             "usage": usage([row], [res]), "decoding": decoding})

    @app.get("/v1/models")
    @app.get("/models", include_in_schema=False)
    async def models():
        return {"object": "list", "data": [_model_card(model)] + [_adapter_card(model, n) for n in model.adapters.paths]}

    @app.get("/v1/models/{name:path}")
    async def model_card(name: str):
        if name in model.adapters:
            return _adapter_card(model, name)
        if name != model.model_name:
            raise BadRequest(404, f"model {name!r} does not exist (this server has {model.model_name!r})",
                             "model", "model_not_found")
        return _model_card(model)

    # vLLM's routes for adapters at run time: 200 with a line of text; a bad request 400, an unknown name or
    # folder 404, each with an OpenAI-shaped JSON error
    @app.post("/v1/load_lora_adapter")
    async def load_lora_adapter(request: Request):
        req = validate(LoadLoRAAdapterRequest, parse_json_object(await _read_body(request, max_body, read_timeout)))
        await anyio.to_thread.run_sync(model.adapters.load, req.lora_name, req.lora_path)
        log.info("loaded LoRA adapter %r from %s", req.lora_name, req.lora_path)
        return PlainTextResponse(f"Success: LoRA adapter '{req.lora_name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload_lora_adapter(request: Request):
        req = validate(UnloadLoRAAdapterRequest, parse_json_object(await _read_body(request, max_body, read_timeout)))
        await anyio.to_thread.run_sync(model.adapters.unload, req.lora_name)
        return PlainTextResponse(f"Success: LoRA adapter '{req.lora_name}' removed successfully.")

    return app


def _adapter_card(model: CompletionModel, name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "polyedit", "root": model.adapters.paths[name],
            "parent": model.model_name}


def _model_card(model: CompletionModel) -> dict:
    return {"id": model.model_name, "object": "model", "created": 0, "owned_by": "polyedit",
            "context_length": model.context, "max_tokens": model.max_tokens}


# -- the HTTP connection: uvicorn's h11 protocol with a read deadline and JSON for malformed requests -------

class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with two changes. A request line and headers that have not arrived
    `read_timeout` seconds after the connection opened (or after the last response) close the connection:
    uvicorn times out only idle keep-alive connections, so a client sending half a request held its
    connection forever. A request h11 cannot parse (`Content-Length: abc`, `-1`, headers over the limit)
    gets uvicorn's 400 with a JSON body instead of plain text."""

    read_timeout = 30.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._read_timer = None
        self._arm_read_timer()

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        # IDLE: no complete request head yet. Once it is in, the body's deadline is the app's (408).
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            log.info("closing a connection whose request did not arrive within %gs", self.read_timeout)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_read_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        import json

        body = json.dumps(BadRequest(400, "the request is not valid HTTP (request line, headers or "
                                          "Content-Length)").payload()).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode())]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        from polyedit.errors import PolyeditError

        raise PolyeditError(f"--host {host!r}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        from polyedit.errors import PolyeditError

        raise PolyeditError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class PolyeditServer:
    """A server bound at construction (port 0: any free port, see `server_address`). `serve_forever()`
    runs it until `shutdown()` (from another thread) or Ctrl-C; `server_close()` releases the socket."""

    def __init__(self, model: CompletionModel, host: str = "127.0.0.1", port: int = 8000,
                 api_key: str | None = None, *, backlog: int = 2048, keep_alive: float = 5.0,
                 read_timeout: float = 30.0, max_body: int = MAX_BODY) -> None:
        self.model = model
        self.socket = _bind(host, port, backlog)
        self.server_address = self.socket.getsockname()[:2]
        protocol = type("Protocol", (GuardedH11Protocol,), {"read_timeout": read_timeout})
        app = create_app(model, api_key, max_body=max_body, read_timeout=read_timeout)
        config = uvicorn.Config(app, http=protocol, ws="none", lifespan="on", loop="asyncio", backlog=backlog,
                                timeout_keep_alive=keep_alive, timeout_graceful_shutdown=5,
                                log_level="warning", access_log=False, server_header=False)
        self._uvicorn = uvicorn.Server(config)
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def serve_forever(self) -> None:
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    @property
    def started(self) -> bool:
        return self._uvicorn.started

    def shutdown(self, timeout: float = 15.0) -> None:
        self._uvicorn.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_server(model: CompletionModel, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                **options) -> PolyeditServer:
    """A ready server; call `serve_forever()`. `options`: backlog, keep_alive, read_timeout, max_body."""
    return PolyeditServer(model, host, port, api_key, **options)


def serve_in_thread(model: CompletionModel, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                    **options) -> tuple[PolyeditServer, threading.Thread]:
    """Start a server on a thread and return once it accepts requests (tests, notebooks)."""
    server = make_server(model, host, port, api_key, **options)
    thread = threading.Thread(target=server.serve_forever, name="polyedit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.shutdown()
        server.server_close()
        raise RuntimeError("the server did not start")
    return server, thread
