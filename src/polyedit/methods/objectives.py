"""Losses shared by the weight-editing methods, written once: batching edits and scoring their targets.

Each edit's prompt and target are tokenised together (`encode_with_target`), so targets in zh/ja/th and
after a BOS token are found exactly as evaluation finds them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from polyedit.data.cases import Edit
from polyedit.data.languages import join_target
from polyedit.methods import convergence
from polyedit.methods.precision import Float32Masters
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import encode_with_target, pad_right


@dataclass
class TargetBatch:
    """Right-padded prompt+target ids; `target_mask[i, j]` marks positions j whose next token is a target
    token of row i (so logits[:, j] score ids[:, j + 1])."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    target_mask: torch.Tensor
    next_ids: torch.Tensor
    last_prompt: torch.Tensor  # index of each row's last context token

    def row(self, i: int) -> TargetBatch:
        """Edit i alone, at the batch's width (its loss computed from the batch's logits of row i)."""
        return TargetBatch(*(t[i:i + 1] for t in (self.input_ids, self.attention_mask, self.target_mask,
                                                   self.next_ids, self.last_prompt)))

    def to(self, device) -> TargetBatch:
        return TargetBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.target_mask,
                                                    self.next_ids, self.last_prompt)))


def make_target_batch(lm: LoadedModel, pairs: list[tuple[str, str, str]]) -> TargetBatch:
    """pairs: (prompt, target, lang). Builds the teacher-forcing batch for the targets."""
    encoded = [encode_with_target(lm.tokenizer, *join_target(p, t, lang)) for p, t, lang in pairs]
    pad = lm.tokenizer.pad_token_id
    ids, mask = pad_right([e.ids for e in encoded], pad)
    tmask = torch.zeros(ids.shape, dtype=torch.bool)
    for i, e in enumerate(encoded):
        tmask[i, e.n_context - 1:len(e.ids) - 1] = True
    next_ids = torch.cat([ids[:, 1:], torch.full((len(encoded), 1), pad, dtype=torch.long)], dim=1)
    last_prompt = torch.tensor([e.n_context - 1 for e in encoded])
    return TargetBatch(ids, mask, tmask, next_ids, last_prompt).to(lm.device)


def edit_batch(lm: LoadedModel, edits: list[Edit], new: bool = True) -> TargetBatch:
    return make_target_batch(lm, [(e.prompt, e.target_new if new else e.target_true, e.lang) for e in edits])


def target_logprobs(logits: torch.Tensor, batch: TargetBatch) -> torch.Tensor:
    """Per-token log p(target token) at target positions, zero elsewhere: shape (batch, width)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    tok = logp.gather(2, batch.next_ids.to(logp.device)[..., None])[..., 0]
    return tok * batch.target_mask.to(logp.device)  # the head may sit on another device than the inputs


def target_logprobs_at(logits: torch.Tensor, batch: TargetBatch, rows: torch.Tensor, cols: torch.Tensor,
                       at_targets: bool) -> torch.Tensor:
    """`target_logprobs` from logits the LM head computed only at the target positions (`head_at` with
    `rows, cols = batch.target_mask.nonzero(as_tuple=True)`: shape (1, K, vocab)), or from full logits where
    `at_targets` is false. The log-probs land where `target_logprobs` puts them, so sums over them are the
    same reductions."""
    if not at_targets:
        return target_logprobs(logits, batch)
    logp = torch.log_softmax(logits[0].float(), dim=-1)
    tok = logp.gather(1, batch.next_ids.to(logp.device)[rows, cols][:, None])[:, 0]
    out = torch.zeros(batch.target_mask.shape, dtype=tok.dtype, device=tok.device)
    return out.index_put((rows.to(out.device), cols.to(out.device)), tok)


def mean_target_nll(logits: torch.Tensor, batch: TargetBatch) -> torch.Tensor:
    """Mean over edits of the mean NLL of their target tokens (teacher forced)."""
    lp = target_logprobs(logits, batch)
    return (-(lp.sum(1) / batch.target_mask.sum(1))).mean()


def target_prob(logits: torch.Tensor, batch: TargetBatch) -> torch.Tensor:
    """Per edit: probability of the whole target sequence, exp(sum of token log-probs)."""
    return target_logprobs(logits, batch).sum(1).exp()


@contextmanager
def trainable(model: torch.nn.Module, params: list[torch.nn.Parameter]):
    """Only `params` require grad inside the block; the flags are put back afterwards."""
    flags = {p: p.requires_grad for p in model.parameters()}
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p in params:
            p.grad = None  # the optimiser's last gradient would outlive the edit (and its restore)
        for p, f in flags.items():
            p.requires_grad_(f)


def fit_adam(model: torch.nn.Module, params: list[torch.nn.Parameter], batch: TargetBatch,
             loss_fn: Callable[[torch.Tensor, TargetBatch], torch.Tensor], hp, info: dict,
             after_step: Callable[[list[torch.Tensor]], None] | None = None) -> None:
    """Adam on `params` for up to `hp.steps` steps (`hp.lr`), stopping once the loss is below
    `hp.early_stop_loss`; `after_step(trained)` runs after each update on the float32 tensors being trained
    (FT-L's projection). Half-precision parameters are trained through float32 masters (`precision`); a
    step with a non-finite gradient is skipped. The last loss (after the last update), the number of
    updates and of skipped steps go into `info`, and each edit's own loss against the target into
    `info["edits"]` (`convergence`)."""
    masters = Float32Masters(params)
    opt = torch.optim.Adam(masters.masters, lr=hp.lr)
    for step in range(hp.steps + 1):
        masters.zero_grad()
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        loss = loss_fn(logits, batch)
        info["loss"] = loss.item()
        if loss.item() < hp.early_stop_loss or not math.isfinite(loss.item()) or step == hp.steps:
            with torch.no_grad():
                per_edit = [loss_fn(logits[i:i + 1], batch.row(i)).item() for i in range(len(batch.input_ids))]
            convergence.record(info, [convergence.outcome(x, info.get("steps", 0), hp.early_stop_loss)
                                      for x in per_edit])
            break
        loss.backward()
        if not masters.pull_grads():
            info["skipped_steps"] = info.get("skipped_steps", 0) + 1
            continue
        opt.step()
        if after_step is not None:
            after_step(masters.masters)
        masters.push()
        info["steps"] = step + 1
