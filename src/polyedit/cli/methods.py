"""`polyedit methods`: the registered methods and their hyperparameters."""

from __future__ import annotations

import click


@click.command("methods")
def command():
    """List registered editing methods with their hyperparameters: default, meaning, limits and search range
    (each read from the hyperparameters' JSON schema)."""
    from polyedit.methods.base import get_method, method_names

    for name in method_names():
        m = get_method(name)
        click.echo(f"{name}: {m.description}")
        for field, help in m.hparams.help().items():
            click.echo(f"    {field} = {getattr(m.hparams, field)!r}")
            if help:
                click.echo(f"        {help}")
