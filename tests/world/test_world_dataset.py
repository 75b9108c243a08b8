"""The `world` dataset loader: a run's --limit makes only the first cases, and they are the cases a full load
gives first; loads of the same world share one build, each caller getting cases of its own."""

import pytest

from polyedit.data.registry import load_dataset
from polyedit.world import dataset as world_dataset


@pytest.mark.parametrize("spec", ["world:small", "world:small:split=test:edit_lang=de",
                                  "world:small:edit_lang=all:mix=cycle:split=dev", "world:small:edit_lang=en,de"])
def test_a_limited_load_is_the_first_cases_of_the_full_one(spec):
    world_dataset._built.cache_clear()
    full = [c.to_dict() for c in load_dataset(spec).cases]
    for limit in (1, 7, len(full), len(full) + 5):
        world_dataset._built.cache_clear()
        assert [c.to_dict() for c in load_dataset(spec, limit=limit).cases] == full[:limit]


def test_a_limit_makes_only_the_first_cases(monkeypatch):
    from polyedit.world import cases

    made = []
    real = cases.make_cases
    monkeypatch.setattr(cases, "make_cases", lambda world, n=None, **kw: made.append(n) or real(world, n, **kw))
    world_dataset._built.cache_clear()
    assert len(load_dataset("world:small:split=test", limit=3).cases) == 3 and made == [3]
    world_dataset._built.cache_clear()
    with pytest.raises(Exception, match="at most"):  # an n beyond the world is still named, whatever the limit
        load_dataset("world:small:n=100000", limit=3)


def test_cached_cases_are_not_shared_between_loads():
    a = load_dataset("world:small")
    a.cases[0].meta["mine"] = 1
    a.cases[0].probes.clear()
    a.cases[1].case_id = "changed"
    b = load_dataset("world:small")
    assert "mine" not in b.cases[0].meta and b.cases[0].probes and b.cases[1].case_id != "changed"
