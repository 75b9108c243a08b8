import pytest

from polyedit.world.world import WorldConfig, generate_world


@pytest.fixture(scope="session")
def world():
    """A small world (every language, both name styles, transfer-held-out facts)."""
    return generate_world(WorldConfig(seed=3, n_persons=24))
