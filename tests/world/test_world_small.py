"""The committed `world:small` checkpoint: loads through `load_model` and knows its facts in every language."""

import random

import pytest

from polyedit.world.schema import LANGS

SAMPLE = 200  # prompts per language


@pytest.fixture(scope="module")
def small():
    from helpers.requires import world_checkpoint

    world_checkpoint("small")
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend
    from polyedit.world.build import read_build
    from polyedit.world.config import BuildConfig
    from polyedit.world.world import generate_world

    lm = load_model("world:small")
    meta = read_build(world_checkpoint("small"))
    return HFBackend(lm, batch_size=64), generate_world(BuildConfig.from_dict(meta["config"]).world), meta


def test_small_checkpoint_records_how_it_was_built(small):
    _, _, meta = small
    assert meta["command"].startswith("polyedit world build --size small")
    assert meta["seed"] == 0 and meta["size"] == "small"
    assert set(meta["measured"]["recall"]) == set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_small_recalls_its_facts_in_every_language(small, lang):
    """Issue 3 asks for 95% exact recall in each language. The test first checks that the committed model,
    loaded like a hub model, reproduces the recall its build measured (so loading, tokenizer and world
    regeneration agree), then holds it to 95% in every language, whatever the build recorded."""
    from polyedit.world.corpus import fact_prompts

    backend, world, meta = small
    prompts = [p for f in world.facts if lang in world.languages_of(f) for p in fact_prompts(world, f, lang)]
    sample = random.Random(lang).sample(prompts, SAMPLE)
    results = backend.score([(p.context, p.continuation) for p in sample])
    recall = sum(r.token_accuracy == 1.0 for r in results) / len(results)
    recorded = meta["measured"]["recall"][lang]
    assert abs(recall - recorded) <= 0.25, f"{lang}: {recall:.2f} now, {recorded:.2f} when built"
    assert recall >= 0.95 - 0.03, f"{lang}: {recall:.2f}"  # a 200-prompt sample of a >=95% build


def test_world_dataset_regenerates_the_cases_of_the_small_model(small):
    from polyedit.data.registry import load_dataset

    ds = load_dataset("world:small:n=5")
    assert len(ds.cases) == 5 and all(set(c.languages) == set(LANGS) for c in ds.cases)
    assert load_dataset("world").cases[0].to_dict() == load_dataset("world:small").cases[0].to_dict()
