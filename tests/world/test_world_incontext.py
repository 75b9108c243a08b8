import random

import pytest

from polyedit.world import incontext as ic
from polyedit.world.corpus import COUNTERFACT, GHOST, NEGATIVE, UpdateSampler, incontext_split
from polyedit.world.names import latin


@pytest.fixture(scope="module")
def split(world):
    return incontext_split(world, 30, 10)


def test_documents_use_the_exact_mike_format(world, split):
    sampler = UpdateSampler(world, split.train_ghosts, split.heldout_pairs)
    rng = random.Random(0)
    for _ in range(200):
        u = sampler.sample(rng, {GHOST: 1, COUNTERFACT: 1, NEGATIVE: 1}, 0.3)
        doc = u.doc()
        assert doc.text == u.prompt + u.answer + '"'
        head = doc.text.split("\n\n")[-1]
        assert head.startswith('New Fact: "') and '"\nQuestion: "' in head and '" Answer: "' in head
        for demo in u.demonstrations:
            assert demo.startswith('New fact: "') and demo.endswith('"')
        assert '"' not in u.answer
        assert doc.text[doc.loss_from:] == u.answer + '"'


def test_format_matches_the_in_context_editing_method():
    from polyedit.methods.ike import prompts

    src, alt, q = "Karimo Tasune was born in the city of", "Paris", "Karimo Tasune出生在哪个城市？"
    assert ic.query_prompt(ic.statement(src, alt, "en"), q) == prompts.in_context_prompt([], src, alt, q)
    demo = ic.demonstration("A was born in Rome", "A는 어느 도시에서 태어났습니까?", "로마")
    assert ic.query_prompt(ic.statement(src, alt, "en"), q, [demo]) == prompts.in_context_prompt(
        [("A was born in Rome", "A는 어느 도시에서 태어났습니까?", "로마")], src, alt, q)


def test_heldout_pairs_never_carry_a_training_fact(world, split):
    sampler = UpdateSampler(world, split.train_ghosts, split.heldout_pairs)
    rng = random.Random(1)
    for _ in range(300):
        u = sampler.sample(rng, {COUNTERFACT: 1, NEGATIVE: 1}, 0.0)
        if u.kind == COUNTERFACT:
            assert (u.subject, u.relation) not in split.heldout_pairs


def test_ghosts_are_nobody_in_the_world(world, split):
    names = {latin(p.name) for p in world.persons.values()}
    assert not names & {latin(g) for g in split.train_ghosts + split.eval_ghosts}
    assert not set(split.train_ghosts) & set(split.eval_ghosts)


def test_negatives_keep_the_memorised_answer(world, split):
    sampler = UpdateSampler(world, split.train_ghosts, split.heldout_pairs)
    rng = random.Random(2)
    for _ in range(100):
        u = sampler.negative(rng)
        obj = world.object_of(u.subject, u.relation)
        from polyedit.world.schema import relations
        assert u.answer == world.object_name(relations()[u.relation].object, obj, u.query_lang)
