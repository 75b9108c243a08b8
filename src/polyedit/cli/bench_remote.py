"""`polyedit bench --backend openai|openai-chat`: the remote backend with its response cache and token ledger,
the settings a remote run refuses, and the `--max-api-tokens` estimate made before anything is sent."""

from __future__ import annotations

from pathlib import Path

import click

from polyedit.errors import PolyeditError

BACKENDS = ("hf", "openai", "openai-chat")
#: what one request adds to its prompt in the estimate: the chat protocol's instruction and the message framing
REQUEST_OVERHEAD = 48
#: a judge prompt without the question and answers, in tokens (the estimate's figure, not a measurement)
JUDGE_PROMPT_TOKENS = 120

remote_options = [
    click.option("--backend", "backend_kind", type=click.Choice(BACKENDS), default="hf", show_default=True,
                 help="hf: load MODEL here; openai: an OpenAI-compatible /v1/completions endpoint; openai-chat: "
                 "its /v1/chat/completions (in-context methods; generation protocols only)"),
    click.option("--base-url", default=None, help="endpoint URL for --backend openai/openai-chat, e.g. "
                 "http://127.0.0.1:8000/v1"),
    click.option("--model-name", default=None, help="model name the endpoint serves (default: --model)"),
    click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                 help="environment variable holding the endpoint's API key (never written anywhere)"),
    click.option("--concurrency", type=int, default=4, show_default=True, help="requests in flight (remote)"),
    click.option("--chat-protocol", default="user_prompt", show_default=True,
                 help="how --backend openai-chat turns the method's prompt into messages: user_prompt or "
                 "demo_turns (see `polyedit.models.openai_backend_chat`)"),
    click.option("--judge-api", type=click.Choice(["chat", "completions"]), default="chat", show_default=True,
                 help="the judge endpoint's route"),
    click.option("--api-cache", type=click.Path(file_okay=False), default=None,
                 help="response cache of remote requests (default: $POLYEDIT_API_CACHE_DIR or ~/.cache/polyedit/api)"),
    click.option("--no-cache", is_flag=True, help="cache nothing: send every remote request, and score a local "
                 "unedited model afresh (default: both read from and added to the caches shared by runs; the "
                 "numbers are the same)"),
    click.option("--max-api-tokens", type=click.IntRange(1), default=None,
                 help="refuse to start when the run's estimated prompt + completion tokens exceed this"),
]


def add_remote_options(fn):
    for option in reversed(remote_options):
        fn = option(fn)
    return fn


def endpoint_options(no_cache: bool, api_cache: str | None) -> dict:
    """The response cache and a fresh ledger, shared by the backend and the judge."""
    from polyedit.models.openai_backend_http import Ledger, ResponseCache, default_cache_dir

    cache = None if no_cache else ResponseCache(Path(api_cache) if api_cache else default_cache_dir())
    return {"cache": cache, "ledger": Ledger()}


def check_remote(kind: str, method, method_name: str, base_url: str | None, chat_template,
                 max_api_tokens: int | None = None, edits_as_adapters: bool = False) -> None:
    """One line for a remote run that cannot be what was asked for."""
    if edits_as_adapters and kind != "openai":
        raise PolyeditError("--edits-as-adapters scores each edit's adapter through an endpoint's completions "
                            "route: use it with --backend openai and --base-url")
    if kind == "hf":
        if max_api_tokens is not None:
            raise PolyeditError("--max-api-tokens counts the tokens sent to an endpoint: use it with --backend openai "
                                "or openai-chat")
        return
    if not base_url:
        raise PolyeditError(f"--backend {kind} needs --base-url")
    if edits_as_adapters and getattr(method, "edits_in_context", False):
        raise PolyeditError(f"method {method_name!r} edits in context: there is no adapter to serve (drop "
                            "--edits-as-adapters)")
    if not edits_as_adapters and not getattr(method, "edits_in_context", False):
        raise PolyeditError(f"method {method_name!r} edits weights; a remote endpoint runs in-context methods only "
                            "(or add --edits-as-adapters: the edits made here, each served as a LoRA adapter)")
    if kind == "openai" and chat_template:
        raise PolyeditError("--chat-template with --backend openai: a completions endpoint reads the prompt as sent "
                            "and no template can be applied here; use --backend openai-chat (the server's template)")


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
        raise PolyeditError(f"--max-api-tokens {limit}: this run is estimated at {estimate} tokens (prompts and "
                            "answers, before the response cache); raise the limit or use --limit")
