"""Round trip through the benchmark formats: knowledge-world cases exported as MKEB and BMIKE-53 files
(polyedit.world.export) load back as the same cases, up to what each format cannot carry."""

from collections import Counter

import pytest

from polyedit.data.registry import load_dataset
from polyedit.world import WorldConfig, generate_world
from polyedit.world.cases import make_cases
from polyedit.world.export import export_bmike53, export_mkeb


@pytest.fixture(scope="module")
def world_cases():
    return make_cases(generate_world(WorldConfig(seed=0, n_persons=12)), 3)


def _probes(case):
    # Neither format records a locality prompt's subject (it may be about another entity) or the old answer
    # of a multi-hop question.
    return Counter((p.kind, p.lang, p.prompt, p.answer, p.answer_true if p.kind != "portability" else None,
                    p.subject if p.kind != "locality" else None) for p in case.probes)


def test_mkeb_round_trip(world_cases, tmp_path):
    ds = load_dataset(f"mkeb:{export_mkeb(world_cases, tmp_path / 'mkeb.json')}")
    assert not ds.skipped and len(ds.cases) == len(world_cases)
    for original, loaded in zip(world_cases, ds.cases):
        assert loaded.edit == original.edit
        assert _probes(loaded) == _probes(original)


def test_bmike53_round_trip(world_cases, tmp_path):
    folder = export_bmike53(world_cases, tmp_path / "bmike")
    ds = load_dataset(f"bmike53:counterfact:dir={folder.parent}")
    assert not ds.skipped and len(ds.cases) == len(world_cases)
    langs = set(world_cases[0].languages)
    for original, loaded in zip(world_cases, ds.cases):
        assert loaded.edit == original.edit
        # one probe of each kind per language
        assert Counter((p.kind, p.lang) for p in loaded.probes) == Counter(
            {(k, lang): 1 for k in ("reliability", "generality", "locality", "portability") for lang in langs})
        # a subset of the original probes: BMIKE keeps one paraphrase, one locality and one portability prompt
        assert set(_probes(loaded)) <= set(_probes(original))
