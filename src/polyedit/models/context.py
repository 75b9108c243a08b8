"""How long a text the model can read, and the rule for texts that are longer.

The rule (`RULE`): an edit or probe whose prompt, as the model reads it, plus its longest answer (plus
the generation budget) does not fit in the model's position table is not run. "As the model reads it":
after the method's rewrite, so an in-context (IKE) prompt is measured with its demonstrations and new
fact. Truncating would score a different question, and running it anyway is undefined (learned position
tables index out of range; rotary ones extrapolate) and slow (a 2,285-token edit on a 256-position model
took 84 s). The runner drops such cases before it writes anything (`EditMethod.texts_read` says what a
method makes the model read), counts them in the summary's `skipped` and records the rule and the count
in `run.json`; a single edit (`polyedit edit`, `EditMethod.apply` / `apply_cases` from Python) and a
single rewritten prompt (an in-context handle's `transform_prompt`) are refused with one line.
"""

from __future__ import annotations

from polyedit.errors import PolyeditError, shorten

#: config fields that name the size of the position table, across families (GPT-2, Llama/Qwen2/NeoX, ...)
_POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")

#: the rule as `run.json` records it
RULE = ("a case is skipped when a prompt as the model reads it (after the method's rewrite, e.g. IKE's "
        "demonstrations) with its longest answer and the generation budget exceeds the model's positions")


def probe_text(prompt: str, probe) -> str:
    """`prompt` (a probe's, possibly rewritten by a method) with the probe's longest answer."""
    return prompt + " " + max((probe.answer, probe.answer_true or "", *probe.aliases), key=len)


def edit_text(edit) -> str:
    """An edit's prompt with both its answers (methods read the prompt with each)."""
    return edit.prompt + " " + edit.target_new + " " + (edit.target_true or "")


def context_limit(lm) -> int | None:
    """Positions the model can attend to; None when its config does not say (e.g. ALiBi models)."""
    config = getattr(lm.model, "config", None)
    for name in _POSITION_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def n_tokens(lm, text: str) -> int:
    return len(lm.tokenizer(text, add_special_tokens=True)["input_ids"])


def too_long(lm, texts: list[str], extra: int = 0) -> str | None:
    """The first of `texts` that, with `extra` tokens to generate, does not fit the context; else None.

    A text is a prompt with its answer. UTF-8 bytes are counted first: byte-level and byte-fallback
    tokenizers never spend more than a token per byte (plus BOS and a word-start marker), so a short
    text is not tokenised at all."""
    limit = context_limit(lm)
    if limit is None:
        return None
    for text in texts:
        if len(text.encode("utf-8")) + extra + 4 > limit and n_tokens(lm, text) + extra > limit:
            return text
    return None


def check_fits(lm, texts: list[str], what: str, extra: int = 0) -> None:
    """Refuse a single edit or request that does not fit (see the module's rule)."""
    text = too_long(lm, texts, extra)
    if text is not None:
        raise PolyeditError(f"{what} {shorten(text)} is {n_tokens(lm, text)} tokens (plus {extra} to generate); "
                            f"the model reads at most {context_limit(lm)}")
