"""Teacher-forced scoring that runs the output head only where an answer token is read.

A causal LM's forward pass ends in the output head: hidden (batch, length, d) -> logits (batch, length, V).
Scoring reads only the positions that predict a continuation token, a few per prompt, so for a 250k
vocabulary the full logits (and their log-softmax) are almost all waste: 32 prompts x 64 tokens are 2 GB
of float32 each. `answer_logits` runs the body as usual and hands the head only the hidden states of the
answer positions, through a forward pre-hook on the model's output embeddings (found with
`get_output_embeddings`, any family), so the head, and whatever the model applies after it (soft-capping,
logit scaling), see a (1, k, d) input.

The answer positions go to the head `chunk` at a time, so memory is O(chunk x V) whatever the batch and
the answers' lengths: the first chunk in the body's own forward pass (whose pre-hook also keeps the hidden
states of the others), each further chunk in a forward pass of one token whose head reads that chunk's
hidden states instead (the body's cost for it is one token; the model's own post-head steps still apply).
`target_scores` normalises each chunk in place, so no second tensor of that size is made either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

HEAD_CHUNK = 64  # answer positions per head call: 64 x 250,880 x 4 bytes = 61 MiB of float32 logits


@contextmanager
def head_reads(model: torch.nn.Module, replace):
    """Inside the block, the output head reads `replace(hidden)` instead of its input. Yields False (and
    changes nothing) for a model without a separate output-embeddings module."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield False
        return

    def pre(_module, args, kwargs):
        hidden = args[0] if args else kwargs.pop("input")
        return (replace(hidden), *args[1:]), kwargs

    hook = head.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield True
    finally:
        hook.remove()


@contextmanager
def head_at(model: torch.nn.Module, rows: torch.Tensor, cols: torch.Tensor, enabled: bool = True) -> Iterator[bool]:
    """Inside the block the head reads positions (rows[i], cols[i]) only, in one call: the model's `.logits`
    come out (1, n, V), in the positions' order, and keep their gradient (v*'s loss reads its target tokens
    and its KL prompt's last token, never the whole vocabulary at every position). Yields whether it is on:
    off where `enabled` is false or `head_reads` finds no head, and then `.logits` are the usual ones."""
    if not enabled:
        yield False
        return
    with head_reads(model, lambda hidden: hidden[rows.to(hidden.device), cols.to(hidden.device)][None]) as on:
        yield on


def answer_logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                  cols: torch.Tensor, chunk: int = HEAD_CHUNK) -> Iterator[torch.Tensor]:
    """Logits at positions (rows[i], cols[i]) of the batch, float32 and unnormalised, as consecutive
    chunks of at most `chunk` rows (together (n, V), in the positions' order)."""
    kept: dict[str, torch.Tensor] = {}

    def first_chunk(hidden):
        picked = hidden[rows.to(hidden.device), cols.to(hidden.device)]  # (n, d): small
        kept["hidden"] = picked
        return picked[:chunk][None]

    with head_reads(model, first_chunk) as selective:
        logits = model(input_ids=ids, attention_mask=mask).logits
    n = len(rows)
    if not selective:
        yield logits[rows.to(logits.device), cols.to(logits.device)].float()
        return
    if logits.shape[:2] != (1, min(n, chunk)):  # a forward that reshapes the head's output: read every position
        yield full_logprobs(model, ids, mask, rows, cols)
        return
    yield logits[0].float()
    del logits
    one = (ids[:1, :1], mask[:1, :1])  # the cheapest forward pass that still ends in the head
    for start in range(chunk, n, chunk):
        part = kept["hidden"][start:start + chunk][None]
        with head_reads(model, lambda _hidden: part):
            yield model(input_ids=one[0], attention_mask=one[1]).logits[0].float()


def target_scores(chunks: Iterable[torch.Tensor], which: torch.Tensor, targets: torch.Tensor
                  ) -> tuple[list[float], list[int]]:
    """For each i: log p(targets[i]) and the argmax token under the distribution of position which[i],
    the positions' logits arriving as consecutive chunks of rows (positions may be shared: two answers
    after the same context read the same one).

    Each chunk is consumed: once its target logits are read, it is overwritten in place by exp(x − max)
    to sum the normaliser log Σ exp x = max + log Σ exp(x − max) (what `torch.logsumexp` computes), so
    scoring makes no second tensor of a chunk's size."""
    logprob = torch.empty(len(which), dtype=torch.float32)
    top = torch.empty(len(which), dtype=torch.long)
    start = 0
    for x in chunks:
        k = len(x)
        sel = ((which >= start) & (which < start + k)).nonzero()[:, 0]
        local = (which[sel] - start).to(x.device)
        picked = x[local, targets[sel].to(x.device)]  # a copy, read before the rows are overwritten
        peak, argmax = x.max(-1)  # the first maximal index, as argmax
        lse = peak + x.sub_(peak[:, None]).exp_().sum(-1).log()
        logprob[sel] = (picked - lse[local]).cpu()
        top[sel] = argmax[local].cpu()
        start += k
    return logprob.tolist(), top.tolist()


def full_logprobs(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                  cols: torch.Tensor) -> torch.Tensor:
    """The same logits through the whole (batch, length, V) log-softmax, as scoring did before: the
    reference `answer_logits` is tested against and benchmarked against."""
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
    return logp[rows.to(logp.device), cols.to(logp.device)]
