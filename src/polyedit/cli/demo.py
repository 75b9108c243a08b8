"""`polyedit demo` (what `make demo` runs): every registered method on world edits, all 12 languages."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click

from polyedit.cli.common import device_option


def _fmt(x) -> str:
    return "  –  " if x is None else f"{100 * x:5.1f}"


@click.command("demo")
@click.option("--model", default="world:medium", show_default=True)
@click.option("--data", default=None, help="dataset spec (default: the test split of the dataset the model names in "
              "its dataset.txt: the demo reports held-out cases, never the ones settings are tuned on)")
@click.option("--cases", "n_cases", type=int, default=30, show_default=True, help="edits per method (made in English)")
@click.option("--methods", default=None, help="comma-separated methods (default: every registered method but the "
              "controls of another method)")
@click.option("--matrix-method", default=None, help="method for the language x language heatmap (default: the "
              "weight-editing method with the highest mean reliability on the English edits)")
@click.option("--matrix-cases", type=int, default=3, show_default=True, help="edits per edit language for the heatmap")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-cache", is_flag=True, help="score the unedited model afresh for every method (default: once, "
              "from the cache shared by runs; the numbers are the same)")
@device_option
def command(model, data, n_cases, methods, matrix_method, matrix_cases, out, no_cache, device):
    """Edit the built-in world model in English with every method; score all 12 languages; write reports."""
    import torch

    from polyedit.api import bench
    from polyedit.data.languages import get_language
    from polyedit.data.registry import load_dataset
    from polyedit.errors import PolyeditError
    from polyedit.methods.base import METHODS, method_names
    from polyedit.models.load import load_model
    from polyedit.reports.collect import find_runs
    from polyedit.reports.page import write_report
    from polyedit.reports.markdown import summary_markdown

    torch.manual_seed(0)
    # by default every registered method but the controls (MEMLA's ablations: `polyedit tune`'s report has them)
    names = ([m for m in methods.split(",") if m] if methods
             else [m for m in method_names() if not METHODS.get(m).control_of])
    unknown = sorted(set(names) - set(method_names()))
    if unknown:
        raise PolyeditError(f"unknown method(s) {', '.join(unknown)} (known: {', '.join(method_names())})")
    out = Path(out)
    lm = load_model(model, device=device)
    if not data:
        named = lm.meta.get("dataset")
        if not named:
            raise PolyeditError(f"model {model!r} names no dataset (no dataset.txt in its folder); pass --data SPEC")
        data = f"{named}:split=test"
    dataset = load_dataset(data, limit=n_cases)  # one load for every method's run, of the cases they edit
    langs = dataset.cases[0].languages
    summaries, t_start = {}, time.perf_counter()
    for name in names:
        run_dir = _fresh(out / name)
        click.echo(f"== {name}: {n_cases} English edits, probes in {len(langs)} languages")
        summaries[name] = bench(lm, name, data, run_dir, limit=n_cases, dataset=dataset, cache=not no_cache)

    kinds = ["reliability", "generality", "locality", "portability"]
    click.echo(f"\nMean over {len(langs)} languages (post-edit %, pre-edit in brackets); "
               "'other' = mean over the languages other than the edit's (English)")
    click.echo(headline_note(next(iter(summaries.values()))) + "\n")
    click.echo(f"{'method':<10}" + "".join(f"{k:>18}" for k in kinds) + "".join(f"{k[:3] + ' other':>12}" for k in kinds if k != "locality"))
    for name, s in summaries.items():
        cells = "".join(f"{_fmt(s['mean'].get(k, {}).get('post'))} ({_fmt(s['mean'].get(k, {}).get('pre'))})".rjust(18) for k in kinds)
        other = s.get("mean_excluding_edit_language") or {}
        cells += "".join(f"{_fmt(other.get(k, {}).get('post')):>12}" for k in kinds if k != "locality")
        click.echo(f"{name:<10}{cells}")

    runs = [out / name for name in names]
    weight_editors = [m for m in names if not METHODS.get(m).edits_in_context]
    matrix_method = matrix_method or max(weight_editors, default=None,
                                         key=lambda m: summaries[m]["mean"].get("reliability", {}).get("post") or 0)
    if matrix_method and matrix_cases > 0:
        click.echo(f"\n== {matrix_method}: {matrix_cases} edits made in each language, for the cross-lingual heatmap")
        for lang in langs:
            runs.append(_fresh(out / "matrix" / matrix_method / lang))
            spec = f"{data}:edit_lang={lang}"  # loaded with the limit: a loader may make only those cases
            bench(lm, matrix_method, spec, runs[-1], limit=matrix_cases, progress=False,
                  dataset=load_dataset(spec, limit=matrix_cases),
                  cache=not no_cache)

    md = "\n".join(summary_markdown(s, f"{name} on {data}") for name, s in summaries.items())
    (out / "summary.md").write_text(md, "utf-8")
    scripts = ", ".join(sorted({get_language(x).script for x in langs}))
    write_report(find_runs(runs), out, f"polyedit demo: {model}; {n_cases} edits per method, made in English; "
                 f"probes in {len(langs)} languages (scripts: {scripts})", root=out)
    (out / "summaries.json").write_text(json.dumps(summaries, indent=1, ensure_ascii=False), "utf-8")
    click.echo(f"\nwrote {out}/summary.md and {out}/report.html in {time.perf_counter() - t_start:.0f} s")


def headline_note(summary: dict) -> str:
    """Which metric and protocol each column is (the teacher-forced scores are in summary.md's diagnostics)."""
    parts = []
    for kind, metric in summary["headline"].items():
        p = (summary["mean"].get(kind) or {}).get("protocol") or {}
        parts.append(f"{kind} = {metric} ({p.get('name', '?')}, {p.get('kind', '?')})")
    return "Headline: " + "; ".join(parts) + ". 95% intervals: summary.md."


def _fresh(path: Path) -> Path:
    """The demo re-runs from scratch: clear a previous demo run in this folder (only polyedit's own files)."""
    if (path / "run.json").exists():
        shutil.rmtree(path)
    return path
