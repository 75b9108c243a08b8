from pathlib import Path

import pytest
from real_data import SHARED_DATA, shared_data  # tests/ is on sys.path (tests/conftest.py)

FIXTURES = Path(__file__).parent / "fixtures"

REAL_BMIKE53 = SHARED_DATA / "bmike53"


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
