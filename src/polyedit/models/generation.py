"""Batched greedy decoding (or, row by row, seeded sampling) with a shared-prefix cache and early stopping.

In-context editing prompts are long (eight demonstrations before the query) and their answers short (a
name, cut at the first `"`), so on a CPU the cost is the prefill, and `model.generate` spends most of a
batch's steps on rows that have already answered. This loop:

- groups prompts that share most of their tokens (the same demonstrations, found by sorting the token
  sequences) and runs the shared prefix once, reusing its keys and values in every row;
- pads each row's own suffix on the left, so the padding sits between the shared prefix and the suffix;
  position ids follow the attention mask, so every row sees exactly its own unpadded sequence;
- stops a row at EOS or as soon as its text contains a stop string, and drops finished rows from the
  batch (greedy decoding is causal: tokens after the stop cannot change the text before it).

The cache goes through transformers' public API only: a `DynamicCache` made here (`batch_repeat_interleave`,
`batch_select_indices`), passed under the argument name the model's `forward` declares (`cache` in recent
transformers 5 releases, `past_key_values` before: the old name warns). Where transformers builds caches
from exported layer classes (`transformers.DynamicLayer`, `DynamicCache(config=...).layers`: all of 5.x,
and 4.56+), each plain full-attention layer is made a `RoomyLayer`, which appends in place (2.5x faster
on 8-shot prompts); without them the cache concatenates, with the same answers. A model that takes no
cache object is decoded without a cache instead: one marked `_supports_cache_class = False` (as transformers
4 marked GPT-2 before 4.47, which took tuples), or one whose first forward leaves the cache empty and
returns none or a legacy tuple of its own (remembered for the model). Its greedy rows go through
`model.generate(use_cache=False)` on the left-padded batch: transformers 5's `generate` keeps its cache only
as a Cache object, and with a legacy tuple it silently decodes from the last token alone. Its sampling rows
are decoded one at a time (`_sample_uncached`). Both fallbacks are tested against the main path.

Greedy, so the answers are those of one prompt at a time; `tests/methods/ike/test_ike_batching.py` checks it.
A row may instead sample (`Sampling`: temperature, top-p, seed; the server's requests with a temperature
above 0): its `RowSampler` draws from that row's logits with the row's own `torch.Generator`, one draw per
step, so a row's text depends on its prompt, its settings and its seed only, not on the rows batched
with it (nor on the global RNG).
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass

import torch
from transformers import DynamicCache

try:  # transformers >= 5 (and late 4.x): caches are lists of exported layer classes
    from transformers import DynamicLayer
except ImportError:  # transformers 4.45-4.5x: a DynamicCache of tensors, which concatenates
    DynamicLayer = None

MIN_SHARED_PREFIX = 32  # tokens a group must share before the prefix is run once for all of it
#: models whose forward was found to take no cache object: later decoders skip the cached path at once
_NO_CACHE_OBJECT: weakref.WeakSet = weakref.WeakSet()


class _NoCacheObject(Exception):
    """The model's first forward left the cache empty and returned none, or a cache of its own."""


@dataclass(frozen=True)
class Decoded:
    token_ids: list[int]  # up to, not including, EOS; may run past the stop string by part of a token
    stopped: bool  # the text contains a stop string
    eos: bool = False  # the model ended the row with EOS


@dataclass(frozen=True)
class Sampling:
    """How one row samples: logits divided by `temperature` (> 0); with `top_p` < 1 only the smallest set of
    most likely tokens whose probability reaches `top_p` is kept (nucleus sampling, Holtzman et al. 2020,
    "The Curious Case of Neural Text Degeneration"); `seed` seeds the row's own generator."""

    temperature: float
    top_p: float = 1.0
    seed: int = 0


class RowSampler:
    """Draws one row's next token from its logits, with a generator of its own (seeded by `Sampling.seed`)."""

    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self.generator = torch.Generator().manual_seed(sampling.seed)

    def __call__(self, logits: torch.Tensor) -> int:
        # on the CPU in float64, the maximum subtracted before scaling: the same draw whatever device ran
        # the model, and no overflow at a tiny temperature (every token but the best then has probability 0)
        x = logits.detach().double().cpu()
        probs = torch.softmax((x - x.max()) / self.sampling.temperature, dim=-1)
        if self.sampling.top_p >= 1.0:
            return int(torch.multinomial(probs, 1, generator=self.generator))
        ranked, order = probs.sort(descending=True, stable=True)
        keep = (ranked.cumsum(0) - ranked) < self.sampling.top_p  # the mass before a token is under top_p
        keep[0] = True  # the most likely token always stays (top_p 0: greedy)
        return int(order[torch.multinomial(ranked * keep, 1, generator=self.generator)])


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


