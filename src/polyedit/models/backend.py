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

from polyedit.models.generation import GreedyDecoder, plan_batches
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import encode_with_target, pad_right


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
    """A local transformers model. Requests are sorted by length and padded into batches of `batch_size`."""

    capabilities = frozenset({"score", "generate"})

    def __init__(self, lm: LoadedModel, batch_size: int = 32) -> None:
        self.lm = lm
        self.batch_size = max(1, batch_size)

    @property
    def tok(self):
        return self.lm.tokenizer

    def tokenize(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def score(self, requests: list[tuple[str, str]]) -> list[ScoreResult]:
        encoded = [encode_with_target(self.tok, c, t) for c, t in requests]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].ids))
        out: list[ScoreResult | None] = [None] * len(encoded)
        model, device = self.lm.model, self.lm.device
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            ids, mask = pad_right([encoded[i].ids for i in idx], self.tok.pad_token_id)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            for row, i in enumerate(idx):
                e = encoded[i]
                pos = torch.arange(e.n_context - 1, len(e.ids) - 1, device=logp.device)
                tgt = torch.tensor(e.target_ids, device=logp.device)
                lp = logp[row, pos].gather(1, tgt[:, None])[:, 0]
                out[i] = ScoreResult(e.target_ids, lp.tolist(), logp[row, pos].argmax(-1).tolist())
        return out  # type: ignore[return-value]

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[Generation]:
        """Greedy continuations, cut at the first stop string; see `generation.py` for how they are batched."""
        tok = self.tok
        enc = [tok(p)["input_ids"] for p in prompts]
        decoder = GreedyDecoder(self.lm.model, tok.pad_token_id, tok.eos_token_id)

        def is_stopped(ids: list[int]) -> bool:
            text = tok.decode(ids, skip_special_tokens=True)
            return any(s in text for s in stop)

        out: list[Generation | None] = [None] * len(enc)
        for idx in plan_batches(enc, self.batch_size):
            for i, d in zip(idx, decoder.decode([enc[i] for i in idx], max_new_tokens, is_stopped)):
                text = tok.decode(d.token_ids, skip_special_tokens=True)
                cut = cut_at_stop(text, stop)
                out[i] = Generation(cut, self.tokenize(cut) if cut != text else d.token_ids)
        return out  # type: ignore[return-value]
