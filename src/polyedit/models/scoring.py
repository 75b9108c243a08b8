"""Teacher-forced scoring that runs the output head only where an answer token is read.

A causal LM's forward pass ends in the output head: hidden (batch, length, d) -> logits (batch, length, V).
Scoring reads only the positions that predict a continuation token, a few per prompt, so for a 250k
vocabulary the full logits (and their log-softmax) are almost all waste: 32 prompts x 64 tokens are 2 GB
of float32 each. `answer_logprobs` runs the body as usual and hands the head only the hidden states of the
answer positions, through a forward pre-hook on the model's output embeddings (found with
`get_output_embeddings`, any family), so the head, and whatever the model applies after it (soft-capping,
logit scaling), see an (1, n_answer_tokens, d) input: memory O(answer tokens x V).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def head_only_at(model: torch.nn.Module, rows: torch.Tensor, cols: torch.Tensor):
    """Inside the block, the output head reads hidden[rows, cols] (as one row) instead of every position.
    Yields False (and changes nothing) for a model without a separate output-embeddings module."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield False
        return

    def select(_module, args, kwargs):
        hidden = args[0] if args else kwargs.pop("input")
        picked = hidden[rows.to(hidden.device), cols.to(hidden.device)][None]
        return (picked, *args[1:]), kwargs

    hook = head.register_forward_pre_hook(select, with_kwargs=True)
    try:
        yield True
    finally:
        hook.remove()


def answer_logprobs(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                    cols: torch.Tensor) -> torch.Tensor:
    """Logits (n, V) at positions (rows[i], cols[i]) of the batch, float32 (unnormalised: `target_scores`
    normalises them a chunk at a time, so no second (n, V) tensor is made)."""
    with head_only_at(model, rows, cols) as selective:
        logits = model(input_ids=ids, attention_mask=mask).logits
    if selective and logits.shape[:2] == (1, len(rows)):
        return logits[0].float()
    if selective:  # a model whose forward reshapes the head's output: fall back to reading every position
        return full_logprobs(model, ids, mask, rows, cols)
    return logits[rows.to(logits.device), cols.to(logits.device)].float()


def target_scores(logits: torch.Tensor, which: torch.Tensor, targets: torch.Tensor, chunk: int = 64
                  ) -> tuple[list[float], list[int]]:
    """For each i: log p(targets[i]) and the argmax token under the distribution of row which[i] of
    `logits` (rows may be shared: two answers after the same context read the same position). The
    normaliser is computed `chunk` rows at a time, so the extra memory is O(chunk x V)."""
    lse = torch.cat([torch.logsumexp(logits[i:i + chunk], dim=-1) for i in range(0, len(logits), chunk)])
    top = torch.cat([logits[i:i + chunk].argmax(-1) for i in range(0, len(logits), chunk)])
    which, targets = which.to(logits.device), targets.to(logits.device)
    return (logits[which, targets] - lse[which]).tolist(), top[which].tolist()


def full_logprobs(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor) -> torch.Tensor:
    """The same logits through the whole (batch, length, V) log-softmax, as scoring did before: the
    reference `answer_logprobs` is tested against and benchmarked against."""
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
    return logp[rows.to(logp.device), cols.to(logp.device)]
