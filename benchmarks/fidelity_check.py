"""Cross-checks against the reference code's behaviour where polyedit once differed, printed as numbers.

1. MEMIT's family, batched v*: each fact stops on its own (the reference's `compute_z` optimises one request
   at a time, `if loss < 5e-2: break`). For 30 edits of world:small at its shipped MEMIT settings, z of each
   fact optimised in one batch against z of the same fact optimised alone; the facts that stopped before the
   last step are the ones a shared stop got wrong.
2. EMMET, one edit: ε (`emmet_lambda`) only regularises batches of two or more (the authors' code,
   `if D.shape[0] > 1`), so a single edit's ΔW equals the ε = 0 one.
3. GRACE at the expand boundary: 200 edits of world:medium made one after another at the lifelong settings
   (`configs/lifelong/grace.yaml`), then every edit prompt answered (greedy, as the evaluation generates) alone
   and in batches of 10 and 32; an edit is flipped when its answer is the target in one and not the other.

    python benchmarks/fidelity_check.py [--memit-cases 30] [--grace-cases 200]

On CPU, one thread: 133 + 144 + 66 + 898 s on 2 cores shared at load 10-13 (GRACE's 200 sequential edits
are most of it; `--grace-cases` fewer for a quick look).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.methods.locate_then_edit.mass_edit import MassEditHParams
from polyedit.methods.locate_then_edit.rank_one import context_prefixes, fact_contexts, optimise_values
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


def grace_answers(lm, edits, size: int) -> list[bool]:
    """Whether the greedy answer to each edit prompt starts with its target_new, the prompts generated in
    batches of `size` (the evaluation's decoder: shared prefix cached, suffixes left-padded)."""
    from polyedit.models.backend import HFBackend

    width = max(len(lm.tokenizer(e.target_new)["input_ids"]) for e in edits) + 1
    out = HFBackend(lm, batch_size=size).generate([e.prompt for e in edits], width)
    return [g.text.strip().startswith(e.target_new.strip()) for g, e in zip(out, edits)]


def check_grace(n_cases: int) -> None:
    lm = load_model("world:medium")
    cases = load_dataset("world:medium:edit_lang=all:mix=cycle", limit=n_cases).cases
    edits = [c.edit for c in cases]
    method = get_method("grace", str(ROOT / "configs/lifelong/grace.yaml"), lm)
    handles = [method.apply(lm, [e]) for e in edits]  # sequential: the codebook grows edit by edit
    alone = grace_answers(lm, edits, 1)
    for size in (10, 32):
        flipped = sum(a != b for a, b in zip(alone, grace_answers(lm, edits, size)))
        print(f"grace (world:medium, {len(edits)} sequential edits at configs/lifelong/grace.yaml): edit prompts "
              f"generated in batches of {size} vs alone: {flipped} flipped ({sum(alone)} answered alone)")
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
