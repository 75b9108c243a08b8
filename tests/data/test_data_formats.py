"""Known-answer tests of the MKEB, MzsRE and EasyEdit loaders on small fixture files."""

import json
from collections import Counter

import pytest

from polyedit.data.problems import SUBJECT_MISSING
from polyedit.data.registry import dataset_names, load_dataset
from polyedit.errors import PolyeditError


def probes(case, lang, kind):
    return [(p.prompt, p.answer, p.answer_true) for p in case.probes_for(lang, kind)]


def test_registry_knows_every_format():
    names = dataset_names()
    assert {"bmike53", "mkeb", "mzsre", "easyedit-zsre", "easyedit-counterfact", "jsonl"} <= set(names)


@pytest.mark.parametrize("spec", ["bmike53:zsre:langs=de:dir={f}/bmike53",
                                  "bmike53:wikifactdiff:langs=af:dir={f}/bmike53", "mkeb:{f}/mkeb.json",
                                  "mzsre:{f}/mzsre", "easyedit-zsre:{f}/easyedit_zsre.json",
                                  "easyedit-counterfact:{f}/easyedit_counterfact.json"])
def test_benchmark_protocols_are_registered(fixtures, spec):
    from polyedit.evaluation.protocols import protocol_names

    ds = load_dataset(spec.format(f=fixtures))
    assert ds.protocols and set(ds.protocols) <= set(protocol_names())


# --- MKEB (MEMLA) ----------------------------------------------------------------------------------------

def test_mkeb_known_answers(fixtures):
    ds = load_dataset(f"mkeb:{fixtures / 'mkeb.json'}")
    assert [c.case_id for c in ds.cases] == ["mkeb-0", "mkeb-2"]
    assert ds.protocols == ["prob_compare_total", "token_set_f1"]
    case = ds.cases[0]
    assert (case.edit.lang, case.edit.prompt, case.edit.subject, case.edit.target_new, case.edit.target_true) == (
        "en", "Danny Green is a citizen of", "Danny Green", "Canada", "United States")
    assert case.meta["relation_description"] == "country of citizenship" and case.meta["example_id"] == 0
    assert probes(case, "en", "reliability") == [("Danny Green is a citizen of", "Canada", "United States")]
    assert probes(case, "zh", "reliability") == [("丹尼·格林是哪国公民？", "加拿大", "美国")]
    assert probes(case, "en", "generality") == [("Danny Green holds citizenship of", "Canada", "United States"),
                                               ("The nationality of Danny Green is", "Canada", "United States")]
    assert probes(case, "fr", "locality") == [("Wayne Gretzky est citoyen de", "Canada", None)]
    assert probes(case, "en", "portability") == [
        ("The head of state of Danny Green's country is", "Charles III", None),
        ("Danny Green's country is led by", "Charles III", None)]
    assert probes(case, "fr", "portability") == []  # no multi-hop block in fr: nothing, nothing counted
    kenya = ds.cases[1]
    assert probes(kenya, "zh", "reliability") == [("肯尼亚的首都是", "利马", "内罗毕")]  # zh-cn -> zh
    assert kenya.probes_for("fr", "locality") == []
    assert ds.skipped == Counter({"en: records without the edit-language block": 1,
                                  "fr: locality probes dropped (prompts and answers differ in number)": 1})


def test_mkeb_edit_in_another_source_language_and_langs(fixtures):
    ds = load_dataset(f"mkeb:{fixtures / 'mkeb.json'}:edit_lang=zh:langs=zh,en")
    assert len(ds.cases) == 3
    case = ds.cases[0]
    assert (case.edit.lang, case.edit.prompt, case.edit.target_new) == ("zh", "丹尼·格林是哪国公民？", "加拿大")
    assert {p.lang for c in ds.cases for p in c.probes} == {"zh", "en"}
    assert probes(case, "en", "reliability") == [("Danny Green is a citizen of", "Canada", "United States")]
    assert case.meta["subject_key"] == "Danny Green"  # the English subject: one split side per fact


def test_mkeb_folder_reads_json_only(fixtures, tmp_path):
    (tmp_path / "a.json").write_text((fixtures / "mkeb.json").read_text("utf-8"), "utf-8")
    (tmp_path / "neurons.pk").write_bytes(b"\x80\x04not for us")
    assert len(load_dataset(f"mkeb:{tmp_path}").cases) == 2


