"""The `world_lifelong` sequence on world:small: every fact edited once with the edit language cycling, then
new persons inserted (names the model never read, no old answer), recall on the facts no edit touches."""

from collections import Counter

import pytest

from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError
from polyedit.world.build import read_build
from polyedit.world.config import BuildConfig
from polyedit.world.insertion import COUNTERFACTUAL, INSERTION, seen_names
from polyedit.world.schema import LANGS, relations
from polyedit.world.world import generate_world


@pytest.fixture(scope="module")
def small():
    from helpers.requires import world_checkpoint

    folder = world_checkpoint("small")
    config = BuildConfig.from_dict(read_build(folder)["config"])
    return generate_world(config.world), config, load_dataset("world_lifelong:small:n=300")


def test_the_whole_world_is_edited_once_then_insertion_up_to_n(small):
    _, _, ds = small
    cf = [c for c in ds.cases if c.meta["segment"] == COUNTERFACTUAL]
    assert len(ds.cases) == 300 and ds.cases[:len(cf)] == cf  # the counterfactual segment first
    assert len(cf) == 132 == len({(c.meta["subject_id"], c.meta["relation"]) for c in cf})  # world:small's facts
    # the edit language cycles through the 12 languages across both segments, without a jump between them
    assert [c.edit.lang for c in ds.cases] == [LANGS[i % 12] for i in range(300)]
    assert len({c.case_id for c in ds.cases}) == 300


def test_the_counterfactual_segment_is_worlds_cycle(small):
    """The same cases as `world:small:edit_lang=all:mix=cycle`, built in one pass instead of twelve."""
    _, _, ds = small
    cycle = load_dataset("world:small:edit_lang=all:mix=cycle").cases
    head = [c for c in ds.cases if c.meta["segment"] == COUNTERFACTUAL]
    assert [(c.case_id, c.edit, c.probes) for c in head] == [(c.case_id, c.edit, c.probes) for c in cycle]


def test_inserted_persons_are_new_and_their_facts_have_no_old_answer(small):
    world, config, ds = small
    ins = [c for c in ds.cases if c.meta["segment"] == INSERTION]
    assert len(ins) == 168 and all(c.edit.target_true is None and c.meta["object_true"] is None for c in ins)
    seen = seen_names(world, config.n_ghosts, config.icl_eval_pairs)
    latin = {" ".join("".join(p).capitalize() for p in n) for n in seen}
    assert not {c.edit.subject for c in ins if c.edit.lang == "en"} & latin  # never a name the model read
    assert {c.meta["name_style"] for c in ins} == {"shared", "native"}  # both styles, as the world draws them
    assert Counter(c.meta["relation"] for c in ins) == Counter({"birth_city": 42, "employer": 42,
                                                               "occupation": 42, "native_language": 42})
    for c in ins:
        kinds = Counter(p.kind for p in c.probes)
        assert kinds["reliability"] == 12 and kinds["generality"] == 24 and kinds["locality"] > 0
        assert all(p.answer_true is None for p in c.probes if p.kind != "locality")
        assert {p.subject for p in c.probes if p.kind == "locality"}.isdisjoint({c.edit.subject})
    # the inserted birth city decides the birth country (portability), as for the world's own persons
    born = next(c for c in ins if c.meta["relation"] == "birth_city")
    assert sum(p.kind == "portability" for p in born.probes) == 12


def test_untouched_facts_are_no_persons_and_asked_in_every_language(small):
    world, _, ds = small
    assert len(ds.untouched) == len(world.headquarters) + len(world.city_country)
    for c in ds.untouched:
        assert relations()[c.meta["relation"]].subject != "person"
        assert sorted(p.lang for p in c.probes) == sorted(LANGS)
        assert all(p.answer == p.answer_true for p in c.probes)


def test_deterministic_by_seed_and_a_short_n_counts_the_cut():
    a = load_dataset("world_lifelong:small:n=140").cases
    assert [(c.case_id, c.probes) for c in a] == [(c.case_id, c.probes) for c in
                                                  load_dataset("world_lifelong:small:n=140").cases]
    other = load_dataset("world_lifelong:small:n=140:seed=1").cases
    assert [c.edit.target_new for c in a] != [c.edit.target_new for c in other]
    cut = load_dataset("world_lifelong:small:n=100")
    assert len(cut.cases) == 100 and sum(cut.skipped.values()) == 32
    with pytest.raises(PolyeditError, match="world_lifelong dataset: n must be at least 1"):
        load_dataset("world_lifelong:small:n=0")
