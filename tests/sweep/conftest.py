import pytest

from helpers.builders import write_sweep


@pytest.fixture(scope="session")
def local_sweep(tmp_path_factory):
    """The grid run in this process: the reference the Ray runs are compared with."""
    from polyedit.sweep import load_sweep
    from polyedit.sweep.runner import run_local

    root = tmp_path_factory.mktemp("local_sweep")
    sweep = load_sweep(write_sweep(root))
    run_local(sweep, root / "out", progress=False)
    return root / "out"
