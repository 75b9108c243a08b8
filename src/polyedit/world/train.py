"""Train a randomly initialised Llama-architecture model on the world's corpus.

Plain AdamW with linear warm-up and a cosine decay sized by optimiser steps. Batches are drawn from
length buckets (short fact sentences with short ones, long in-context documents with long ones), so
padding does not multiply the cost of the in-context documents on a CPU.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from polyedit.models.tokens import pad_right
from polyedit.world.config import ModelSpec, TrainSpec
from polyedit.world.corpus import Doc

log = logging.getLogger(__name__)
IGNORE = -100
BUCKET = 16  # batches per length bucket


def make_model(spec: ModelSpec, tokenizer, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@dataclass(frozen=True)
class Example:
    ids: list[int]
    labels: list[int]


def encode(tokenizer, docs: list[Doc], max_len: int) -> list[Example]:
    """BOS + text + EOS; the loss covers the tokens ending after `loss_from` (and the EOS)."""
    enc = tokenizer([d.text for d in docs], add_special_tokens=False, return_offsets_mapping=True)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out = []
    for doc, ids, offsets in zip(docs, enc["input_ids"], enc["offset_mapping"]):
        labels = [t if e > doc.loss_from else IGNORE for t, (_, e) in zip(ids, offsets)]
        ids, labels = [bos, *ids, eos][:max_len], [IGNORE, *labels, eos][:max_len]
        out.append(Example(ids, labels))
    return out


def batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    order = examples[:]
    rng.shuffle(order)
    out = []
    for b in range(0, len(order), batch_size * BUCKET):
        bucket = sorted(order[b:b + batch_size * BUCKET], key=lambda e: len(e.ids))
        out += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(out)
    return out


def collate(batch: list[Example], pad: int) -> dict[str, torch.Tensor]:
    ids, mask = pad_right([e.ids for e in batch], pad)
    labels, _ = pad_right([e.labels for e in batch], IGNORE)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def lm_loss(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token cross-entropy over the labelled positions only, equal to `model(**inputs).loss`.

    In-context documents label only their answer, and at this size the projection onto the vocabulary
    is about a third of the forward cost, so projecting only the labelled positions saves a quarter of
    the training time without changing the loss.
    """
    hidden = model.get_decoder()(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    labels = inputs["labels"][:, 1:]
    keep = labels != IGNORE
    logits = model.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep])


def lr_at(step: int, total: int, spec: TrainSpec) -> float:
    warm = max(1, int(total * spec.warmup))
    if step < warm:
        return spec.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return spec.lr * (spec.min_lr_ratio + (1 - spec.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, tokenizer, facts: list[Example], icl_epoch: Callable[[int, int], list[Doc]], spec: TrainSpec,
          seed: int, device: torch.device, max_len: int, progress: bool = True,
          on_epoch: Callable[[int], str] | None = None) -> dict:
    """Train in place. `icl_epoch(epoch, n)` draws the epoch's n in-context documents (fresh each epoch);
    `on_epoch(epoch)`, if given, measures the model after each epoch and returns a line for the log."""
    from tqdm.auto import tqdm

    n_icl = round(len(facts) * spec.icl_ratio)
    per_epoch = math.ceil((len(facts) + n_icl) / spec.batch_size)
    total = max(1, round(spec.epochs * per_epoch))
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=spec.lr, betas=(0.9, 0.98))
    rng = random.Random(seed)
    pad = tokenizer.pad_token_id
    step, epoch, ema = 0, 0, None
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress, dynamic_ncols=True)
    while step < total:
        examples = facts + encode(tokenizer, icl_epoch(epoch, n_icl), max_len) if n_icl else facts
        for batch in batches(examples, spec.batch_size, rng):
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, spec)
            inputs = {k: v.to(device) for k, v in collate(batch, pad).items()}
            loss = lm_loss(model, inputs)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{ema:.3f}")
        if on_epoch is not None and step < total:
            model.eval()
            bar.write(f"epoch {epoch}: loss {ema:.3f} {on_epoch(epoch)}")
            model.train()
        epoch += 1
    bar.close()
    model.eval()
    log.info("trained %d steps (%d per epoch), final loss %.4f", total, per_epoch, ema)
    return {"steps": total, "steps_per_epoch": per_epoch, "final_loss": round(ema, 4), "icl_docs_per_epoch": n_icl,
            "fact_docs": len(facts)}
