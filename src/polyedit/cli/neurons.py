"""`polyedit neurons`: MEMLA's knowledge neurons of one edit or of a dataset sample.

Writes `neurons.json` (per case: per-language sets, the language-independent and language-specific sets,
as {layer: [neuron, ...]}), `neurons_jaccard.png` (mean Jaccard overlap of the per-language sets between
languages) and `neurons_layers.png` (how many neurons of each category sit in each layer).
`neuron_figures` returns the PNG paths for the HTML report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from polyedit.cli.common import device_option, dtype_option, hparams_option, model_option, remote_option, split_langs


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


@click.command("neurons")
@model_option
@click.option("--data", default=None, help="dataset spec (e.g. world:small); or give one edit with --prompt")
@click.option("--limit", type=int, default=3, show_default=True, help="cases of --data to analyse")
@click.option("--case-id", "case_ids", multiple=True, help="analyse these cases of --data (repeatable)")
@click.option("--lang", default="en", show_default=True, help="language of the edit prompt")
@click.option("--prompt", default=None, help="edit prompt, e.g. 'The capital of France is'")
@click.option("--subject", default=None)
@click.option("--target-true", default=None, help="the old answer (attributed)")
@click.option("--target-new", default="?", help="not needed for attribution")
@click.option("--fact", "facts", type=(str, str, str), multiple=True, metavar="LANG PROMPT ANSWER",
              help="the fact in another language (or a paraphrase) with its old answer; repeatable")
@click.option("--pivots", default=None, help="pivot languages, comma separated, or 'all' [en,zh,fr]")
@click.option("--steps", type=int, default=None, help="integration steps m [20]")
@click.option("--threshold", type=float, default=None, help="keep scores above this x max [0.3]")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output folder")
@hparams_option
@device_option
@dtype_option
@remote_option
def command(model, data, limit, case_ids, lang, prompt, subject, target_true, target_new, facts, pivots, steps,
            threshold, out_dir, hparams, device, dtype, trust_remote_code):
    """Find MEMLA's per-language, language-independent and language-specific neurons; JSON and plots."""
    import dataclasses

    from polyedit.data.cases import RELIABILITY, Probe, make_case
    from polyedit.errors import PolyeditError
    from polyedit.methods.memla import MEMLAHParams
    from polyedit.models.load import load_model

    hp = MEMLAHParams.from_yaml(hparams) if hparams else MEMLAHParams()
    changes = {}
    if pivots:
        changes["pivot_langs"] = ["all"] if pivots.strip().lower() == "all" else split_langs(pivots)
    if steps is not None:
        changes["ig_steps"] = steps
    if threshold is not None:
        changes["threshold"] = threshold
    hp = dataclasses.replace(hp, **changes)  # validated again by __post_init__
    if data:
        from polyedit.data.registry import load_dataset

        cases = load_dataset(data).cases
        if case_ids:
            known = {c.case_id: c for c in cases}
            missing = [i for i in case_ids if i not in known]
            if missing:
                raise PolyeditError(f"no case {missing[0]!r} in {data}")
            cases = [known[i] for i in case_ids]
        else:
            cases = cases[:limit]
        if not cases:
            raise PolyeditError(f"dataset {data!r} has no cases")
    else:
        if not (prompt and subject and target_true):
            raise PolyeditError("give --data, or one edit with --prompt, --subject and --target-true")
        probes = [Probe(RELIABILITY, code, p, target_new, answer) for code, p, answer in facts]
        cases = [make_case("cli", lang, subject, prompt, target_new, target_true, probes)]
    lm = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    all_sets = case_neurons(lm, cases, hp)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {"model": model, "hparams": hp.to_dict(),
              "cases": [{"case_id": c.case_id, **s.to_dict()} for c, s in zip(cases, all_sets)]}
    (out / "neurons.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), "utf-8")
    paths = neuron_figures(all_sets, lm.arch.n_layers, out)
    for c, s in zip(cases, all_sets):
        counts = s.to_dict()["counts"]
        per = ", ".join(f"{k} {v}" for k, v in counts["per_language"].items())
        click.echo(f"{c.case_id} [{c.edit.lang}] per language: {per}; independent {counts['language_independent']}, "
                   f"specific {counts['language_specific']}" + "".join(f"\n    note: {n}" for n in s.notes))
    click.echo(f"wrote {out / 'neurons.json'}, " + ", ".join(str(p) for p in paths))
