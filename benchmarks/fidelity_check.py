"""Cross-checks against the reference code's behaviour where polyedit once differed, printed as numbers.

1. MEMIT's family, batched v*: each fact stops on its own (the reference's `compute_z` optimises one request
   at a time, `if loss < 5e-2: break`). For 30 edits of world:small at its shipped MEMIT settings, z of each
   fact optimised in one batch against z of the same fact optimised alone; the facts that stopped before the
   last step are the ones a shared stop got wrong.
2. EMMET, one edit: ε (`emmet_lambda`) only regularises batches of two or more (the authors' code,
   `if D.shape[0] > 1`), so a single edit's ΔW equals the ε = 0 one.
3. GRACE at the expand boundary: 200 edits of world:medium made one after another at the lifelong settings
   (`configs/lifelong/grace.yaml`), then each edit's p(target) read alone and in batches of 10 and 32 (its
   neighbours' edit prompts beside it); an edit is flipped when p(target) is on different sides of 0.5.

    python benchmarks/fidelity_check.py [--memit-cases 30] [--grace-cases 200]

Runs on CPU in a few minutes (one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.methods.mass_edit import MassEditHParams
from polyedit.methods.objectives import edit_batch, target_prob
from polyedit.methods.rank_one import context_prefixes, fact_contexts, optimise_values
from polyedit.models import load_model

ROOT = Path(__file__).resolve().parent.parent


def batched_and_alone_z(lm, hp: MassEditHParams, edits) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """z = v_init + δ of every edit optimised in one batch, the same optimised alone, and the steps each
    fact took in the batch."""
    contexts = [fact_contexts(lm, e, context_prefixes(lm, e.lang, hp.prefixes, hp.prefix_tokens, hp.seed),
                              hp.fact_token) for e in edits]
    settings = dict(lr=hp.v_lr, steps=hp.v_steps, kl_factor=hp.kl_factor, weight_decay=hp.v_weight_decay,
                    clamp_norm_factor=hp.clamp_norm_factor)
    module = lm.arch.block(hp.layers[-1])
    batch = optimise_values(lm, contexts, module, **settings)
    alone = [optimise_values(lm, [c], module, **settings) for c in contexts]
    return (batch.v_init + batch.delta, torch.cat([a.v_init + a.delta for a in alone]), batch.steps)


def check_memit(n_cases: int, steps: int | None) -> None:
    lm = load_model("world:small")
    edits = [c.edit for c in load_dataset("world:small").cases[:n_cases]]
    given = {} if steps is None else {"v_steps": steps}
    hp = get_method("memit", given, lm).resolved(lm)
    z_batch, z_alone, stopped = batched_and_alone_z(lm, hp, edits)
    rel = ((z_batch - z_alone).norm(dim=-1) / z_alone.norm(dim=-1)).tolist()
    early = [i for i, s in enumerate(stopped) if s < hp.v_steps]
    worst_early = max((rel[i] for i in early), default=0.0)
    print(f"memit v* (world:small, {len(edits)} edits in one batch, v_steps {hp.v_steps}): {len(early)} facts "
          f"stopped early; batched vs alone |z_b - z_a|/|z_a|: max {worst_early:.1e} over those, "
          f"max {max(rel):.1e} over all")


def emmet_delta(lm, edit, emmet_lambda: float | None) -> torch.Tensor:
    """ΔW of every layer EMMET writes for one edit, flattened (float64)."""
    given = {} if emmet_lambda is None else {"emmet_lambda": emmet_lambda}
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    handle = get_method("emmet", given, lm).apply(lm, [edit])
    after = dict(lm.model.named_parameters())
    delta = torch.cat([(after[n].detach().double() - before[n].double()).flatten() for n in sorted(before)])
    handle.restore()
    return delta


def check_emmet(n_cases: int) -> None:
    lm = load_model("world:small")
    worst = 0.0
    for case in load_dataset("world:small").cases[:n_cases]:
        default, exact = emmet_delta(lm, case.edit, None), emmet_delta(lm, case.edit, 0.0)
        worst = max(worst, ((default - exact).norm() / exact.norm()).item())
    print(f"emmet, one edit (world:small, {n_cases} edits, emmet_lambda 0.1 vs 0): "
          f"max |dW - dW_eps0|/|dW_eps0| {worst:.1e}")


def grace_probs(lm, edits, size: int) -> list[float]:
    """p(target_new | prompt) of each edit, read in batches of `size` consecutive edit prompts."""
    out = []
    for i, edit in enumerate(edits):
        start = min(max(0, i - size // 2), max(0, len(edits) - size))
        group = edits[start:start + size]
        with torch.no_grad():
            batch = edit_batch(lm, group)
            probs = target_prob(lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                                batch)
        out.append(probs[group.index(edit)].item())
    return out


def check_grace(n_cases: int) -> None:
    lm = load_model("world:medium")
    cases = load_dataset("world:medium:edit_lang=all:mix=cycle", limit=n_cases).cases
    edits = [c.edit for c in cases]
    method = get_method("grace", str(ROOT / "configs/lifelong/grace.yaml"), lm)
    handles = [method.apply(lm, [e]) for e in edits]  # sequential: the codebook grows edit by edit
    alone = grace_probs(lm, edits, 1)
    for size in (10, 32):
        probs = grace_probs(lm, edits, size)
        flipped = sum((a > 0.5) != (p > 0.5) for a, p in zip(alone, probs))
        gap = max(abs(a - p) for a, p in zip(alone, probs))
        print(f"grace (world:medium, {len(edits)} lifelong edits, {len(method.last_resolved.to_dict())} settings "
              f"from configs/lifelong/grace.yaml): batch of {size} vs alone: {flipped} flipped, "
              f"max |p_batch - p_alone| {gap:.1e}")
    for h in reversed(handles):
        h.restore()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memit-cases", type=int, default=30)
    ap.add_argument("--emmet-cases", type=int, default=10)
    ap.add_argument("--grace-cases", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for check, *given in ((check_memit, args.memit_cases, None), (check_memit, 10, 40),
                          (check_emmet, args.emmet_cases), (check_grace, args.grace_cases)):
        t0 = time.perf_counter()
        check(*given)
        print(f"  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
