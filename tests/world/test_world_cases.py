from collections import Counter

import pytest

from polyedit.data.cases import LOCALITY, PORTABILITY, PROBE_KINDS, RELIABILITY, EditCase
from polyedit.world.cases import make_cases
from polyedit.world.corpus import fact_prompts
from polyedit.world.schema import LANGS
from polyedit.world.world import Fact


@pytest.fixture(scope="module")
def cases(world):
    return make_cases(world, 20, seed=1)


def test_cases_are_deterministic(world, cases):
    assert [c.to_dict() for c in make_cases(world, 20, seed=1)] == [c.to_dict() for c in cases]


def test_every_case_has_all_four_probe_kinds_in_all_12_languages(cases):
    assert len(cases) == 20
    for case in cases:
        assert set(case.languages) == set(LANGS)
        for lang in LANGS:
            kinds = Counter(p.kind for p in case.probes_for(lang))
            assert set(kinds) == set(PROBE_KINDS), (case.case_id, lang, kinds)
            assert kinds[RELIABILITY] == 1 and kinds["generality"] == 2
        assert EditCase.from_dict(case.to_dict()).to_dict() == case.to_dict()


def test_the_edit_is_english_by_default_and_configurable(world, cases):
    assert {c.edit.lang for c in cases} == {"en"}
    de = make_cases(world, 3, edit_lang="de")
    assert {c.edit.lang for c in de} == {"de"}
    assert all(c.edit.prompt in {p.context for p in fact_prompts(world, Fact(c.meta["subject_id"],
               c.meta["relation"], c.meta["object_true"]), "de")} for c in de)


def test_new_object_is_plausible_and_changes_the_two_hop_answer(world, cases):
    for case in cases:
        m = case.meta
        assert m["object_new"] != m["object_true"]
        assert m["object_new"] in world.object_ids({"birth_city": "city", "employer": "organisation"}[m["relation"]])
        assert m["chained_new"] != m["chained_true"]


def test_portability_answers_follow_from_the_chained_facts(world, cases):
    for case in cases:
        m = case.meta
        edit = {(m["subject_id"], m["relation"]): m["object_new"]}
        expected = world.object_of(m["subject_id"], m["chained_relation"], edit)
        kind = {"birth_country": "country", "work_city": "city"}[m["chained_relation"]]
        for p in case.probes_for(kind=PORTABILITY):
            assert p.answer == world.object_name(kind, expected, p.lang)
            old = world.object_of(m["subject_id"], m["chained_relation"])
            assert p.answer_true == world.object_name(kind, old, p.lang)


def test_locality_probes_ask_known_unchanged_facts(world, cases):
    known = {}
    for f in world.facts:
        for lang in world.languages_of(f):
            for p in fact_prompts(world, f, lang):
                known[(lang, p.context)] = (f, p.continuation.strip())
    for case in cases:
        shares_old = False
        for p in case.probes_for(kind=LOCALITY):
            fact, answer = known[(p.lang, p.prompt)]
            assert p.answer == answer
            assert not (fact.subject == case.meta["subject_id"]
                        and fact.relation in (case.meta["relation"], case.meta["chained_relation"]))
            shares_old |= fact.subject != case.meta["subject_id"] and fact.object == case.meta["object_true"]
        subject_other = {known[(p.lang, p.prompt)][0].subject for p in case.probes_for(kind=LOCALITY)}
        assert case.meta["subject_id"] in subject_other  # the subject's other relations
        sharers = [q for q in world.persons if q != case.meta["subject_id"]
                   and world.object_of(q, case.meta["relation"]) == case.meta["object_true"]]
        assert shares_old or not sharers  # a neighbour sharing the old object, whenever one exists
