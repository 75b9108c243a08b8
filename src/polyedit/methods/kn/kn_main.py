"""KN: knowledge neurons (Dai et al. 2022, "Knowledge Neurons in Pretrained Transformers", §5 Updating Facts).

1. Attribution (shared with MEMLA, `polyedit.methods.knowledge_neurons.attribution`): integrated gradients of
   P(target_true) with respect to each neuron's activation, zero baseline as in the paper (`baseline: eos` for MEMLA's).
2. Knowledge neurons: per prompt, the neurons above `threshold` x that prompt's max (Dai et al.'s t = 0.2);
   over the edit prompt and its paraphrases in the edit language, those found for more than a fraction `p`
   of the prompts (the refining step; with the edit prompt alone every coarse neuron survives).
3. Update: the neuron's output vector (its column of W_out in (out, in) orientation, the "value slot" FF_val)

       v_i^(l)  <-  v_i^(l) - λ1 · e(target_true) + λ2 · e(target_new)

   with e(·) the mean input embedding of the answer's tokens (tokenised in context, no special tokens) and
   λ1 = λ2 = 2 as in EleutherAI/knowledge-neurons and EasyEdit (for one-token answers both are exactly
   theirs; for longer answers EasyEdit adds each token's embedding once, here their mean is added twice).
   Those implementations subtract the model's greedy prediction; the paper subtracts the old answer, as here.
   An edit without target_true (BMIKE-53's zsRE has none) takes the model's own pre-edit greedy answer as
   its old answer (`old_answers`), recorded per edit in `info["old_answers"]`.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import torch

from polyedit.data.cases import GENERALITY, Edit, EditCase
from polyedit.data.languages import join_target
from polyedit.methods.knowledge_neurons.attribution import BASELINES, DEFAULT_TOKENS_PER_PASS, attribute, select_neurons
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.old_answers import cases_with_old_answers, edits_with_old_answers
from polyedit.methods.precision import add_to_weight, commit_note
from polyedit.methods.search import log_range, real_range
from polyedit.models.arch import weight_out_in
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import encode_with_target


class KNHParams(HParams):
    ig_steps: int = param(20, "integrated-gradient steps m", ge=1)
    attribution_baseline: Literal[BASELINES] = param("zero", "zero: Dai et al.; eos: MEMLA's reference baseline")
    threshold: float = param(0.2, "coarse neurons: Attr > threshold x max Attr", ge=0, lt=1,
                             search=real_range(0.05, 0.6))
    p: float = param(0.5, "refined neurons: found for more than p x (number of prompts)", ge=0, lt=1,
                     search=real_range(0.1, 0.9))
    lambda_true: float = param(2.0, "λ1: how far the old answer's embedding is subtracted", ge=0,
                               search=real_range(0.0, 8.0))
    lambda_new: float = param(2.0, "λ2: how far the new answer's embedding is added", ge=0,
                              search=log_range(0.25, 32.0))
    max_tokens_per_pass: int = param(DEFAULT_TOKENS_PER_PASS, "memory budget of an attribution pass (tokens)", ge=1)


def fact_prompts(edit: Edit, case: EditCase | None = None) -> list[tuple[str, str]]:
    """(prompt, old answer) pairs stating the fact in the edit language: the edit prompt, plus the case's
    paraphrases (generality probes with an answer_true) when a case is given."""
    pairs = [(edit.prompt, edit.target_true)]
    if case is not None:
        pairs += [(p.prompt, p.answer_true) for p in case.probes_for(edit.lang, GENERALITY) if p.answer_true]
    return list(dict.fromkeys(pairs))


def refined_neurons(score_maps: list[torch.Tensor], threshold: float, p: float) -> set[tuple[int, int]]:
    """Neurons found (coarse, above threshold x max) for more than p x len(score_maps) prompts."""
    counts = Counter(n for scores in score_maps for n in select_neurons(scores, threshold))
    return {n for n, c in counts.items() if c > p * len(score_maps)}


def answer_embedding(lm: LoadedModel, prompt: str, answer: str, lang: str) -> torch.Tensor:
    """e(answer): mean input embedding of the answer's tokens as read after `prompt`."""
    enc = encode_with_target(lm.tokenizer, *join_target(prompt, answer, lang))
    emb = lm.model.get_input_embeddings().weight
    return emb[torch.tensor(enc.target_ids, device=emb.device)].float().mean(0)


def update_value_slots(lm: LoadedModel, neurons: set[tuple[int, int]], shift: torch.Tensor) -> dict[str, float]:
    """v_i^(l) += shift for every neuron: column i of W_out^(l) viewed as (out, in), either storage. Returns
    each neuron's commit loss (`precision.add_to_weight`)."""
    losses = {}
    with torch.no_grad():
        for layer, i in sorted(neurons):
            w = weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[layer]))
            losses[f"layer {layer}, neuron {i}"] = add_to_weight(w[:, i], shift)
    return losses


@register_method
class KN(EditMethod):
    name = "kn"
    description = "knowledge neurons by integrated gradients, value slots shifted to the new answer (Dai et al. 2022)"
    hparams_class = KNHParams
    supports_batch = True

    def apply_cases(self, lm: LoadedModel, cases: list[EditCase]) -> EditHandle:
        cases, filled = cases_with_old_answers(lm, cases)
        return self._edit(lm, [c.edit for c in cases], cases, filled)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        edits, filled = edits_with_old_answers(lm, edits)
        return self._edit(lm, edits, [None] * len(edits), filled)

    def _edit(self, lm: LoadedModel, edits: list[Edit], cases: list, filled: list[dict]) -> EditHandle:
        hp = self.resolved(lm)
        prompts = [fact_prompts(e, c) for e, c in zip(edits, cases)]
        queries = [(p, a, e.lang) for e, ps in zip(edits, prompts) for p, a in ps]
        atts = attribute(lm, queries, hp.ig_steps, hp.attribution_baseline, hp.max_tokens_per_pass)
        found, k = [], 0
        for ps in prompts:
            found.append(refined_neurons([a.scores for a in atts[k:k + len(ps)]], hp.threshold, hp.p))
            k += len(ps)
        layers = sorted({layer for ns in found for layer, _ in ns})
        handle = EditHandle(lm, lm.arch.mlp_out_weights(layers),
                            info={"neurons": [len(ns) for ns in found], "layers": layers,
                                  "prompts": [len(ps) for ps in prompts]})
        if filled:
            handle.info["old_answers"] = filled  # the model's greedy answers, where the data gave no old answer
        shifts = []
        for e, ns in zip(edits, found):  # all shifts from the unedited model, then applied together
            if not ns:
                shifts.append(None)
                continue
            old = answer_embedding(lm, e.prompt, e.target_true, e.lang)
            new = answer_embedding(lm, e.prompt, e.target_new, e.lang)
            shifts.append(hp.lambda_new * new - hp.lambda_true * old)
        losses = {}
        for j, (ns, shift) in enumerate(zip(found, shifts)):
            if shift is not None:
                for where, lost in update_value_slots(lm, ns, shift).items():
                    losses[where + (f", edit {j}" if len(edits) > 1 else "")] = lost
        commit_note(self.name, losses, lm.dtype, handle.info)
        return handle
