"""Chat templates: instruction-tuned models (Llama-3.1-Instruct, Qwen2.5-Instruct) answer a question put as a
user turn of their own chat format, not as raw text to continue. `chat_prompt` wraps one prompt in the
tokenizer's template with the assistant's turn opened, so the model's continuation is its answer.

Where the template applies (`chat_scope`): by default to the prompts of generation protocols only, the
headline answers, which are the instruction model's replies, and so also to every in-context edit's
prompt (demonstrations, new fact and query in one user turn) that is generated from. Teacher-forced
protocols score a given continuation of the raw prompt (EasyEdit's token accuracy, CounterFact's
probability comparison), so they stay comparable with published numbers unless wrapping them too is
chosen explicitly (`all`). Each protocol's record says whether its prompts were wrapped.

The templated text already holds the template's special tokens (BOS, headers), so it is tokenised with
`add_special_tokens=False`; tokenising it as plain text would add a second BOS.
"""

from __future__ import annotations

from polyedit.errors import PolyeditError

#: what `chat_template` may be: False (no template), True (generation prompts), "all" (scored prompts too)
CHAT_SCOPES = (False, True, "all")


def chat_scope(value) -> bool | str:
    """The canonical `chat_template` setting: False, True (generation protocols) or "all"."""
    if value in (None, False, "none", "off"):
        return False
    if value in (True, "generated", "generation"):
        return True
    if value == "all":
        return "all"
    raise PolyeditError(f"chat template {value!r}: expected off, generated (the prompts of generation protocols) "
                        f"or all (teacher-forced prompts too)")


def templated(scope: bool | str, needs: str) -> bool:
    """Whether prompts of requests of kind `needs` ("generate" or "score") are wrapped under `scope`."""
    return bool(scope) and (needs == "generate" or scope == "all")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def check_chat_template(tokenizer, model_name: str) -> None:
    if not has_chat_template(tokenizer):
        raise PolyeditError(f"--chat-template: the tokenizer of {model_name} has no chat template "
                            f"(a base model; run without --chat-template)")


def chat_prompt(tokenizer, prompt: str, system: str | None = None) -> str:
    """`prompt` as the user's turn, followed by the opening of the assistant's turn."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
