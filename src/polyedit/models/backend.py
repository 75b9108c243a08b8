"""Language-model backends: the two calls evaluation needs, batched.

`score`: teacher-forced log-probabilities and argmax predictions of a continuation given a context
(lm-evaluation-harness's loglikelihood). `generate`: greedy continuations. A local Hugging Face model
and, in the in-context editing issue, remote OpenAI-compatible endpoints implement the same interface,
so every protocol runs on both wherever the backend can supply what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from polyedit.models.batching import BatchSize
from polyedit.models.chat import chat_prompt, chat_scope, check_chat_template, templated
from polyedit.models.generation import GreedyDecoder, plan_batches
from polyedit.models.load import LoadedModel
from polyedit.models.scoring import answer_logits, full_logprobs, target_scores
from polyedit.models.tokens import encode_with_target, pad_right, prompt_ids


@dataclass(frozen=True)
class ScoreResult:
    target_ids: list[int]
    logprobs: list[float]  # log p(target token i | context, target tokens < i)
    argmax_ids: list[int]  # the model's top token at each target position (teacher forced)

    @property
    def mean_logprob(self) -> float:
        return sum(self.logprobs) / len(self.logprobs)

    @property
    def token_accuracy(self) -> float:
        return sum(a == t for a, t in zip(self.argmax_ids, self.target_ids)) / len(self.target_ids)


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: list[int]


class Backend(Protocol):
    capabilities: frozenset[str]  # subset of {"score", "generate"}

    def score(self, requests: list[tuple[str, str]]) -> list[ScoreResult]: ...

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[Generation]: ...

    def tokenize(self, text: str) -> list[int]: ...


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


class HFBackend:
    """A local transformers model. Requests are sorted by length and padded into batches of `batch_size`
    (an integer, or `auto`: the largest that fits, see `batching.BatchSize`). With `chat_template` (True), the
    prompts of generation are first wrapped in the tokenizer's chat template (`chat.chat_prompt`); with
    "all", scored contexts too (`chat.chat_scope`). `describe()` says how the model was run, and
    `protocol_info(protocol)` whether that protocol's prompts were wrapped, for each metric's record."""

    capabilities = frozenset({"score", "generate"})

    def __init__(self, lm: LoadedModel, batch_size: int | str = 32, chat_template: bool = False,
                 full_vocabulary: bool = False) -> None:
        self.lm = lm
        self.batching = BatchSize(max(1, batch_size) if isinstance(batch_size, int) else batch_size)
        self.chat_template = chat_scope(chat_template)
        if self.chat_template:
            check_chat_template(lm.tokenizer, lm.name)
        # the old scoring path (log-softmax over every position), kept as the reference for tests/benchmarks
        self._logits = (lambda *a: [full_logprobs(*a)]) if full_vocabulary else answer_logits
        #: several edits at once (`row_deltas.RowDeltas`, set by the runner): the `rows` of a call say which
        #: edit each request reads; None: every request reads the model as it is
        self.row_deltas = None

    @property
    def batch_size(self) -> int:
        """The batch size in use (with `auto`: the largest that has fitted so far)."""
        return self.batching.size

    @property
    def tok(self):
        return self.lm.tokenizer

    def describe(self) -> dict:
        """{chat_template, device, devices, dtype[, device_map], batch_size, batch_size_auto}."""
        return {"chat_template": self.chat_template, **self.lm.placement(), **self.batching.describe()}

    def protocol_info(self, protocol) -> dict:
        """What goes into the record of `protocol` (one that needs "score" or "generate"): whether its
        prompts were read through the chat template."""
        return {"chat_template": any(templated(self.chat_template, need) for need in protocol.requires)}

    def tokenize(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _prompt(self, text: str, needs: str) -> tuple[str, bool]:
        """(text the model reads, whether the tokenizer should add its special tokens)."""
        return (chat_prompt(self.tok, text), False) if templated(self.chat_template, needs) else (text, True)

    def score(self, requests: list[tuple[str, str]], rows: list[int] | None = None) -> list[ScoreResult]:
        """`rows`: with `row_deltas` set, the edit each request is scored under (one per request)."""
        prompts = [(self._prompt(c, "score"), t) for c, t in requests]
        encoded = [encode_with_target(self.tok, c, t, add_special_tokens=special) for (c, special), t in prompts]
        return self.batching.run(lambda size: self._score(encoded, size, rows))

    def _edits_of(self, rows: list[int] | None, idx: list[int]) -> None:
        """Tell the row deltas which edit each row of the next batch (requests `idx`) reads."""
        if self.row_deltas is not None:
            self.row_deltas.rows([rows[i] for i in idx] if rows is not None else [-1] * len(idx))

    @torch.no_grad()
    def _score(self, encoded, batch_size: int, edits: list[int] | None = None) -> list[ScoreResult]:
        """Only the positions that predict a target token reach the output head (`scoring.answer_logits`)."""
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].ids))
        out: list[ScoreResult | None] = [None] * len(encoded)
        model, device = self.lm.model, self.lm.device
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            ids, mask = pad_right([encoded[i].ids for i in idx], self.tok.pad_token_id)
            self._edits_of(edits, idx)
            # each position that predicts a target token, once: a position is its prefix of tokens, and the
            # two answers of a probability comparison share their first one (under the same edit)
            where: dict[tuple, int] = {}  # (edit, prefix) -> its index among the distinct positions
            pos, which = [], []  # (row, column) of each distinct position; the position of each target token
            for r, i in enumerate(idx):
                e = encoded[i]
                for p in range(e.n_context - 1, len(e.ids) - 1):
                    key = (edits[i] if edits is not None else None, *e.ids[:p + 1])
                    if key not in where:
                        where[key] = len(pos)
                        pos.append((r, p))
                    which.append(where[key])
            rows, cols = torch.tensor([r for r, _ in pos]), torch.tensor([c for _, c in pos])
            # the distinct positions' logits, (n, V) in chunks of rows
            chunks = self._logits(model, ids.to(device), mask.to(device), rows, cols)
            tgt = torch.tensor([t for i in idx for t in encoded[i].target_ids])
            lp, top = target_scores(chunks, torch.tensor(which), tgt)
            k = 0
            for i in idx:
                n = len(encoded[i].target_ids)
                out[i] = ScoreResult(encoded[i].target_ids, lp[k:k + n], top[k:k + n])
                k += n
        return out  # type: ignore[return-value]

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = (),
                 rows: list[int] | None = None) -> list[Generation]:
        """Greedy continuations, cut at the first stop string; see `generation.py` for how they are batched.
        `rows`: with `row_deltas` set, the edit each prompt is continued under."""
        tok = self.tok
        enc = [prompt_ids(tok, text, special) for text, special in (self._prompt(p, "generate") for p in prompts)]
        return self.batching.run(lambda size: self._generate(enc, max_new_tokens, stop, size, rows))

    def _generate(self, enc, max_new_tokens: int, stop: tuple[str, ...], batch_size: int,
                  rows: list[int] | None = None) -> list[Generation]:
        tok = self.tok
        decoder = GreedyDecoder(self.lm.model, tok.pad_token_id, tok.eos_token_id, self.row_deltas)

        def is_stopped(ids: list[int]) -> bool:
            text = tok.decode(ids, skip_special_tokens=True)
            return any(s in text for s in stop)

        out: list[Generation | None] = [None] * len(enc)
        for idx in plan_batches(enc, batch_size):
            edits = [rows[i] for i in idx] if rows is not None else None
            for i, d in zip(idx, decoder.decode([enc[i] for i in idx], max_new_tokens, is_stopped, edits=edits)):
                text = tok.decode(d.token_ids, skip_special_tokens=True)
                cut = cut_at_stop(text, stop)
                out[i] = Generation(cut, self.tokenize(cut) if cut != text else d.token_ids)
        return out  # type: ignore[return-value]
