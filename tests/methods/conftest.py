import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The editors' tests run on one thread: models this small gain nothing from two, and two threads on two
    shared, busy cores spin (a world-model test took 120 s on two threads, 4 s on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

