"""Where the target and the subject sit in a tokenised prompt.

The target is located by character offsets of the tokenised `context + continuation`, never by assuming
it starts with a space or that the tokenizer adds no BOS: this is what breaks the usual implementations
on zh/ja/th and on Llama-style tokenizers.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    n_context: int  # ids[n_context:] are the continuation's tokens

    @property
    def target_ids(self) -> list[int]:
        return self.ids[self.n_context:]


def pad_right(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences as one right-padded batch: ids and attention mask. Right padding keeps every row at
    positions 0..n-1, whatever the model family does (or does not do) with the mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def encode_with_target(tokenizer, context: str, continuation: str, add_special_tokens: bool = True) -> Encoded:
    """Tokenise context + continuation together (as the model reads them) and find the continuation's tokens.

    A token that straddles the boundary counts as a target token, so the model is never given part of the
    answer as context. Special tokens after the text (an appended EOS) are dropped. `add_special_tokens=False`
    for a context that already holds them (a chat-templated prompt).
    """
    full = context + continuation
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(full, return_offsets_mapping=True, return_special_tokens_mask=True,
                        add_special_tokens=add_special_tokens)
        ids, offsets, special = enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"]
        keep = len(ids)
        while keep > 1 and special[keep - 1]:
            keep -= 1  # a trailing EOS/SEP that some tokenizers append
        ids, offsets, special = ids[:keep], offsets[:keep], special[:keep]
        boundary = len(context)
        n_ctx = next((i for i, ((s, e), sp) in enumerate(zip(offsets, special)) if not sp and e > boundary), keep)
    else:  # slow tokenizer: the longest common prefix of the two tokenisations
        ids = tokenizer(full, add_special_tokens=add_special_tokens)["input_ids"]
        ctx = tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"]
        n_ctx = 0
        while n_ctx < min(len(ids), len(ctx)) and ids[n_ctx] == ctx[n_ctx]:
            n_ctx += 1
    if n_ctx == 0:
        raise ValueError(f"empty context for continuation {continuation!r}")
    return Encoded(list(ids), n_ctx)


def prompt_ids(tokenizer, text: str, add_special_tokens: bool = True) -> list[int]:
    """`text`'s ids for the model to continue: with the special tokens the tokenizer adds in front (BOS), but
    not those it appends (an EOS or SEP after the text would make the model continue after end-of-text), as
    `encode_with_target` drops them for scoring. Special tokens written in the text itself stay."""
    ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    if not add_special_tokens:
        return list(ids)
    special = set(tokenizer.all_special_ids)
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]

    def trailing(seq) -> int:
        return next((i for i in range(len(seq)) if seq[len(seq) - 1 - i] not in special), len(seq))

    appended = trailing(ids) - trailing(plain)
    return list(ids[:len(ids) - appended]) if 0 < appended < len(ids) else list(ids)


@dataclass(frozen=True)
class SubjectSpan:
    """Token positions [start, end) of the subject in the tokenised prompt, and the rule that found them.

    Rules, tried in order: `exact` (the subject is a substring), `casefold` (case-insensitive substring),
    `fuzzy` (the longest block of characters the subject shares with the prompt, if it is at least 4
    characters long and covers at least 40% of the subject: a surname alone, inflected forms such as
    Polish "Darrieuxa"; a translated prompt that keeps the Latin name its translated subject transliterates,
    MzsRE th "บริษัทใดสร้าง Volvo B12M" for "วอลโว่ B12M"), `last_token` (no usable overlap, as when a
    translation renders the subject in other words: the prompt's last token, which has read the whole
    prompt; ROME's fallback position). Datasets keep edits whose prompt lacks the subject
    (`Edit.subject_in_prompt` is False); the two last rules are the ones that fire for them.
    """

    start: int
    end: int
    rule: str

    @property
    def last(self) -> int:
        return self.end - 1


def _char_span(prompt: str, subject: str) -> tuple[int, int, str] | None:
    i = prompt.find(subject)
    if i >= 0:
        return i, i + len(subject), "exact"
    i = prompt.casefold().find(subject.casefold())
    if i >= 0 and len(prompt.casefold()) == len(prompt):
        return i, i + len(subject), "casefold"
    m = difflib.SequenceMatcher(None, prompt, subject, autojunk=False).find_longest_match(0, len(prompt), 0, len(subject))
    if m.size >= min(4, len(subject)) and m.size >= 0.4 * len(subject.strip()):
        return m.a, m.a + m.size, "fuzzy"
    return None


def subject_span(tokenizer, prompt: str, subject: str) -> SubjectSpan:
    enc = tokenizer(prompt, return_offsets_mapping=True, return_special_tokens_mask=True)
    offsets, special = enc["offset_mapping"], enc["special_tokens_mask"]
    text_tokens = [i for i, sp in enumerate(special) if not sp]
    found = _char_span(prompt, subject)
    if found is not None:
        cs, ce, rule = found
        toks = [i for i in text_tokens if offsets[i][0] < ce and offsets[i][1] > cs]
        if toks:
            return SubjectSpan(toks[0], toks[-1] + 1, rule)
    last = text_tokens[-1]
    return SubjectSpan(last, last + 1, "last_token")
