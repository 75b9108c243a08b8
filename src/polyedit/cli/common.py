"""Options shared by several commands."""

from __future__ import annotations

import click

model_option = click.option("--model", "model", required=True, help="hub id, local path, or world:small")
method_option = click.option("--method", required=True, help="registered method name (see `polyedit methods`)")
hparams_option = click.option("--hparams", type=click.Path(dir_okay=False), default=None,
                              help="YAML file of the method's hyperparameters")
device_option = click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, auto")
dtype_option = click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16, float16")
remote_option = click.option("--trust-remote-code", is_flag=True, default=False,
                             help="allow the model's own code from the hub (off by default)")


def split_langs(value: str | None) -> list[str] | None:
    """Language codes of a comma-separated option, normalised and without repeats; None when not given."""
    if value is None:
        return None
    from polyedit.data.languages import normalize_code
    from polyedit.errors import PolyeditError

    codes = [normalize_code(x) for x in value.replace(" ", ",").split(",") if x]
    if not codes:
        raise PolyeditError(f"--langs {value!r} names no language")
    return list(dict.fromkeys(codes))
