from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def real_bmike53() -> Path:
    from requires import bmike53_root

    return bmike53_root()


@pytest.fixture(autouse=True)
def _no_ambient_bmike53(monkeypatch):
    # Tests name their source explicitly; a developer's own setting must not leak in.
    monkeypatch.delenv("POLYEDIT_BMIKE53_DIR", raising=False)