def test_mkeb_prompt_without_slot_or_subject(tmp_path):
    rec = {"example_id": 5, "edit": {"en": {"prompt": "Where was he born?", "subject": "Li Bai", "target_new": "X"}},
           "paraphrase_prompts": {}, "neighborhood_prompts": {}, "neighborhood_answers": {}}
    good = dict(rec, example_id=6,
                edit={"en": {"prompt": "Where was Li Bai born?", "subject": "Li Bai", "target_new": "X"}})
    path = tmp_path / "m.json"
    path.write_text(json.dumps([rec, good]), "utf-8")
    ds = load_dataset(f"mkeb:{path}")
    # kept, flagged and counted: methods that locate the subject use the fallback rule
    assert [c.edit.prompt for c in ds.cases] == ["Where was he born?", "Where was Li Bai born?"]
    assert [c.edit.subject_in_prompt for c in ds.cases] == [False, True]
    assert ds.skipped == Counter({f"en: {SUBJECT_MISSING}": 1})


def test_mkeb_nothing_usable_is_an_error(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"example_id": 1}]), "utf-8")
    with pytest.raises(PolyeditError, match="no usable record; first problem: .*record 0 field edit: missing"):
        load_dataset(f"mkeb:{path}")
    with pytest.raises(PolyeditError, match="needs a path"):
        load_dataset("mkeb")


# --- MzsRE (ReMaKE) --------------------------------------------------------------------------------------

def test_mzsre_known_answers(fixtures):
    ds = load_dataset(f"mzsre:{fixtures / 'mzsre'}")
    assert len(ds.cases) == 2 and ds.protocols == ["token_accuracy"]
    case = ds.cases[0]
    assert (case.edit.lang, case.edit.prompt, case.edit.target_new, case.edit.subject) == (
        "en", "What is the native language of Ilya Ehrenburg?", "French", "Ilya Ehrenburg")
    # `cz` is Czech: normalised to cs; the nq marker is removed from locality questions
    assert probes(case, "cs", "reliability") == [("Jaký je rodný jazyk Ilji Erenburga?", "francouzština", None)]
    assert probes(case, "zh", "locality") == [("谁唱了hey there delilah", "Plain White T's", None)]
    assert probes(case, "en", "locality") == [("who sings the song hey there delilah", "Plain White T's", None)]
    assert probes(case, "zh", "portability") == [("伊利亚·爱伦堡的母语主要在哪个国家使用？", "法国", None)]
    assert len(case.probes_for("en")) == 4  # the edit itself + generality, locality, portability, once
    assert case.probes_for("cs", "locality") == []
    assert case.meta["subject_key"] == "ilya ehrenburg"
    # zhcz holds no language the en-X files lack: not read (the published 121-file folder repeats each
    # language's records in 11 files)
    assert ds.skipped == Counter({"cs: locality probes with an empty or missing loc_ans": 1,
                                  "cs: records without the language's block": 1,
                                  "files adding no language (not read)": 1,
                                  "language codes mapped (cz -> cs)": 1,
                                  "en: 'nq question: ' markers removed": 2, "zh: 'nq question: ' markers removed": 2})


def test_mzsre_any_edit_language_joins_the_pair_files(fixtures):
    ds = load_dataset(f"mzsre:{fixtures / 'mzsre'}:edit_lang=cz")  # MzsRE's own code is accepted
    assert [c.case_id for c in ds.cases] == ["mzsre-0"]  # the fact's id, whatever the edit language
    case = ds.cases[0]
    assert (case.edit.lang, case.edit.prompt, case.edit.target_new) == (
        "cs", "Jaký je rodný jazyk Ilji Erenburga?", "francouzština")
    # the Czech prompt inflects the subject: kept, flagged, counted
    assert not case.edit.subject_in_prompt
    assert ds.skipped[f"cs: {SUBJECT_MISSING}"] == 1 and ds.skipped["records without the edit-language block"] == 1
    # zh probes come from the en-zh file, joined to the en-cz file's fact by record position
    assert probes(case, "zh", "reliability") == [("伊利亚·爱伦堡的母语是什么？", "法语", None)]
    assert probes(case, "en", "reliability") == [("What is the native language of Ilya Ehrenburg?", "French", None)]
    assert case.meta["subject_key"] == "ilya ehrenburg"  # the English subject: one split side per fact
    zh = load_dataset(f"mzsre:{fixtures / 'mzsre'}:edit_lang=zh")
    assert [c.edit.prompt for c in zh.cases] == ["伊利亚·爱伦堡的母语是什么？", "哪条河流经维也纳？"]
    assert {p.lang for p in zh.cases[0].probes} == {"en", "cs", "zh"}


