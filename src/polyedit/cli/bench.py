"""`polyedit bench`: evaluate, edit, evaluate, restore, for every case of a dataset. Its options are the
run's specification (`polyedit.cli.run_options`), plus --out and --resume."""

from __future__ import annotations

import click

from polyedit.cli.run_options import run_options


@click.command("bench")
@run_options
def command(**options):
    """Run METHOD on every case of DATA and write results.jsonl, summary.json and summary.md to OUT."""
    from polyedit.api import bench
    from polyedit.cli.bench_remote import check_remote, remote_backend, served_adapters
    from polyedit.cli.run_options import spec_from_options
    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.store import RunStore
    from polyedit.methods.base import get_method

    spec, cli = spec_from_options(options)  # bad settings fail here, before anything is loaded
    out = cli["out"]
    m = get_method(spec.method, spec.hparams)  # and a bad method or hyperparameters
    if spec.capability is not None:  # the optional extra: one line naming it, before anything is loaded
        from polyedit.evaluation.capability.harness import require_lm_eval

        require_lm_eval()
    RunStore(out).check_before(cli["resume"])  # the --out folder: before the data and the model are read
    dataset = load_dataset(spec.data, langs=spec.langs)  # bad data fails before the model loads; handed on
    check_remote(spec, m)
    if spec.edits_as_adapters:  # the edits are made here; the endpoint scores the unedited model and each adapter
        model, backend = served_adapters(spec)
    else:
        model, backend = remote_backend(spec, dataset) if spec.backend != "hf" else (spec.model, None)
    summary = bench(model, spec=spec, out=out, backend=backend, dataset=dataset, resume=cli["resume"])
    click.echo(open(f"{out}/summary.md", encoding="utf-8").read())
    click.echo(f"results: {out}/results.jsonl ({summary['n_cases']} cases)")
    for note in summary.get("notes", []):  # last on the console: a fallback taken, an edit that did nothing
        click.echo(f"note: {note}", err=True)
