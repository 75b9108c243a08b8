"""`polyedit sweep SWEEP.yaml`: every cell of a grid of runs, here or on a Ray cluster."""

from __future__ import annotations

import click

from polyedit.cli.common import device_option


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="output folder (default: the YAML's `out`); one run folder per grid cell")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None,
              help="run on Ray: `--ray` starts a local cluster, `--ray ADDRESS` joins one (e.g. auto, host:6379)")
@click.option("--dry-run", is_flag=True,
              help="print the plan (cells, cases, probe languages, estimated GPU hours) and run nothing; "
                   "every dataset is resolved, no model is loaded, nothing is written")
@device_option
def command(sweep_file, out, ray_address, dry_run, device):
    """Run every grid cell of SWEEP_FILE (validated as a whole first); a stopped sweep continues on restart."""
    from polyedit.errors import PolyeditError
    from polyedit.sweep.spec import load_sweep

    if dry_run:
        from polyedit.sweep.datasets import kept
        from polyedit.sweep.plan import describe, plan

        with kept():  # the plan counts the cases validation loaded, without loading them again
            sweep = load_sweep(sweep_file, resolve_models=False)
            lines = describe(sweep, plan(sweep))
        for line in lines:
            click.echo(line)
        return
    sweep = load_sweep(sweep_file)
    out = out or sweep.out
    if not out:
        raise PolyeditError(f"{sweep_file}: no output folder (give --out or an `out:` key)")
    if ray_address:
        from polyedit.sweep.ray_runner import run_ray

        summaries = run_ray(sweep, out, None if ray_address == "local" else ray_address, device=device)
    else:
        from polyedit.sweep.runner import run_local

        summaries = run_local(sweep, out, device=device)
    click.echo(f"{len(summaries)} of {len(sweep.cells)} grid cells finished in {out}")
    for name, s in summaries.items():
        head = ", ".join(f"{k} {100 * m['post']:.1f}" for k, m in s["mean"].items() if m.get("post") is not None)
        click.echo(f"  {name}: {s['n_cases']} cases; {head}")
    click.echo(f"report: polyedit report {out} --out {out}/report")