def test_mzsre_blocks_that_differ_between_files_are_counted(fixtures, tmp_path):
    # encz (read first, by name) and zhcz both hold cs; their cs blocks differ (loc_ans): the first is kept
    for name in ("mzsre_test_duplicate_zhcz.json", "mzsre_test_duplicate_encz.json"):
        (tmp_path / name).write_text((fixtures / "mzsre" / name).read_text("utf-8"), "utf-8")
    ds = load_dataset(f"mzsre:{tmp_path}:edit_lang=zh")
    assert ds.skipped["cs: blocks that differ between files (first kept)"] == 1
    assert probes(ds.cases[0], "cs", "locality") == []
    assert probes(ds.cases[0], "zh", "reliability") == [("伊利亚·爱伦堡的母语是什么？", "法语", None)]


def test_mzsre_langs_and_single_file(fixtures):
    ds = load_dataset(f"mzsre:{fixtures / 'mzsre'}:langs=cs")
    assert {p.lang for c in ds.cases for p in c.probes} == {"cs"}
    one = load_dataset(f"mzsre:{fixtures / 'mzsre' / 'mzsre_test_duplicate_enzh.json'}")
    assert len(one.cases) == 2
    assert set(one.skipped) == {"en: 'nq question: ' markers removed", "zh: 'nq question: ' markers removed"}


# --- EasyEdit ------------------------------------------------------------------------------------------

def test_easyedit_zsre_known_answers(fixtures):
    ds = load_dataset(f"easyedit-zsre:{fixtures / 'easyedit_zsre.json'}")
    assert len(ds.cases) == 3 and ds.protocols == ["token_accuracy", "locality"]
    case = ds.cases[0]
    assert (case.edit.prompt, case.edit.target_new, case.edit.target_true) == (
        "What university did Watts Humphrey attend?", "University of Michigan", "Illinois Institute of Technology")
    assert probes(case, "en", "generality") == [("What university did Watts Humphrey take part in?",
                                                 "University of Michigan", "Illinois Institute of Technology")]
    assert probes(case, "en", "locality") == [("who played desmond doss father in hacksaw ridge", "Hugo Weaving", None)]
    assert probes(case, "en", "portability") == [("What is the mascot of the university Watts Humphrey attended?",
                                                  "Wolverine", None)]
    assert ds.skipped == Counter({SUBJECT_MISSING: 1})
    assert [c.edit.subject_in_prompt for c in ds.cases].count(False) == 1


def test_easyedit_counterfact_known_answers_and_lang(fixtures):
    ds = load_dataset(f"easyedit-counterfact:{fixtures / 'easyedit_counterfact.json'}:lang=fr")
    case = ds.cases[1]
    assert (case.edit.lang, case.edit.target_new, case.edit.target_true) == ("fr", "Islam", "Christianity")
    assert [p[0] for p in probes(case, "fr", "generality")] == [
        "Edwin of Northumbria follows the religion of", "The religion of Edwin of Northumbria is"]
    assert probes(case, "fr", "locality") == [("The official religion of Ethelbert of Kent is", "Christianity", None)]
    assert probes(case, "fr", "portability") == [
        ("The holy book of Edwin of Northumbria's religion is", "the Quran", None)]


def test_easyedit_bad_inputs(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"not": "a list"}), "utf-8")
    with pytest.raises(PolyeditError, match="expected a JSON array of records, got an object"):
        load_dataset(f"easyedit-zsre:{path}")
    with pytest.raises(PolyeditError, match="no file at"):
        load_dataset(f"easyedit-zsre:{tmp_path / 'missing.json'}")
    with pytest.raises(PolyeditError, match="unknown language code"):
        load_dataset(f"easyedit-zsre:{path}:lang=klingon")
