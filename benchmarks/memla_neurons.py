"""MEMLA's neuron sets and what its commit scale leaves of the edit, per case, on the knowledge world.

    python benchmarks/memla_neurons.py [--model world:small] [--cases 30] [--scales 0.5,1.0] [--threads 2]

For each English edit, with MEMLA's default hyperparameters (the reference's: m = 20, EOS baseline, threshold
0.3 × max, pivots en/zh/fr) and each commit scale: the sizes of N_en, N_zh, N_fr, of the language-independent
set N_ind = N_en ∩ N_zh ∩ N_fr and of the language-specific set N_spec = N_en \\ N_ind; the training's last
P(target_new) (with the LoRA pairs on, i.e. at scale 1); and whether the edited model then answers the edit
prompt with target_new (every token the top prediction, teacher forced), and its token accuracy.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from polyedit.data.languages import join_target
from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.models import load_model
from polyedit.models.backend import HFBackend


def accuracy(lm, edit) -> float:
    res = HFBackend(lm).score([join_target(edit.prompt, edit.target_new, edit.lang)])[0]
    return res.token_accuracy


def summary(values: list[float]) -> str:
    return (f"min {min(values):g}, median {statistics.median(values):g}, max {max(values):g}, "
            f"mean {statistics.fmean(values):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--scales", default="0.5,1.0", help="commit scales to try (0.5: the reference's)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    cases = load_dataset(f"world:{args.model.removeprefix('world:')}").cases[:args.cases]
    scales = [float(s) for s in args.scales.split(",")]

    print("| case | N_en | N_zh | N_fr | N_ind | N_spec | P(new), training | "
          + " | ".join(f"acc. at scale {s:g}" for s in scales) + " |")
    print("|---|" + "---:|" * (6 + len(scales)))
    rows = []
    for case in cases:
        before = accuracy(lm, case.edit)
        accs, counts, p_new = [], None, None
        for s in scales:
            handle = get_method("memla", {"commit_scale": s}, lm).apply_cases(lm, [case])
            accs.append(accuracy(lm, case.edit))
            handle.restore()
            counts = handle.info["neurons"][0]["counts"]
            p_new = handle.info["p_new"]
        per = counts["per_language"]
        row = [per.get("en", 0), per.get("zh", 0), per.get("fr", 0), counts["language_independent"],
               counts["language_specific"]]
        rows.append((row, p_new, before, accs))
        print(f"| {case.case_id} | " + " | ".join(map(str, row)) + f" | {p_new:.3f} | "
              + " | ".join(f"{a:.2f}" for a in accs) + " |", flush=True)

    print(f"\n{args.model}, {len(rows)} English edits, MEMLA defaults except the commit scale")
    for i, name in enumerate(["N_en", "N_zh", "N_fr", "N_ind = en∩zh∩fr", "N_spec"]):
        vals = [r[0][i] for r in rows]
        print(f"{name}: {summary(vals)}; empty in {sum(v == 0 for v in vals)} of {len(vals)} cases")
    print(f"P(target_new) at the end of training: {summary([r[1] for r in rows])}")
    print(f"edit prompt token accuracy before the edit: mean {statistics.fmean(r[2] for r in rows):.3f}, "
          f"answered with target_new in {sum(r[2] == 1.0 for r in rows)} of {len(rows)}")
    for j, s in enumerate(scales):
        acc = [r[3][j] for r in rows]
        print(f"commit scale {s:g}: token accuracy mean {statistics.fmean(acc):.3f}, answered with target_new in "
              f"{sum(a == 1.0 for a in acc)} of {len(acc)}, accuracy above before in "
              f"{sum(a > r[2] for a, r in zip(acc, rows))}")


if __name__ == "__main__":
    main()
