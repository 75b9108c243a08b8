"""Data specs as a report shows them: relative to the dataset's root. A local path in a spec (a `dir=` option,
a file argument) is shown by its last component, so a shared report or summary does not leak the author's
file system."""

from __future__ import annotations

from pathlib import Path

from polyedit.data.dataset import DatasetSpec
from polyedit.errors import PolyeditError


def display_spec(spec: str) -> str:
    """The spec with local paths shortened to their last component (the dataset's root by name)."""
    try:
        parsed = DatasetSpec.parse(spec)
    except PolyeditError:
        return spec
    arg = Path(parsed.arg).name if parsed.arg and "/" in parsed.arg else parsed.arg
    opts = [f"{k}={Path(v).name if '/' in v else v}" for k, v in parsed.options.items()]
    return ":".join([parsed.name] + ([arg] if arg else []) + opts)
