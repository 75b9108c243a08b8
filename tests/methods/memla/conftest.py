import pytest
import torch

from polyedit.data.cases import Probe, make_case
from polyedit.models import load_model

# tiny models on shared cores: one thread is faster than two fighting for them
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lm_of(tiny_model_dirs):
    """One loaded tiny model per family, shared by the tests that do not change weights for good."""
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = load_model(str(tiny_model_dirs[family]))
        return cache[family]

    return get


@pytest.fixture
def case():
    """An English edit with the fact also stated in zh and fr (reliability) and an en paraphrase."""
    return make_case("c1", "en", "France", "The capital of France is", "Berlin", "Paris", probes=[
        Probe("reliability", "zh", "法国的首都是", "柏林", "巴黎", "法国"),
        Probe("reliability", "fr", "La capitale de la France est", "Berlin", "Paris", "France"),
        Probe("generality", "en", "Paris is the capital of France, and the capital of France is", "Berlin", "Paris"),
        Probe("locality", "de", "Berlin ist die Hauptstadt von", "Deutschland"),
    ])
