import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(1)  # tiny models: one thread is as fast, and robust to a busy machine
# the unedited model's results are shared by the runs of one test session, never with the user's own cache
os.environ.setdefault("POLYEDIT_CACHE_DIR", tempfile.mkdtemp(prefix="polyedit-test-cache-"))

from helpers.builders import capital_case  # noqa: E402
from helpers.tiny_models import ARCH_FAMILIES, FAMILIES, build_tiny_model  # noqa: E402

from helpers import requires  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_models")
    return {f: build_tiny_model(f, root / f) for f in FAMILIES}


class _Built(dict):
    """family -> saved tiny model folder, built on first use (a test that needs three families builds three)."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, family):
        self[family] = build_tiny_model(family, self.root / family)
        return self[family]


@pytest.fixture(scope="session")
def arch_model_dirs(tmp_path_factory):
    """The architecture matrix's tiny models (`tiny_models.ARCH_FAMILIES`), saved once per session."""
    return _Built(tmp_path_factory.mktemp("arch_models"))


@pytest.fixture(scope="session")
def arch_lm(arch_model_dirs):
    """family -> the model loaded as a user loads one (`load_model` on the saved folder), once per session."""
    from polyedit.models import load_model

    cache = {}

    def load(family):
        if family not in cache:
            cache[family] = load_model(str(arch_model_dirs[family]))
        return cache[family]

    return load


@pytest.fixture(params=FAMILIES)
def tiny_lm(request, tiny_model_dirs):
    from polyedit.models import load_model

    return load_model(str(tiny_model_dirs[request.param]))


@pytest.fixture
def fixtures() -> Path:
    """The small hand-made data files (tests/data/fixtures), read by the loaders' tests and a few others."""
    return Path(__file__).parent / "data" / "fixtures"


@pytest.fixture(scope="session")
def bmike53_root():
    """The real BMIKE-53 files in ../shared (skipped where absent; a failure under CI=true)."""
    return requires.bmike53_root()


@pytest.fixture
def real_bmike53() -> Path:
    return requires.bmike53_root()


@pytest.fixture(autouse=True)
def _no_ambient_bmike53(monkeypatch):
    # Tests name their source explicitly; a developer's own setting must not leak in.
    monkeypatch.delenv("POLYEDIT_BMIKE53_DIR", raising=False)


@pytest.fixture(scope="session")
def lm_of(tiny_model_dirs):
    """One loaded tiny model per family, shared by the tests that do not change weights for good."""
    from polyedit.models import load_model

    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = load_model(str(tiny_model_dirs[family]))
        return cache[family]

    return get


@pytest.fixture
def case():
    """An English edit with the fact also stated in zh and fr (reliability) and an en paraphrase."""
    return capital_case()
