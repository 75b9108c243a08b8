"""The requests `polyedit serve` accepts, as typed (pydantic) models, and how a bad one is reported.

The body is parsed here, not by the framework, so that every way a body can be wrong gets a 4xx with one
line naming what is wrong: bytes that are not UTF-8, JSON that is not valid (NaN and Infinity included),
integers too long to parse, nesting too deep, a value of the wrong type or out of range, a field OpenAI's
API does not have (OpenAI refuses those too), or a parameter this server cannot honour (streaming,
n > 1, penalties, best_of > 1). Types are strict: `"max_tokens": "5"` and `"echo": 1` are refused, not coerced.

Decoding (`_Common.plan`): `temperature` 0 is greedy; above 0, or left out (OpenAI's default is 1), the
model samples at that temperature with `top_p` (default 1), seeded by `seed`, or, when the request
gives none, by a seed the server draws and reports, so any answer can be reproduced by sending it back.
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polyedit.models.generation import Sampling

MAX_TOP_LOGPROBS = 5
MAX_PROMPTS = 64  # prompts in one completions request (a list); each is a row of the batch
MAX_STOP = 4  # OpenAI allows four stop strings
MAX_STOP_CHARS = 200


class BadRequest(Exception):
    """A request the server refuses: an HTTP status, one line, and the offending field when there is one."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind

    def payload(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.status}}


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(raw: bytes) -> dict:
    """The body as a JSON object, or BadRequest(400) saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"the body is not UTF-8 (byte {e.start})") from None
    text = text.removeprefix("\ufeff")
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise BadRequest(400, f"the body is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise BadRequest(400, "the body is not valid JSON (nested too deep)") from None
    except ValueError as e:  # NaN/Infinity, or an integer over Python's 4,300-digit limit
        msg = str(e).splitlines()[0]
        if "digits" in msg:
            msg = "an integer has too many digits"
        raise BadRequest(400, f"the body is not valid JSON ({msg})") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def validate(model: type[BaseModel], body: dict):
    """`model` built from `body`, or BadRequest(400) naming the first wrong field."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # a union (a string or a list of strings) fails in each branch: the deepest error is the branch the
        # value was meant for ([""] is a list with an empty string, not a wrong string)
        deepest = max(len(x["loc"]) for x in errors)
        candidates = [x for x in errors if len(x["loc"]) == deepest]
        kind = "list" if isinstance(candidates[0].get("input"), list) else "str"
        err = next((x for x in candidates if any(_is_branch_tag(t) and kind in str(t) for t in x["loc"])),
                   candidates[0])
        where = ".".join(str(p) for p in err["loc"] if not _is_branch_tag(p)) or "body"
        top = str(err["loc"][0]) if err["loc"] else None
        if err["type"] == "extra_forbidden":
            raise BadRequest(400, f"unrecognized request argument: {where}", top) from None
        msg = err["msg"].removeprefix("Value error, ")
        shown = "" if err["type"] == "missing" else f" (got {_short(err.get('input'))})"
        raise BadRequest(400, f"{where}: {msg}{shown}", top) from None
    except RecursionError:
        raise BadRequest(400, "the body is nested too deep") from None


_BRANCH_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _is_branch_tag(part) -> bool:
    """A union member's name in an error's location (`constrained-str`, `list[...]`), not a field."""
    return isinstance(part, str) and (part in _BRANCH_TAGS or "[" in part or "-" in part)


def _no_lone_surrogates(text: str, what: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what} holds a lone surrogate at character {e.start}") from None
    return text


Stop = Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]


OPENAI_DEFAULT_TEMPERATURE = 1.0


