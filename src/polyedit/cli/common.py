"""Options shared by several commands."""

from __future__ import annotations

import click

model_option = click.option("--model", "model", required=True, help="hub id, local path, or world:small")
method_option = click.option("--method", required=True, help="registered method name (see `polyedit methods`)")
hparams_option = click.option("--hparams", type=click.Path(dir_okay=False), default=None,
                              help="YAML file of the method's hyperparameters")
device_option = click.option("--device", default="auto", show_default=True,
                             help="cpu, cuda, cuda:1, mps, or auto (CUDA, then MPS, then CPU)")
dtype_option = click.option("--dtype", default="auto", show_default=True,
                            help="float32, bfloat16, float16, or auto (the checkpoint's; bfloat16 on GPUs that have it)")
device_map_option = click.option("--device-map", "device_map", default=None,
                                 help="auto: spread a model too large for one device over all of them (accelerate)")
chat_template_option = click.option(
    "--chat-template", "chat_template", type=click.Choice(["generated", "all"]), is_flag=False, flag_value="generated",
    default=None, help="wrap prompts in the tokenizer's chat template (instruction-tuned models): alone or `generated`, "
    "the prompts of generation protocols (in-context edits included); `all`, teacher-forced prompts too")
modules_option = click.option(
    "--modules", "modules", default=None, metavar="mlp_out=NAME[,mlp_in=NAME]",
    help="the MLP projections every method edits, {layer} standing for the layer index (e.g. "
    "mlp_out=model.layers.{layer}.mlp.down_proj), instead of those found from the model's structure")
#: `polyedit.methods.adapter.DEFAULT_MAX_ERROR` (not imported: the CLI starts without torch)
ADAPTER_MAX_ERROR = 1e-3
adapter_rank_option = click.option(
    "--adapter-rank", type=click.IntRange(1), default=None,
    help="edits written as adapters: truncate each change to at most this rank (default: its numerical rank; "
    "needed for a full-rank change such as FT-L's over many edits)")
adapter_max_error_option = click.option(
    "--adapter-max-error", type=click.FloatRange(0, 1), default=ADAPTER_MAX_ERROR, show_default=True,
    help="edits written as adapters: refuse one whose relative Frobenius error (a truncation's) exceeds this")
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


def parse_modules(value: str | None) -> dict[str, str] | None:
    """`mlp_out=NAME[,mlp_in=NAME]` as a mapping; None when not given."""
    if value is None:
        return None
    from polyedit.errors import PolyeditError
    from polyedit.models.arch import OVERRIDE_KEYS, modules_from_text

    out = modules_from_text(value)
    if out is None:
        raise PolyeditError(f"--modules {value!r}: expected {'=NAME, '.join(OVERRIDE_KEYS)}=NAME, comma-separated")
    return out
