"""Batched greedy decoding with a shared-prefix cache and early stopping.

In-context editing prompts are long (eight demonstrations before the query) and their answers short (a
name, cut at the first `"`), so on a CPU the cost is the prefill, and `model.generate` spends most of a
batch's steps on rows that have already answered. This loop:

- groups prompts that share most of their tokens (the same demonstrations, found by sorting the token
  sequences) and runs the shared prefix once, reusing its keys and values in every row;
- pads each row's own suffix on the left, so the padding sits between the shared prefix and the suffix;
  position ids follow the attention mask, so every row sees exactly its own unpadded sequence;
- stops a row at EOS or as soon as its text contains a stop string, and drops finished rows from the
  batch (greedy decoding is causal: tokens after the stop cannot change the text before it).

Greedy, so the answers are those of one prompt at a time; `tests/ike/test_ike_batching.py` checks it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicLayer

MIN_SHARED_PREFIX = 32  # tokens a group must share before the prefix is run once for all of it


@dataclass(frozen=True)
class Decoded:
    token_ids: list[int]  # up to, not including, EOS; may run past the stop string by part of a token
    stopped: bool


def plan_batches(enc: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `enc` in batches: large groups of prompts sharing a long prefix together (so it can be
    cached), the rest sorted by length, longest first (so padding is small and memory trouble shows up at
    once). A small group (a zero-shot case's handful of probes, which share only the new fact) is not
    worth a batch of its own: every batch pays the per-step cost of decoding, which on a CPU outweighs
    recomputing a short prefix a few times."""
    min_group = max(2, batch_size // 4)
    order = sorted(range(len(enc)), key=lambda i: enc[i])
    groups, cur = [], order[:1]
    for i in order[1:]:
        shared = common_prefix(enc[cur[0]], enc[i])
        if shared >= MIN_SHARED_PREFIX and 2 * shared >= len(enc[i]) and len(cur) < batch_size:
            cur.append(i)
        else:
            groups.append(cur)
            cur = [i]
    if cur:
        groups.append(cur)
    shared = [sorted(g, key=lambda i: -len(enc[i])) for g in groups if len(g) >= min_group]
    rest = sorted((i for g in groups if len(g) < min_group for i in g), key=lambda i: -len(enc[i]))
    return shared + [rest[b:b + batch_size] for b in range(0, len(rest), batch_size)]


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class RoomyLayer(DynamicLayer):
    """A `DynamicLayer` whose keys and values sit at the front of a buffer with room after them, so a
    decoded token is written in place; `DynamicLayer` concatenates, copying the whole cache (every row,
    every prompt token) at every step, which on a CPU costs more than the step's own computation."""

    room = 16

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized or self.keys.numel() == 0:
            return super().update(key_states, value_states, *args, **kwargs)
        n, add = self.keys.shape[-2], key_states.shape[-2]
        buf = getattr(self, "_room_buffers", None)
        if (buf is None or buf[0].data_ptr() != self.keys.data_ptr() or buf[0].shape[0] != self.keys.shape[0]
                or n + add > buf[0].shape[-2]):  # first step, or rows were dropped (a new tensor): reallocate
            buf = tuple(self._grow(t, n + add + self.room) for t in (self.keys, self.values))
            self._room_buffers = buf
        buf[0][..., n:n + add, :] = key_states
        buf[1][..., n:n + add, :] = value_states
        self.keys, self.values = buf[0][..., :n + add, :], buf[1][..., :n + add, :]
        return self.keys, self.values

    @staticmethod
    def _grow(t: torch.Tensor, capacity: int) -> torch.Tensor:
        out = t.new_empty((*t.shape[:-2], capacity, t.shape[-1]))
        out[..., :t.shape[-2], :] = t
        return out


def _make_roomy(cache) -> None:
    for layer in getattr(cache, "layers", ()):
        if type(layer) is DynamicLayer:  # sliding-window and other layers keep their own logic
            layer.__class__ = RoomyLayer


class GreedyDecoder:
    """Greedy decoding of one batch of token sequences with `model`'s KV cache."""

    def __init__(self, model, pad_id: int, eos_id: int | None) -> None:
        self.model = model
        self.pad_id, self.eos_id = pad_id, eos_id
        params = inspect.signature(model.forward).parameters
        # BLOOM has no position ids (ALiBi follows the attention mask); most families take them
        self.takes_positions = "position_ids" in params
        self.takes_logits_to_keep = "logits_to_keep" in params

    def _forward(self, ids, mask, positions, cache):
        kw = {"position_ids": positions} if self.takes_positions else {}
        if self.takes_logits_to_keep:
            kw["logits_to_keep"] = 1  # the prefill of 128 eight-shot prompts would otherwise make 1 GB of logits
        out = self.model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, **kw)
        return out.logits[:, -1].float(), out.past_key_values

    @torch.no_grad()
    def decode(self, rows: list[list[int]], max_new_tokens: int, is_stopped) -> list[Decoded]:
        """`is_stopped(token_ids)` says whether a row's new tokens already contain a stop string."""
        device = self.model.get_input_embeddings().weight.device  # with a device map: where inputs go
        n = len(rows)
        p = 0  # the batch's shared prefix, leaving every row at least one token of its own
        shortest = min(len(r) for r in rows)
        while n > 1 and p < shortest - 1 and all(r[p] == rows[0][p] for r in rows):
            p += 1
        cache = None
        if p >= MIN_SHARED_PREFIX:
            prefix = torch.tensor([rows[0][:p]], device=device)
            _, cache = self._forward(prefix, torch.ones_like(prefix), torch.arange(p, device=device)[None], None)
            cache.batch_repeat_interleave(n)
        else:
            p = 0
        width = max(len(r) for r in rows) - p
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, p + width), dtype=torch.long)
        mask[:, :p] = 1
        for row, r in enumerate(rows):
            suffix = r[p:]
            ids[row, width - len(suffix):] = torch.tensor(suffix, dtype=torch.long)
            mask[row, p + width - len(suffix):] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, cache = self._forward(ids, mask, positions[:, p:], cache)
        positions = positions[:, -1:]
        _make_roomy(cache)

        new: list[list[int]] = [[] for _ in rows]
        stopped = [False] * n
        active = list(range(n))  # the batch rows still decoding, in cache order
        for step in range(max_new_tokens):
            nxt = logits.argmax(-1).tolist()
            keep = []
            for j, row in enumerate(active):
                if nxt[j] == self.eos_id:
                    continue
                new[row].append(nxt[j])
                if is_stopped(new[row]):
                    stopped[row] = True
                else:
                    keep.append(j)
            if not keep or step == max_new_tokens - 1:
                break
            if len(keep) < len(active):  # drop finished rows from the cache and the mask (copies the cache:
                # worth it, since every later step then computes and attends for fewer rows)
                sel = torch.tensor(keep, device=device)
                cache.batch_select_indices(sel)
                mask, positions = mask[sel], positions[sel]
                active = [active[j] for j in keep]
                nxt = [nxt[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = positions + 1
            logits, cache = self._forward(torch.tensor(nxt, device=device)[:, None], mask, positions, cache)
        return [Decoded(t, s) for t, s in zip(new, stopped)]
