"""MEMLA's knowledge neurons as statistics and figures: the mean Jaccard overlap of the per-language sets
between languages (`neurons_jaccard.png`) and how many neurons of each category sit in each layer
(`neurons_layers.png`). `neuron_figures` returns the PNG paths for the HTML report.
"""

from __future__ import annotations

import math
from pathlib import Path


def jaccard(a: set, b: set) -> float:
    """|A ∩ B| / |A ∪ B|; NaN when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else math.nan


def mean_jaccard(all_sets) -> tuple[list[str], list[list[float]]]:
    """Languages (in first-seen order) and the mean over cases of J(N_L1, N_L2), NaN where never both seen."""
    langs = list(dict.fromkeys(lang for s in all_sets for lang in s.per_language))
    matrix = []
    for a in langs:
        row = []
        for b in langs:
            vals = [jaccard(s.per_language[a], s.per_language[b]) for s in all_sets
                    if a in s.per_language and b in s.per_language]
            vals = [v for v in vals if not math.isnan(v)]
            row.append(sum(vals) / len(vals) if vals else math.nan)
        matrix.append(row)
    return langs, matrix


def layer_counts(all_sets, n_layers: int) -> dict[str, list[int]]:
    """Neurons per layer, summed over cases, for each category."""
    cats = {"language-independent": lambda s: s.independent, "language-specific": lambda s: s.specific,
            "edit language (all)": lambda s: s.per_language.get(s.edit_lang, set())}
    out = {}
    for name, get in cats.items():
        counts = [0] * n_layers
        for s in all_sets:
            for layer, _ in get(s):
                counts[layer] += 1
        out[name] = counts
    return out


def neuron_figures(all_sets, n_layers: int, out_dir: str | Path) -> list[Path]:
    """Draw the Jaccard heatmap and the layer plot into `out_dir`; returns their paths."""
    try:
        import matplotlib
    except ImportError:
        from polyedit.errors import PolyeditError

        raise PolyeditError("the neuron plots need matplotlib (pip install matplotlib); "
                            "neurons.json is written") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    langs, matrix = mean_jaccard(all_sets)
    m = np.array(matrix, dtype=float) if langs else np.zeros((0, 0))
    side = max(len(langs), 4)
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * side, 0.9 + 0.5 * side))
    im = ax.imshow(np.ma.masked_invalid(m), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(langs)), langs)
    ax.set_yticks(range(len(langs)), langs)
    for i in range(len(langs)):
        for j in range(len(langs)):
            if not math.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Jaccard overlap")
    ax.set_title(f"Neuron overlap between languages\n(mean over {len(all_sets)} case(s))", fontsize=9)
    fig.tight_layout()
    heat = out / "neurons_jaccard.png"
    fig.savefig(heat, dpi=120)
    plt.close(fig)

    counts = layer_counts(all_sets, n_layers)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * n_layers + 2), 3.2))
    width = 0.8 / len(counts)
    for k, (name, c) in enumerate(counts.items()):
        ax.bar(np.arange(n_layers) + (k - (len(counts) - 1) / 2) * width, c, width, label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("neurons (summed over cases)")
    ax.set_xticks(range(n_layers))
    ax.legend(fontsize=8)
    ax.set_title("Where the knowledge neurons sit")
    fig.tight_layout()
    layers = out / "neurons_layers.png"
    fig.savefig(layers, dpi=120)
    plt.close(fig)
    return [heat, layers]


def case_neurons(lm, cases, hp) -> list:
    """NeuronSets for each case, every language of the case attributed (not only pivots and edit language)."""
    from polyedit.methods.memla.neurons import case_prompts, find_neuron_sets

    return [find_neuron_sets(lm, case_prompts(c), c.edit.lang, hp, extra_langs=c.languages) for c in cases]
