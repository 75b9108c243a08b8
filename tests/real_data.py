"""Where the tests find the real benchmark files: ../shared/data beside the repository (never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """A path under ../shared/data; missing, the test is skipped, except under CI=true where it fails."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"the real benchmark file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
