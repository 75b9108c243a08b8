"""Which demonstrations each setting chooses, on a synthetic pool (no files needed)."""

from __future__ import annotations

from collections import Counter

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.methods.ike.demos import BLOCK, CasePool, Demo, split_question_answer
from polyedit.methods.ike.select import IKE_ROLE_COUNTS, manual_demos, portability_tail, roles
from polyedit.methods.ike.retrieval import CharNgramTfidf, NearestEdits

POOL = [Demo(i + 1, BLOCK[i % 8], f"fact {i + 1}", f"q{i + 1}?", f"a{i + 1}") for i in range(32)]


def ids(demos):
    return [d.id for d in demos]


def test_manual_settings():
    assert ids(manual_demos("zero_shot", POOL, "reliability")) == []
    assert ids(manual_demos("one_shot", POOL, "locality")) == [2]
    assert ids(manual_demos("mixed_8", POOL, "portability")) == [8, 7, 6, 5, 4, 3, 2, 1]
    assert ids(manual_demos("metric_specific_8", POOL, "reliability")) == [1, 2, 9, 10, 17, 18, 25, 26]
    assert ids(manual_demos("metric_specific_8", POOL, "generality")) == [1, 2, 9, 10, 17, 18, 25, 26]
    assert ids(manual_demos("metric_specific_8", POOL, "locality")) == [5, 6, 13, 14, 21, 22, 29, 30]
    assert ids(manual_demos("metric_specific_8", POOL, "portability")) == [7, 8, 15, 16, 23, 24, 31, 32]
    mike = manual_demos("mike_manual_8", POOL, "reliability", seed=0)
    assert sorted(ids(mike)) == [1, 2, 3, 5, 6, 7, 8, 9]  # two of each role: copy 1, 9; update 2, 3; ...
    assert mike == manual_demos("mike_manual_8", POOL, "locality", seed=0)  # fixed for a seed
    assert ids(portability_tail(POOL)) == [8, 7]


def test_roles_follow_the_ike_ratio():
    full = roles(32, seed=0, key="case-1")
    assert Counter(full) == Counter(IKE_ROLE_COUNTS) == Counter({"copy": 4, "update": 12, "retain": 16})
    assert roles(8, 0, "case-1") == full[:8]
    assert roles(32, 0, "case-1") == full and roles(32, 0, "case-2") != full


def test_split_question_answer_routes():
    assert split_question_answer("Wer hatte Biggles geschaffen?W. E. Johns", "de") == (
        "Wer hatte Biggles geschaffen?", "W. E. Johns", "question_mark")
    assert split_question_answer("誰がBigglesを作成したのですか？W. E.ジョンズ", "ja")[:2] == (
        "誰がBigglesを作成したのですか？", "W. E.ジョンズ")
    assert split_question_answer("Τι ήταν;φυματίωση", "el")[:2] == ("Τι ήταν;", "φυματίωση")
    assert split_question_answer('Question: "Wo?" Answer: "Mumbai"', "de") == ("Wo?", "Mumbai", "formatted")
    assert split_question_answer("Ryan Archibalds Eltern sind aus Plymouth", "de")[2] == "cloze"


def _world_like_cases(n=40):
    cases = []
    for i in range(n):
        probes = [Probe("generality", "de", f"Wo wurde P{i} geboren?", f"Stadt{i}"),
                  Probe("locality", "de", f"Hauptstadt von L{i}?", f"Ort{i}"),
                  Probe("portability", "de", f"Land von P{i}?", f"Land{i}"),
                  Probe("reliability", "de", f"P{i} wurde geboren in", f"Stadt{i}")]
        cases.append(make_case(f"c{i}", "en", f"P{i}", f"P{i} was born in", f"City{i}", probes=probes))
    return cases


def test_case_pool_layout_and_exclusion():
    pool = CasePool("world", _world_like_cases())
    demos = pool.demos("de")
    assert [d.role for d in demos] == list(BLOCK) * 4
    assert len({d.fact for d in demos}) == 32  # each from a different case
    assert demos[0].question == "P0 wurde geboren in" and demos[1].question == "Wo wurde P1 geboren?"
    assert "c0" in pool.sources("de")


