"""What a test needs from outside the repository (the real benchmark files in ../shared) or from a build
step (the committed world model). Missing on a developer's machine: the test is skipped, naming what is
missing. Under CI=true it fails: CI has them, and a skip there would hide a broken path or a lost file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ../shared beside the repository (never copied into it)
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BMIKE53 = SHARED / "data" / "bmike53"


def missing(reason: str):
    """Skip, or under CI=true fail, because `reason`."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"{reason} (CI=true: a missing input is a failure, not a skip)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def importable(module: str):
    """A declared test dependency, imported (its import error is what `missing` reports)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing(f"{module} does not import ({e})")


def shared(rel: str, must_contain: str | None = None) -> Path:
    """A path under ../shared, which must exist (and hold `must_contain`)."""
    path = SHARED / rel
    if not (path / must_contain if must_contain else path).exists():
        missing(f"{path / (must_contain or '')} is not there (../shared holds the real benchmark files)")
    return path


def bmike53_root() -> Path:
    return shared("data/bmike53", "zsRE")


def world_checkpoint(name: str = "small") -> Path:
    """The folder of a built-in world model (committed for `small`)."""
    from polyedit.errors import PolyeditError
    from polyedit.models.load import world_checkpoint as folder

    try:
        return folder(name)
    except PolyeditError as e:
        missing(str(e))
