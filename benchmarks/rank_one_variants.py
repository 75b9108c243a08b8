"""How much the reference's choices change ROME's and MEMIT's updates, per edit, in one run.

- ROME `denominator_key`: bare_prompt (the reference code: (C⁻¹k*)ᵀk₀) against context_mean (the paper's
  eq. 2: (C⁻¹k*)ᵀk*). Same δ, same direction C⁻¹k*: the ratio ‖ΔW_bare‖ / ‖ΔW_mean‖ is the whole difference.
- MEMIT `key_weighting`: grouped (the reference's compute_ks: bare prompt 1/2, prefixes 1/2) against flat
  (every context the same): ‖ΔW_grouped − ΔW_flat‖ / ‖ΔW_flat‖ over the edited layers.

    python benchmarks/rank_one_variants.py [--model world:small] [--cases 30] [--threads 2]

Each edit is made alone on the unedited model with the model's recommended hyperparameters (`editing.yaml`),
only the one field changed.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.models import load_model


def update(lm, method: str, hparams: dict, edit) -> torch.Tensor:
    """ΔW of every MLP output projection the edit touches, flattened and concatenated (float64)."""
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    handle = get_method(method, hparams, lm).apply(lm, [edit])
    after = dict(lm.model.named_parameters())
    parts = [(after[n].detach().double() - before[n].double()).flatten() for n in before
             if not torch.equal(after[n], before[n])]
    handle.restore()
    return torch.cat(parts) if parts else torch.zeros(1, dtype=torch.float64)


def describe(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return (f"min {min(values):.3f}, quartiles {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}, max {max(values):.3f}, "
            f"mean {statistics.fmean(values):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--data", default=None, help="dataset spec (default: the world model's own cases)")
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    data = args.data or f"world:{args.model.removeprefix('world:')}"
    edits = [c.edit for c in load_dataset(data).cases[:args.cases]]

    rome = []
    for e in edits:
        bare = update(lm, "rome", {"denominator_key": "bare_prompt"}, e)
        mean = update(lm, "rome", {"denominator_key": "context_mean"}, e)
        rome.append((bare.norm() / mean.norm()).item())
    memit = []
    for e in edits:
        grouped = update(lm, "memit", {"key_weighting": "grouped"}, e)
        flat = update(lm, "memit", {"key_weighting": "flat"}, e)
        memit.append(((grouped - flat).norm() / flat.norm()).item())
    print(f"{args.model}, {len(edits)} edits, one at a time")
    print(f"ROME  ‖ΔW bare_prompt‖ / ‖ΔW context_mean‖:            {describe(rome)}")
    print(f"MEMIT ‖ΔW grouped − ΔW flat‖ / ‖ΔW flat‖ (all layers): {describe(memit)}")


if __name__ == "__main__":
    main()
