"""`polyedit methods`: the registered methods and their hyperparameters."""

from __future__ import annotations

import dataclasses

import click


@click.command("methods")
def command():
    """List registered editing methods with their hyperparameters: default, meaning and limits."""
    from polyedit.methods.base import get_method, method_names

    for name in method_names():
        m = get_method(name)
        click.echo(f"{name}: {m.description}")
        helps = m.hparams.help()
        for f in dataclasses.fields(m.hparams):
            click.echo(f"    {f.name} = {getattr(m.hparams, f.name)!r}")
            if helps.get(f.name):
                click.echo(f"        {helps[f.name]}")
