"""The `bench` options, generated from the run's specification (`polyedit.evaluation.spec.RunSpec`): one
option per field, its help the field's description, its default the field's. What the CLI spells
otherwise is said here, once: a flag named unlike its field (`FLAGS`), a click setting the field's type
does not imply (`CLICK`). A `SpecError` is printed with these flag names (`flag`)."""

from __future__ import annotations

import types
import typing
from typing import Literal

import click

from polyedit.evaluation.spec import RunSpec

#: field -> flag, where the flag is not the field's name with dashes; a `--no-` flag turns a default-on field off
FLAGS = {"eval_batch_size": "--batch-size", "cache": "--no-cache"}
#: click settings beyond the type, default and help that the field gives
CLICK = {
    "hparams": {"type": click.Path(dir_okay=False)},
    "api_cache": {"type": click.Path(file_okay=False)},
    "chat_template": {"type": click.Choice(["generated", "all"]), "is_flag": False, "flag_value": "generated",
                      "default": None, "show_default": False},
    "modules": {"metavar": "mlp_out=NAME[,mlp_in=NAME]"},
}
#: options of `bench` that are no part of the run: where it is written, and whether it continues one there
CLI_ONLY = {"out": click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder"),
            "resume": click.option("--resume", is_flag=True, help="continue the run in OUT: skip the cases already "
                                   "in OUT/results.jsonl (its settings must be the same; those that differ are named)")}


def flag(field: str) -> str:
    """The flag that sets `field`."""
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def _inverted(field: str) -> bool:
    return flag(field).startswith("--no-")


def _choices(annotation) -> list[str] | None:
    """The values of a `Literal[...]` field (optional or not), else None."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) \
        is typing.Union else (annotation,)
    literal = [arg for arg in args if typing.get_origin(arg) is Literal]
    if not literal or len(literal) < len([a for a in args if a is not type(None)]):
        return None  # a number or a word (`8` or `auto`): text, which the field's validator reads
    return [str(v) for arg in literal for v in typing.get_args(arg)]


def _mixed(annotation) -> bool:
    """A field that takes a number or one of some words."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    return any(typing.get_origin(a) is Literal for a in args) and _choices(annotation) is None


def _is_int(annotation) -> bool:
    args = typing.get_args(annotation) or (annotation,)
    return all(a is int or a is type(None) or typing.get_args(a)[:1] == (int,) for a in args) and annotation is not None


def _option(name: str, info) -> click.Option:
    kw: dict = {"help": info.description}
    if info.is_required():
        kw["required"] = True
    elif info.annotation is bool:
        if _inverted(name):
            kw["is_flag"] = True
        else:
            decls = (f"{flag(name)}/--no-{flag(name)[2:]}", name) if info.default else (flag(name), name)
            return click.option(*decls, is_flag=True, default=info.default, show_default=True, help=info.description)
    else:
        kw["default"] = info.default
        kw["show_default"] = info.default is not None
    choices = _choices(info.annotation)
    if choices:
        kw["type"] = click.Choice(choices)
    elif _mixed(info.annotation):
        kw["type"] = str  # a number or a word (`8` or `auto`): the field's validator reads the text
    elif _is_int(info.annotation):
        kw["type"] = int
    kw.update(CLICK.get(name, {}))
    return click.option(flag(name), name, **kw)


def run_options(fn):
    """Decorate a command with one option per `RunSpec` field, then the CLI-only ones."""
    for option in reversed([_option(name, info) for name, info in RunSpec.model_fields.items()]
                           + list(CLI_ONLY.values())):
        fn = option(fn)
    return fn


def spec_from_options(options: dict) -> tuple[RunSpec, dict]:
    """The run's spec from a command's parsed options, and the CLI-only ones."""
    settings = {name: (not value if _inverted(name) else value)
                for name, value in options.items() if name in RunSpec.model_fields}
    return RunSpec(**settings), {k: v for k, v in options.items() if k not in RunSpec.model_fields}
