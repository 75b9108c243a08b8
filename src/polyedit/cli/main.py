"""Entry point. Commands live one per module in this package and are discovered, so adding a command
touches no central list. A `PolyeditError` becomes one line on stderr and exit code 2."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from polyedit.errors import PolyeditError, SpecError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """polyedit: multilingual knowledge editing of language models."""


def _register() -> None:
    import polyedit.cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name == "main":
            continue
        module = importlib.import_module(f"polyedit.cli.{mod.name}")
        command = getattr(module, "command", None)
        if command is not None:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        rv = cli.main(args=argv, prog_name="polyedit", standalone_mode=False)
    except SpecError as e:  # a run's setting, named as the flag that sets it
        from polyedit.cli.run_options import flag

        click.echo(f"polyedit: error: {e.render(flag)}", err=True)
        return 2
    except PolyeditError as e:
        click.echo(f"polyedit: error: {e}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("polyedit: aborted", err=True)
        return 130
    except click.UsageError as e:  # a malformed flag (`--seed 1e23`) is one line too, not a usage screen
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        click.echo(f"polyedit: error: {e.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    return rv if isinstance(rv, int) else 0  # a command's ctx.exit(n) comes back as its return value


if __name__ == "__main__":
    sys.exit(main())
