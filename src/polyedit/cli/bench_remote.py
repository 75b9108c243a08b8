"""`polyedit bench --backend openai|openai-chat`: the remote backend with its response cache and token ledger,
the settings a remote run refuses, and the `--max-api-tokens` estimate made before anything is sent."""

from __future__ import annotations

from pathlib import Path

from polyedit.errors import SpecError

#: what one request adds to its prompt in the estimate: the chat protocol's instruction and the message framing
REQUEST_OVERHEAD = 48
#: a judge prompt without the question and answers, in tokens (the estimate's figure, not a measurement)
JUDGE_PROMPT_TOKENS = 120

def endpoint_options(no_cache: bool, api_cache: str | None) -> dict:
    """The response cache and a fresh ledger, shared by the backend and the judge."""
    from polyedit.models.openai_backend_http import Ledger, ResponseCache, default_cache_dir

    cache = None if no_cache else ResponseCache(Path(api_cache) if api_cache else default_cache_dir())
    return {"cache": cache, "ledger": Ledger()}


def check_remote(spec, method) -> None:
    """One line for a remote run that cannot be what was asked for."""
    if spec.edits_as_adapters and spec.backend != "openai":
        raise SpecError("edits_as_adapters", "scores each edit's adapter through an endpoint's completions route: "
                                             "use it with {backend} openai and {base_url}", ("backend", "base_url"))
    if spec.backend == "hf":
        if spec.max_api_tokens is not None:
            raise SpecError("max_api_tokens", "counts the tokens sent to an endpoint: use it with {backend} openai "
                                              "or openai-chat", ("backend",))
        return
    if not spec.base_url:
        raise SpecError("backend", f"{spec.backend} needs {{base_url}}", ("base_url",))
    in_context = getattr(method, "edits_in_context", False)
    if spec.edits_as_adapters and in_context:
        raise SpecError("edits_as_adapters", f"method {spec.method!r} edits in context: there is no adapter to serve")
    if not spec.edits_as_adapters and not in_context:
        raise SpecError("method", f"{spec.method!r} edits weights; a remote endpoint runs in-context methods only "
                                  "(or add {edits_as_adapters}: the edits made here, each served as a LoRA adapter)",
                        ("edits_as_adapters",))
    if spec.backend == "openai" and spec.chat_template:
        raise SpecError("chat_template", "with {backend} openai: a completions endpoint reads the prompt as sent and "
                                         "no template can be applied here; use {backend} openai-chat (the server's "
                                         "template)", ("backend",))


def remote_backend(spec, dataset):
    """The model as described here (editing.yaml, tokenizer, context: no weights; its name where it is not
    known here) and the endpoint's backend, after the token budget is checked."""
    from polyedit.methods.base import get_method
    from polyedit.models.openai_backend_model import describe_model

    lm = describe_model(spec.model, spec.trust_remote_code) or spec.model
    described = lm if not isinstance(lm, str) else None
    if spec.max_api_tokens is not None:
        cases = dataset.cases[:spec.limit] if spec.limit else dataset.cases
        cases = [c.restrict(spec.langs) for c in cases] if spec.langs else cases
        check_budget(spec.max_api_tokens, estimate_tokens(described, get_method(spec.method, spec.hparams, described),
                                                          cases, scoring=spec.backend == "openai",
                                                          judged=bool(spec.judge_url), new_tokens=16))
    return lm, endpoint_backend(spec)


def endpoint_backend(spec):
    """The backend of the spec's endpoint."""
    return make_backend(spec.backend, spec.base_url, spec.model_name or spec.model, api_key_env=spec.api_key_env,
                        concurrency=spec.concurrency, chat_protocol=spec.chat_protocol, seed=spec.seed,
                        endpoint=endpoint_options(not spec.cache, spec.api_cache))


def served_adapters(spec):
    """The model loaded here, where the edits are made, and the endpoint that scores each as an adapter."""
    from polyedit.evaluation.adapters import ServedAdapters
    from polyedit.models.load import load_model

    lm = load_model(spec.model, dtype=spec.dtype, device=spec.device, device_map=spec.device_map,
                    trust_remote_code=spec.trust_remote_code, modules=spec.modules)
    return lm, ServedAdapters(endpoint_backend(spec), spec.method)


def make_backend(kind: str, base_url: str, model_name: str, *, api_key_env: str, concurrency: int,
                 chat_protocol: str, seed: int, endpoint: dict):
    if kind == "openai":
        from polyedit.models.openai_backend import OpenAIBackend

        return OpenAIBackend(base_url, model_name, api_key_env=api_key_env, concurrency=concurrency, **endpoint)
    from polyedit.models.openai_backend_chat import ChatBackend

    return ChatBackend(base_url, model_name, protocol=chat_protocol, api_key_env=api_key_env,
                       concurrency=concurrency, seed=seed, **endpoint)


def estimate_tokens(lm, method, cases, *, scoring: bool, judged: bool, new_tokens: int) -> int:
    """Prompt + completion tokens the run may use: every probe's prompt before the edit and as the method
    rewrites it, each with `REQUEST_OVERHEAD` and `new_tokens` to generate, twice over where the
    endpoint also scores (echo), plus a judge request per answer. Token counts from the model's tokenizer
    when it is known here, else a quarter of the UTF-8 bytes."""
    def count(text: str) -> int:
        if lm is not None:
            return len(lm.tokenizer(text)["input_ids"])
        return len(text.encode("utf-8")) // 4 + 1

    total = 0
    for case in cases:
        texts = [p.prompt for p in case.probes] + method.texts_read(lm, case)[-len(case.probes):]
        per = sum(count(t) + REQUEST_OVERHEAD + new_tokens for t in texts)
        total += per * (2 if scoring else 1)
        if judged:
            total += 2 * len(case.probes) * (JUDGE_PROMPT_TOKENS + 2 * new_tokens)
    return total


def check_budget(limit: int | None, estimate: int) -> None:
    if limit is not None and estimate > limit:
        raise SpecError("max_api_tokens", f"{limit}: this run is estimated at {estimate} tokens (prompts and "
                            "answers, before the response cache); raise the limit or use --limit")
