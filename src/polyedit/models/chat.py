"""Chat templates: instruction-tuned models (Llama-3.1-Instruct, Qwen2.5-Instruct) answer a question put as a
user turn of their own chat format, not as raw text to continue. `chat_prompt` wraps one prompt in the
tokenizer's template with the assistant's turn opened, so the model's continuation is its answer.

The templated text already holds the template's special tokens (BOS, headers), so it is tokenised with
`add_special_tokens=False`; tokenising it as plain text would add a second BOS.
"""

from __future__ import annotations

from polyedit.errors import PolyeditError


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