def test_tfidf_nearest_prefers_shared_ngrams():
    index = NearestEdits(["Paris is the capital of France", "Tokyo is in Japan", "Berlin capital Germany"],
                         CharNgramTfidf())
    assert index.nearest("capital of France Paris", 2) == [0, 2]
    assert index.nearest("capital of France Paris", 2, exclude={0})[0] == 2


def test_bad_setting_is_one_clear_error():
    from polyedit.errors import PolyeditError
    from polyedit.methods.base import get_method

    with pytest.raises(PolyeditError, match="unknown setting"):
        get_method("ike", {"setting": "nine_shot"})


def test_world_pool_from_a_corpus_never_shows_a_case_its_own_edit(tmp_path):
    import json

    from polyedit.methods.base import get_method

    cases = _world_like_cases(36)
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases), "utf-8")
    m = get_method("ike", {"setting": "mixed_8", "pool": "world", "corpus": f"jsonl:{path}"})
    for case in (cases[0], cases[35], cases[30]):
        h = m.apply_cases(None, [case])
        demos = h.demos_for(case.probes[1])
        assert len(demos) == 8 and [d.role for d in demos] == list(BLOCK)[::-1]
        assert all(f"P{case.case_id[1:]} was born in" not in d.fact for d in demos)
        assert h.transform_prompt(case.probes[1]).endswith('Question: "Wo wurde P%s geboren?" Answer: "'
                                                           % case.case_id[1:])


def test_edit_in_a_language_without_spaces_joins_the_fact_without_one():
    from polyedit.methods.ike.prompts import fact_text, in_context_prompt

    assert fact_text("When was X founded?", "2006", "en") == "When was X founded? 2006"
    assert fact_text("アナの出身地は", "東京", "ja") == "アナの出身地は東京"
    assert in_context_prompt([], "アナの出身地は", "東京", "Q", "ja") == (
        'New Fact: "アナの出身地は東京"\nQuestion: "Q" Answer: "')


def test_demonstrations_come_from_what_the_dataset_declares(tmp_path):
    """No dataset is named in the method: a case without declared demonstrations is one clear error, and a
    case that declares a corpus draws its demonstrations from it."""
    import json

    from polyedit.errors import PolyeditError
    from polyedit.methods.base import get_method

    cases = _world_like_cases(36)
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases), "utf-8")
    m = get_method("ike", {"setting": "mixed_8"})
    with pytest.raises(PolyeditError, match="declares no demonstrations"):
        m.apply_cases(None, [cases[0]])
    cases[0].meta["demo_corpus"] = f"jsonl:{path}"
    h = m.apply_cases(None, [cases[0]])
    assert h.info["pool"] == f"jsonl:{path}" and len(h.demos_for(cases[0].probes[1])) == 8


def test_retrieval_fallback_to_tfidf_is_a_note_and_a_warning(tmp_path, caplog):
    import json

    from polyedit.methods.base import get_method

    cases = _world_like_cases(36)
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases), "utf-8")
    m = get_method("ike", {"setting": "mike_search", "pool": "cases", "corpus": f"jsonl:{path}",
                           "embedding_model": str(tmp_path / "no-such-model")})
    with caplog.at_level("WARNING", logger="polyedit"):
        h = m.apply_cases(None, [cases[0]])
    assert h.info["embedder"].startswith("tfidf")
    assert len(h.info["notes"]) == 1 and "TF-IDF, not sentence-transformers" in h.info["notes"][0]
    assert any("TF-IDF, not sentence-transformers" in r.getMessage() for r in caplog.records)
    with_tfidf = get_method("ike", {"setting": "mike_search", "pool": "cases", "corpus": f"jsonl:{path}",
                                    "embedder": "tfidf"}).apply_cases(None, [cases[0]])
    assert "notes" not in with_tfidf.info  # asked for: nothing to say
