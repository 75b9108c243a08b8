"""MLaKE on the published files (../shared/data/mlake): single-hop facts edited in each of the five
languages, answer aliases carried into the probes, multi-hop questions joined to the edits; every count
and quirk of the folder's README. Each edit language is loaded once per session. The edge cases the
published files do not have are checked on a small folder written by the last test."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers.requires import shared

from polyedit.data.mlake import MLAKE_LANGUAGES, derive_subject
from polyedit.data.registry import load_dataset
from polyedit.data.splits import subject_key

NEW_COUNTS = {"en": 1024, "de": 731, "fr": 701, "ja": 909, "zh": 789}  # multi_hop/new_<lang>_qa.json
OLD_COUNTS = {"en": 916, "de": 765, "fr": 782, "ja": 849, "zh": 760}


@pytest.fixture(scope="session")
def mlake():
    root = shared("data/mlake/dataset")
    return {lang: load_dataset(f"mlake:{root}:edit_lang={lang}") for lang in MLAKE_LANGUAGES}


@pytest.mark.parametrize("lang", MLAKE_LANGUAGES)
def test_mlake_1072_facts_edited_in_every_language(mlake, lang):
    ds = mlake[lang]
    assert len(ds.cases) == 1072 and {c.edit.lang for c in ds.cases} == {lang}
    per = Counter((p.lang, p.kind) for c in ds.cases for p in c.probes)
    assert all(per[(pl, "reliability")] == 1072 for pl in MLAKE_LANGUAGES)
    # every new_* question joins its fact through the English e_prompt, whatever its own language
    assert {pl: per[(pl, "portability")] for pl in MLAKE_LANGUAGES} == NEW_COUNTS
    assert not any(k.endswith("new multi-hop questions joining no fact") for k in ds.skipped)
    assert per[("en", "locality")] == 0  # MLaKE has no locality questions
    assert all(c.edit.subject_in_prompt and c.meta["subject_derived"] for c in ds.cases)
    assert ds.protocols == ["answer", "generation", "token_f1"]


def test_an_answer_matching_only_an_alias_is_scored_correct(mlake):
    """The issue's check: a generated answer equal to an alias (BBC) but not the main answer (英国放送協会)
    counts under the headline protocol; the strict main-answer exact match does not count it."""
    from polyedit.evaluation.engine import evaluate
    from polyedit.models.backend import Generation

    case = mlake["en"].cases[0].restrict(["ja"])
    probe = case.probes_for("ja", "reliability")[0]
    assert probe.answer != "BBC" and "BBC" in probe.aliases

    class Answers:  # a model that answers the Japanese question "BBC。" and nothing else
        capabilities = frozenset({"generate"})

        def tokenize(self, text):
            return list(text)

        def generate(self, prompts, n, stop=()):
            return [Generation("BBC。" if p == probe.prompt else "", []) for p in prompts]

    ev = evaluate(Answers(), [case], mlake["en"].protocols)
    (got,) = [r.metrics for r in ev.results if r.probe is probe]
    assert got["answer_em"] == 1.0 and got["exact_match"] == 0.0


def test_mlake_aliases_are_in_the_probes(mlake):
    sagan = mlake["en"].cases[0]
    ja = sagan.probes_for("ja", "reliability")[0]
    assert (ja.answer, ja.aliases) == ("英国放送協会", ("BBC", "イギリス放送協会"))
    assert "BBC" in ja.answers and ja.answer_true == "コーネル大学"
    port = next(p for p in sagan.probes_for("en", "portability") if p.prompt.startswith("In which country"))
    assert port.answer == "United Kingdom" and {"UK", "Great Britain", "U.K."} <= set(port.answers)
    # the old answers' aliases are kept beside the case (Probe has one answer_true)
    assert sagan.meta["answer_true_aliases"]["en"] == ["Cornell", "CUI", "cornell.edu", "CU", "Cornell Univ."]
    # an edit language's own reliability probe (the edit itself) carries them too
    de = mlake["de"].cases[3]
    assert de.probes[0].prompt == de.edit.prompt and de.probes[0].lang == "de"
    assert "Vereinigte Königreich" not in de.probes[0].answers  # that alias is of the OLD answer
    assert de.meta["answer_true_aliases"]["de"][:3] == ["GBR", "Teheranerinnen", "Vereinigte Königreich"]
    n_aliased = sum(bool(p.aliases) for c in mlake["en"].cases for p in c.probes)
    assert n_aliased > 500


def test_mlake_old_multi_hop_answers_become_answer_true_where_questions_match(mlake):
    sagan = mlake["en"].cases[0]
    hq = next(p for p in sagan.probes_for("en", "portability") if "primary headquarters" in p.prompt)
    assert (hq.answer, hq.answer_true) == ("London", "Ithaca")
    ds = mlake["en"]
    joined = {pl: sum(p.answer_true is not None for c in ds.cases for p in c.probes_for(pl, "portability"))
              for pl in MLAKE_LANGUAGES}
    unjoined = {pl: ds.skipped[f"{pl}: old multi-hop questions joining no edit (not loaded)"]
                for pl in MLAKE_LANGUAGES}
    assert unjoined == {"en": 830, "de": 687, "fr": 755, "ja": 807, "zh": 701}
    # each old question either gives an answer_true or is counted (one duplicate in de and zh)
    dup = {"de": 1, "zh": 1}
    for pl in MLAKE_LANGUAGES:
        assert unjoined[pl] + (OLD_COUNTS[pl] - unjoined[pl] - dup.get(pl, 0)) + dup.get(pl, 0) == OLD_COUNTS[pl]
        assert joined[pl] >= OLD_COUNTS[pl] - unjoined[pl] - dup.get(pl, 0) - 10  # unchanged answers drop it


def test_mlake_quirks_counted(mlake):
    zh = mlake["zh"].skipped
    assert zh["zh: single-hop questions shared by several records (kept)"] == 1  # "Valve的领导人是谁？"
    en = mlake["en"].skipped
    assert en["en: generality probes dropped (answer not in e_prompt)"] == 47
    # most alias lists are empty (no other name; not counted as a defect)
    assert sum(not p.aliases for c in mlake["en"].cases for p in c.probes_for("en", "reliability")) == 1023
    assert sum(not p.aliases for c in mlake["en"].cases for p in c.probes_for("zh", "reliability")) == 1056


def test_mlake_subjects_and_split_keys(mlake):
    assert derive_subject("Where did Carl Sagan work during his career?", "Carl Sagan worked at", "en") == "Carl Sagan"
    assert derive_subject("カール・セーガンが関わった教育機関は何ですか？", "カール・セーガンは、", "ja") == "カール・セーガン"
    # the English subject, found verbatim in a German question, is preferred
    assert mlake["de"].cases[0].edit.subject == "Carl Sagan"
    keys = {lang: [subject_key(c) for c in ds.cases] for lang, ds in mlake.items()}
    assert all(k == keys["en"] for k in keys.values())  # one fact, one key, whatever the edit language
    assert keys["en"][0] == "carl sagan"


def test_mlake_edge_cases_on_a_small_folder(tmp_path):
    import json

    def write(rel, recs):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(json.dumps(recs, ensure_ascii=False), "utf-8")

    fact = {"question": "Where did Ana Lind work?", "o_prompt": "Ana Lind worked at Acme.", "o_answer": "Acme",
            "o_answer_aliases": ["Acme Inc."], "e_prompt": "Ana Lind worked at Globex.", "e_answer": "Globex",
            "e_answer_aliases": ["Globex Corp"]}
    odd = dict(fact, question="Who employs Bo Ek?", e_prompt="Globex employs Bo Ek.", e_answer_aliases=[""])
    write("dataset/single_hop/en_qa.json", [fact, odd])
    write("dataset/single_hop/de_qa.json", [dict(fact, question="Wo arbeitete Ana Lind?",
                                                 e_prompt="Ana Lind arbeitete bei Globex.")])  # one record only
    write("dataset/multi_hop/new_de_qa.json", [
        {"question": "Wo sitzt Ana Linds Arbeitgeber?", "e_prompt": "Ana Lind worked at Globex.",
         "e_answer": "Springfield", "e_answer_aliases": []},
        {"question": "?", "e_prompt": "Not an English edit sentence.", "e_answer": "x"}])
    write("dataset/multi_hop/old_de_qa.json", [
        {"question": "Wo sitzt Ana Linds Arbeitgeber?", "o_answer": "Shelbyville", "o_answer_aliases": []},
        {"question": "Eine andere Frage?", "o_answer": "y", "o_answer_aliases": []}])
    ds = load_dataset(f"mlake:{tmp_path}:langs=en,de")  # the folder above dataset/ is accepted
    assert [c.case_id for c in ds.cases] == ["mlake-0", "mlake-1"]
    ana, bo = ds.cases
    assert ana.edit.subject == "Ana Lind" and [p.prompt for p in ana.probes_for("de", "generality")] == [
        "Ana Lind arbeitete bei"]
    port = ana.probes_for("de", "portability")
    # joined on the English e_prompt; the old answer from the old file's same question
    assert [(p.answer, p.answer_true) for p in port] == [("Springfield", "Shelbyville")]
    assert bo.probes_for("en", "generality") == []  # the answer opens e_prompt: no statement to complete
    assert bo.probes_for("de") == []  # the German file lacks the fact
    assert bo.probes_for("en", "reliability")[0].aliases == ()  # a malformed alias list loses only the aliases
    assert ds.skipped == Counter({"de: facts missing from the file": 1,
                                  "de: new multi-hop questions joining no fact": 1,
                                  "de: old multi-hop questions joining no edit (not loaded)": 1,
                                  "en: generality probes dropped (answer not in e_prompt)": 1,
                                  "malformed alias lists (aliases dropped)": 1})
