"""polyedit/seeds.py: one seed range, the same at every front end that takes a seed."""

from __future__ import annotations

import pytest

from polyedit.errors import PolyeditError
from polyedit.seeds import SEED_MAX


def _bench(seed):
    from polyedit.evaluation.runner import BenchConfig

    return BenchConfig(model="m", method="ft-l", data="world:small", seed=seed)


def _sweep(seed):
    from polyedit.sweep.spec import parse_sweep

    return parse_sweep({"models": ["world:small"], "methods": ["ft-l"], "datasets": ["world:small"], "seed": seed})


def _tune(seed):
    from polyedit.tune.config import TuneConfig

    return TuneConfig(model="m", method="ft-l", data="world:small", trials=1, seed=seed)


def _method(seed):
    from polyedit.methods import get_method

    return get_method("ft-l", {"seed": seed})


@pytest.mark.parametrize("front", [_bench, _sweep, _tune, _method], ids=lambda f: f.__name__.strip("_"))
def test_every_front_end_takes_the_one_seed_range(front):
    front(0)
    front(SEED_MAX)
    for bad in (-1, SEED_MAX + 1):
        with pytest.raises(PolyeditError) as e:
            front(bad)
        assert "\n" not in str(e.value) and ("between 0 and 2147483647" in str(e.value) or "at most 2147483647" in str(
            e.value) or "at least 0" in str(e.value)), str(e.value)
