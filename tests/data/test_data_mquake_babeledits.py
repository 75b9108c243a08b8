"""MQuAKE and BabelEdits: known answers on fixtures written from their published schemas (princeton-nlp/MQuAKE's
README; umanlp/babeledits' pipeline and edit.py), since no data of theirs is at hand."""

from __future__ import annotations

from collections import Counter

import pytest

from polyedit.data.problems import SUBJECT_MISSING, validate_path
from polyedit.data.registry import dataset_names, load_dataset
from polyedit.errors import PolyeditError


def probes(case, lang, kind):
    return [(p.prompt, p.answer, p.answer_true, p.aliases) for p in case.probes_for(lang, kind)]


# --- MQuAKE --------------------------------------------------------------------------------------------

def test_mquake_known_answers(fixtures):
    ds = load_dataset(f"mquake:{fixtures / 'mquake.json'}")
    assert [c.case_id for c in ds.cases] == ["mquake-1-0", "mquake-2-0", "mquake-2-1", "mquake-4-0"]
    ana = ds.cases[0]
    assert (ana.edit.prompt, ana.edit.subject, ana.edit.target_new, ana.edit.target_true) == (
        "Ana Lind is a citizen of", "Ana Lind", "Peru", "Norway")
    assert probes(ana, "en", "generality") == [
        ("What is the country of citizenship of Ana Lind?", "Peru", "Norway", ())]
    port = probes(ana, "en", "portability")
    assert len(port) == 3 and {p[1:] for p in port} == {("Lima", "Oslo", ("Lima, Peru", "Ciudad de los Reyes"))}
    assert "Ciudad de los Reyes" in ana.probes_for("en", "portability")[0].answers
    # two rewrites: one case each, no multi-hop probes (they need both applied), the group kept in meta
    assert [c.edit.prompt for c in ds.cases[1:3]] == ["Bo Ek works for", "The chief executive officer of Acme is"]
    assert all(not c.probes_for(kind="portability") and c.meta["instance"] == 2 and c.meta["rewrites"] == 2
               for c in ds.cases[1:3])
    assert ds.cases[3].edit.target_new == "Bergen" and not ds.cases[3].edit.subject_in_prompt  # bare-string target
    assert ds.skipped == Counter({"multi-hop probes of multi-edit instances dropped": 1, "malformed records": 1,
                                  "rewrites without a usable edit": 1, SUBJECT_MISSING: 1})
    assert [c.meta["subject_key"] for c in ds.cases] == ["Ana Lind", "Bo Ek", "Acme", "Gro Dahl"]
    assert load_dataset(f"mquake:{fixtures / 'mquake.json'}:lang=de").cases[0].edit.lang == "de"


def test_mquake_validate_names_file_record_field(fixtures):
    problems = [str(p) for p in validate_path(fixtures / "mquake.json", "mquake")]
    assert any("record 2 field requested_rewrite[0].target_new" in p for p in problems)
    assert any(p.endswith("record 3: expected an object, got str") for p in problems)


# --- BabelEdits ----------------------------------------------------------------------------------------

def test_babeledits_known_answers(fixtures):
    ds = load_dataset(f"babeledits:{fixtures / 'babeledits.json'}")
    assert [c.case_id for c in ds.cases] == ["babeledits-bn:00000001n-country_of_citizenship",
                                             "babeledits-bn:00000003n-employer"]
    ana = ds.cases[0]
    assert (ana.edit.lang, ana.edit.prompt, ana.edit.target_new, ana.edit.target_true) == (
        "en", "Ana Lind is a citizen of", "Peru", "Norway")
    assert ana.meta["subject_key"] == "bn:00000001n" and ana.meta["variant"] == "mt_marked"
    # mt_marked prompts are answered by targets_mt_marked, with targets_aliases
    assert probes(ana, "de", "reliability") == [
        ("Ana Lind ist Staatsbürgerin von", "Peru", "Norwegen", ("Republik Peru",))]
    assert probes(ana, "ja", "generality") == [("アナ・リンドが持つ国籍は", "ペルー", "ノルウェー", ())]
    assert probes(ana, "ja", "locality") == [("アナ・リンドの出身地は", "ベルゲン", None, ())]
    assert probes(ana, "en", "locality") == [("Ana Lind was born in", "Bergen", None, ("Bergen, Norway",))]
    # multi-hop (aliases under the name utils.extract_aliases reads) and subject-alias prompts
    assert probes(ana, "en", "portability") == [
        ("The capital of the country Ana Lind is a citizen of is", "Lima", None, ("Lima, Peru",)),
        ("A. Lind is a citizen of", "Peru", "Norway", ("Republic of Peru",))]
    assert probes(ana, "de", "portability")[1][0] == "A. Lind ist Staatsbürgerin von"  # a bare string, not a list
    bo = ds.cases[1]
    assert probes(bo, "de", "locality") == []  # no German locality answer: dropped, counted
    assert probes(bo, "en", "reliability")[0][3] == ("Acme Corp",)  # a bare-string alias list
    assert ds.skipped == Counter({"de: locality probes dropped": 1, "malformed records": 1,
                                  "relations without an edit": 1, "unknown language codes": 1})


def test_babeledits_other_edit_language_and_variants(fixtures):
    de = load_dataset(f"babeledits:{fixtures / 'babeledits.json'}:edit_lang=de")
    assert [c.edit.prompt for c in de.cases] == ["Ana Lind ist Staatsbürgerin von", "Der Arbeitgeber von Herrn Ek ist"]
    # "Bo Eks" is not in the German prompt, nor "Bo Ek" (the authors' loose rule): kept and flagged
    assert not de.cases[1].edit.subject_in_prompt and de.skipped[f"de: {SUBJECT_MISSING}"] == 1
    assert {p.lang for p in de.cases[0].probes} == {"de", "en", "ja"}
    gloss = load_dataset(f"babeledits:{fixtures / 'babeledits.json'}:variant=gloss")
    assert [c.edit.prompt for c in gloss.cases] == ["Ana Lind is a citizen of"]
    assert probes(gloss.cases[0], "de", "reliability") == [("Ana Lind ist Bürgerin des Landes", "Peru", "Norwegen",
                                                           ("Republik Peru",))]
    with pytest.raises(PolyeditError, match="variant 'raw': expected one of mt_marked, mt, gloss"):
        load_dataset(f"babeledits:{fixtures / 'babeledits.json'}:variant=raw")


def test_babeledits_top_level_must_be_an_object(tmp_path):
    path = tmp_path / "b.json"
    path.write_text("[]", "utf-8")
    with pytest.raises(PolyeditError, match="expected a JSON object keyed by synset id"):
        load_dataset(f"babeledits:{path}")


@pytest.mark.parametrize("name", ["mzsre", "bizsre", "mlake", "mquake", "babeledits"])
def test_data_list_and_missing_files_say_where_to_get_them(name, tmp_path):
    assert "github.com/" in dataset_names()[name]
    with pytest.raises(PolyeditError, match=f"^{name}: no file or folder at .*github.com/"):
        load_dataset(f"{name}:{tmp_path / 'absent'}")