class _Common(BaseModel):
    """Fields the two endpoints share. Decoding: greedy at `temperature` 0; otherwise sampling at the
    temperature (OpenAI's default, 1, when left out) with `top_p` and `seed` (see `plan`)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: Temperature | None = None
    top_p: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = None
    stop: Stop | Annotated[list[Stop], Field(max_length=MAX_STOP)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)] | None = None
    seed: int | None = Field(default=None, ge=-(2 ** 63), le=2 ** 64 - 1)  # torch.Generator's seed range
    user: Annotated[str, Field(max_length=256)] | None = None

    @field_validator("stop")
    @classmethod
    def _stop_text(cls, v):
        for s in [v] if isinstance(v, str) else (v or []):
            _no_lone_surrogates(s, "a stop string")
        return v

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def unsupported(self) -> BadRequest | None:
        """A parameter this server cannot honour, as the error to send."""
        if self.stream:
            return BadRequest(400, "'stream' is not supported: leave it out or set it to false", "stream")
        if (self.n or 1) != 1:
            return BadRequest(400, "'n' must be 1 (this server returns one choice per prompt)", "n")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name) not in (None, 0.0):
                return BadRequest(400, f"'{name}' is not supported: leave it out or set it to 0", name)
        return None

    def plan(self) -> tuple[Sampling | None, dict]:
        """(how to decode: None for greedy, the `decoding` object the response states). Greedy at
        temperature 0; otherwise sampling, seeded by `seed` or by one drawn here (and reported)."""
        temperature = OPENAI_DEFAULT_TEMPERATURE if self.temperature is None else self.temperature
        if temperature == 0.0:
            return None, {"method": "greedy", "temperature": 0.0}
        top_p = 1.0 if self.top_p is None else self.top_p
        seed = self.seed if self.seed is not None else secrets.randbits(63)
        stated = {"method": "sampling", "temperature": temperature, "top_p": top_p, "seed": seed,
                  "seed_from": "request" if self.seed is not None else "server",
                  "temperature_from": "request" if self.temperature is not None else "OpenAI's default"}
        return Sampling(temperature, top_p, seed), stated


PromptText = Annotated[str, Field(max_length=4_000_000)]
TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=1_000_000)]


class CompletionRequest(_Common):
    """`prompt`: a string, a list of strings, a list of token ids, or a list of such lists, as OpenAI's API
    allows (lm-eval's `local-completions` sends token ids by default)."""

    prompt: PromptText | TokenIds | Annotated[list[PromptText], Field(min_length=1, max_length=MAX_PROMPTS)] | \
        Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_PROMPTS)]
    echo: bool | None = False
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    best_of: int | None = Field(default=None, ge=1, le=1)
    suffix: None = None
    logit_bias: dict[str, float] | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_text(cls, v):
        for p in [v] if isinstance(v, str) else v:
            if isinstance(p, str):
                _no_lone_surrogates(p, "the prompt")
        return v

    @field_validator("logit_bias")
    @classmethod
    def _no_bias(cls, v):
        if v:
            raise ValueError("logit_bias is not supported")
        return v

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: its text, or its token ids."""
        one = isinstance(self.prompt, str) or (bool(self.prompt) and isinstance(self.prompt[0], int))
        return [self.prompt] if one else list(self.prompt)

    def prompt_size(self) -> int:
        """Characters (or token ids) in all prompts: whether tokenising them is worth a thread hop."""
        return sum(len(p) for p in self.prompts())


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | Annotated[list[TextPart], Field(min_length=1)]
    name: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("content")
    @classmethod
    def _content_text(cls, v):
        for t in [v] if isinstance(v, str) else [p.text for p in v]:
            _no_lone_surrogates(t, "a message")
        return v

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatCompletionRequest(_Common):
    messages: Annotated[list[Message], Field(min_length=1, max_length=256)]
    max_completion_tokens: int | None = Field(default=None, ge=0)
    logprobs: bool | None = None

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, v):
        if v:
            raise ValueError("logprobs are served by /v1/completions only")
        return v

    def limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


def finite(x: float) -> float | None:
    """A log-probability as JSON can hold it (-inf becomes null)."""
    return x if math.isfinite(x) else None


class LoadLoRAAdapterRequest(BaseModel):
    """vLLM's `POST /v1/load_lora_adapter` body: the name requests will send as `model`, and the adapter's folder."""

    model_config = ConfigDict(strict=True, extra="forbid")

    lora_name: str = Field(min_length=1, max_length=256)
    lora_path: str = Field(min_length=1, max_length=4096)


class UnloadLoRAAdapterRequest(BaseModel):
    """vLLM's `POST /v1/unload_lora_adapter` body."""

    model_config = ConfigDict(strict=True, extra="forbid")

    lora_name: str = Field(min_length=1, max_length=256)