if DynamicLayer is not None:
    class RoomyLayer(DynamicLayer):
        """A `DynamicLayer` whose keys and values sit at the front of a buffer with room after them, so a
        decoded token is written in place; `DynamicLayer` concatenates, copying the whole cache (every row,
        every prompt token) at every step, which on a CPU costs more than the step's own computation."""

        room = 16

        def update(self, key_states, value_states, *args, **kwargs):
            if getattr(self, "keys", None) is None or self.keys.numel() == 0:  # the first update: as is
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


def _returned_cache(out):
    """The cache a forward returned: under `cache` in transformers 5, `past_key_values` before."""
    for name in ("cache", "past_key_values"):
        value = getattr(out, name, None)
        if value is not None:
            return value
    return None


def cache_argument(model) -> str:
    """The name `model.forward` takes its KV cache under: `cache` in transformers 5 (the old name warns, and
    is to be removed), `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def new_cache(config) -> DynamicCache:
    """An empty cache for a model of `config`, appending in place where transformers' layers allow."""
    if DynamicLayer is None:
        return DynamicCache()
    cache = DynamicCache(config=config)
    layers = getattr(cache, "layers", [])
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer:  # sliding-window and other layers keep their own logic
            layers[i] = RoomyLayer()
    return cache


class GreedyDecoder:
    """Greedy decoding of one batch of token sequences with `model`'s KV cache."""

    def __init__(self, model, pad_id: int, eos_id: int | None, row_deltas=None) -> None:
        self.model = model
        self.row_deltas = row_deltas  # `row_deltas.RowDeltas`: each row's own edit (told before every forward)
        self.pad_id, self.eos_id = pad_id, eos_id
        params = inspect.signature(model.forward).parameters
        # BLOOM has no position ids (ALiBi follows the attention mask); most families take them
        self.takes_positions = "position_ids" in params
        self.takes_logits_to_keep = "logits_to_keep" in params
        self.cache_arg = cache_argument(model)
        # transformers < 5 marks the models that take a Cache object; 5 has dropped the flag (its own all do)
        self.takes_cache = getattr(model, "_supports_cache_class", True) and model not in _NO_CACHE_OBJECT

    def _forward(self, ids, mask, positions, cache, first: bool = False):
        kw = {"position_ids": positions} if self.takes_positions else {}
        if self.takes_logits_to_keep:
            kw["logits_to_keep"] = 1  # the prefill of 128 eight-shot prompts would otherwise make 1 GB of logits
        out = self.model(input_ids=ids, attention_mask=mask, use_cache=True, **{self.cache_arg: cache}, **kw)
        if first and _returned_cache(out) is not cache and cache.get_seq_length() == 0:
            # the model ignored the cache object; the next step, fed one token, would see no context
            raise _NoCacheObject
        return out.logits[:, -1].float()

    @torch.no_grad()
    def decode(self, rows: list[list[int]], max_new_tokens, is_stopped,
               samplers: list[RowSampler | None] | None = None, edits: list[int] | None = None) -> list[Decoded]:
        """`is_stopped(token_ids)` says whether a row's new tokens already contain a stop string.
        `max_new_tokens` and `is_stopped` may also be lists, one per row (the server batches requests
        that ask for different lengths and stop strings). `samplers`: per row, None (greedy) or the
        `RowSampler` that picks its tokens. `edits`: with `row_deltas`, the edit each row is decoded under
        (the shared prefix is then run once only where every row reads the same edit)."""
        device = self.model.get_input_embeddings().weight.device  # with a device map: where inputs go
        n = len(rows)
        limits = list(max_new_tokens) if isinstance(max_new_tokens, (list, tuple)) else [max_new_tokens] * n
        stop_fns = list(is_stopped) if isinstance(is_stopped, (list, tuple)) else [is_stopped] * n
        samplers = list(samplers) if samplers is not None else [None] * n
        if max(limits, default=0) <= 0:
            return [Decoded([], False) for _ in rows]
        p = 0  # the batch's shared prefix, leaving every row at least one token of its own
        shortest = min(len(r) for r in rows)
        while n > 1 and p < shortest - 1 and all(r[p] == rows[0][p] for r in rows):
            p += 1
        if self.row_deltas is not None:
            edits = list(edits) if edits is not None else [-1] * n
            if len(set(edits)) > 1:
                p = 0  # a prefix run once is one edit's: rows of different edits each run their own
            self.row_deltas.rows(edits)
        if not self.takes_cache:
            return self._generate(rows, limits, stop_fns, device, samplers)
        cache = new_cache(self.model.config)
        try:
            logits, mask, positions = self._prefill(rows, p, cache, device)
        except _NoCacheObject:
            _NO_CACHE_OBJECT.add(self.model)
            self.takes_cache = False
            return self._generate(rows, limits, stop_fns, device, samplers)

        new: list[list[int]] = [[] for _ in rows]
        stopped, eos = [False] * n, [False] * n
        active = list(range(n))  # the batch rows still decoding, in cache order
        last = max(limits) - 1
        for step in range(last + 1):
            nxt = logits.argmax(-1).tolist()
            for j, row in enumerate(active):
                if samplers[row] is not None and limits[row] > 0:
                    nxt[j] = samplers[row](logits[j])
            keep = []
            for j, row in enumerate(active):
                if limits[row] <= 0:
                    continue
                if nxt[j] == self.eos_id:
                    eos[row] = True
                    continue
                new[row].append(nxt[j])
                if stop_fns[row](new[row]):
                    stopped[row] = True
                elif len(new[row]) < limits[row]:
                    keep.append(j)
            if not keep or step == last:
                break
            if len(keep) < len(active):  # drop finished rows from the cache and the mask (copies the cache:
                # worth it, since every later step then computes and attends for fewer rows)
                sel = torch.tensor(keep, device=device)
                cache.batch_select_indices(sel)
                mask, positions = mask[sel], positions[sel]
                active = [active[j] for j in keep]
                if self.row_deltas is not None:
                    self.row_deltas.rows([edits[row] for row in active])
                nxt = [nxt[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = positions + 1
            logits = self._forward(torch.tensor(nxt, device=device)[:, None], mask, positions, cache)
        return [Decoded(t, s, e) for t, s, e in zip(new, stopped, eos)]

    def _prefill(self, rows: list[list[int]], p: int, cache, device):
        """Run the shared prefix of `p` tokens once (when long enough), then every row's left-padded suffix:
        (the last logits, the attention mask, the next positions)."""
        n = len(rows)
        if p >= MIN_SHARED_PREFIX:
            prefix = torch.tensor([rows[0][:p]], device=device)
            deltas = self.row_deltas
            saved = deltas.current() if deltas is not None else None
            if deltas is not None:  # every row reads the same edit here (see `decode`): so does the prefix
                deltas.rows(saved[:1])
            self._forward(prefix, torch.ones_like(prefix), torch.arange(p, device=device)[None], cache, first=True)
            if deltas is not None:
                deltas.rows(saved)
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
        logits = self._forward(ids, mask, positions[:, p:], cache, first=p == 0)
        return logits, mask, positions[:, -1:]

    def _generate(self, rows, limits, stop_fns, device, samplers=None) -> list[Decoded]:
        """The same greedy answers from `model.generate` on the left-padded batch, cut where `decode` stops
        (each row at its own limit and stop strings); rows that sample are decoded one at a time without a
        cache (`_sample_uncached`)."""
        samplers = samplers or [None] * len(rows)
        if any(s is not None for s in samplers):
            greedy = [i for i, s in enumerate(samplers) if s is None]
            out: list[Decoded | None] = [None] * len(rows)
            if greedy:
                for i, d in zip(greedy, self._generate([rows[i] for i in greedy], [limits[i] for i in greedy],
                                                       [stop_fns[i] for i in greedy], device)):
                    out[i] = d
            for i, s in enumerate(samplers):
                if s is not None:
                    out[i] = self._sample_uncached(rows[i], limits[i], stop_fns[i], s, device)
            return out
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        # use_cache=False: generate's cache is a Cache object, which this model does not take (see above)
        out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                  num_beams=1, max_new_tokens=max(limits), pad_token_id=self.pad_id,
                                  eos_token_id=self.eos_id, use_cache=False)[:, width:].tolist()
        decoded = []
        for gen, limit, is_stopped in zip(out, limits, stop_fns):
            tokens, stopped, eos = [], False, False
            for t in gen[:max(limit, 0)]:
                if t == self.eos_id:
                    eos = True
                    break
                tokens.append(t)
                if is_stopped(tokens):
                    stopped = True
                    break
            decoded.append(Decoded(tokens, stopped, eos))
        return decoded

    def _sample_uncached(self, row, limit, is_stopped, sampler, device) -> Decoded:
        """One sampling row for a model that takes no cache object: the whole sequence at every step."""
        ids, tokens = list(row), []
        for _ in range(max(limit, 0)):
            logits = self.model(input_ids=torch.tensor([ids], device=device), use_cache=False).logits[0, -1]
            t = sampler(logits)
            if t == self.eos_id:
                return Decoded(tokens, False, True)
            tokens.append(t)
            ids.append(t)
            if is_stopped(tokens):
                return Decoded(tokens, True)
        return Decoded(tokens, False)
