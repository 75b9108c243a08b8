"""`polyedit neurons`: MEMLA's knowledge neurons of one edit or of a dataset sample.

Writes `neurons.json` (per case: per-language sets, the language-independent and language-specific sets,
as {layer: [neuron, ...]}) and the two figures of `polyedit.reports.neurons`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from polyedit.cli.common import device_option, dtype_option, hparams_option, model_option, remote_option, split_langs


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
    from polyedit.data.cases import RELIABILITY, Probe, make_case
    from polyedit.errors import PolyeditError
    from polyedit.methods.memla import MEMLAHParams
    from polyedit.models.load import load_model
    from polyedit.reports.neurons import case_neurons, neuron_figures

    hp = MEMLAHParams.from_yaml(hparams) if hparams else MEMLAHParams()
    changes = {}
    if pivots:
        changes["pivot_langs"] = ["all"] if pivots.strip().lower() == "all" else split_langs(pivots)
    if steps is not None:
        changes["ig_steps"] = steps
    if threshold is not None:
        changes["threshold"] = threshold
    hp = MEMLAHParams.from_dict({**hp.to_dict(), **changes}, where="neurons")  # the options checked as a file is
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
