import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The IKE tests run tiny models on a shared machine: one thread is faster there and kinder to others."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
