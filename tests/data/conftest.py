import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: the real benchmark files, beside the repository (never copied into it): ../shared/data
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_BMIKE53 = SHARED_DATA / "bmike53"


def shared_data(relative: str) -> Path:
    """A path under ../shared/data; missing, the test is skipped, except under CI=true where it fails."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"the real benchmark file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def real_bmike53() -> Path:
    shared_data("bmike53/zsRE")
    return REAL_BMIKE53


@pytest.fixture(autouse=True)
def _no_ambient_bmike53(monkeypatch):
    # Tests name their source explicitly; a developer's own setting must not leak in.
    monkeypatch.delenv("POLYEDIT_BMIKE53_DIR", raising=False)
