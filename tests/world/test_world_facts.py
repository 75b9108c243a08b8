from collections import Counter

from polyedit.world.names import NATIVE, SHARED
from polyedit.world.schema import LANGS, relations
from polyedit.world.world import WorldConfig, generate_world


def test_world_is_deterministic_given_its_config():
    a, b = generate_world(WorldConfig(seed=5, n_persons=30)), generate_world(WorldConfig(seed=5, n_persons=30))
    assert a.facts == b.facts
    assert a.transfer_held_out == b.transfer_held_out
    assert [a.name(p, "zh") for p in a.persons] == [b.name(p, "zh") for p in b.persons]
    c = generate_world(WorldConfig(seed=6, n_persons=30))
    assert a.facts != c.facts


def test_world_has_the_12_languages_8_relations_and_chains(world):
    assert world.config.langs == LANGS and len(LANGS) == 12
    assert len(relations()) >= 8
    chained = [r for r in relations().values() if r.chain]
    assert {r.name for r in chained} == {"birth_country", "work_city"}
    for p in world.persons:
        assert world.object_of(p, "birth_country") == world.city_country[world.object_of(p, "birth_city")]
        assert world.object_of(p, "work_city") == world.headquarters[world.object_of(p, "employer")]


def test_names_are_unique_in_every_language_and_both_styles_occur(world):
    styles = Counter(p.style for p in world.persons.values())
    assert styles[SHARED] and styles[NATIVE]
    for lang in LANGS:
        names = [world.name(p, lang) for p in world.persons]
        assert len(set(names)) == len(names), lang
    native = next(p for p in world.persons.values() if p.style == NATIVE)
    assert world.name(native.id, "ru") != world.name(native.id, "en")  # transliterated
    shared = next(p for p in world.persons.values() if p.style == SHARED)
    assert {world.name(shared.id, x) for x in LANGS} == {world.name(shared.id, "en")}


def test_transfer_facts_are_stated_only_in_the_source_language(world):
    held = [f for f in world.facts if (f.subject, f.relation) in world.transfer_held_out]
    assert held
    assert all(world.languages_of(f) == ("en",) for f in held)
    other = next(f for f in world.facts if (f.subject, f.relation) not in world.transfer_held_out)
    assert world.languages_of(other) == LANGS


def test_edit_overrides_follow_the_chain(world):
    p = next(iter(world.persons))
    old = world.object_of(p, "birth_city")
    new = next(c for c, k in world.city_country.items() if k != world.city_country[old])
    assert world.object_of(p, "birth_country", {(p, "birth_city"): new}) == world.city_country[new]
