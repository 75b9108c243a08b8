"""EasyEdit's and KnowEdit's documented layouts (zjunlp/EasyEdit examples/KnowEdit.md, easyeditor/dataset/):
fixtures written from them load every probe kind and group, counted per group; every field is accounted
for; nulls, unknown fields and probe-like fields a file leaves unread are warnings; ids are kept and clashes
refused; each record's language is its field, the option, or detected and counted."""

import json
from collections import Counter

import pytest

from polyedit.cli.main import main
from polyedit.data.problems import validate_report
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError


def groups(ds):
    return Counter((p.kind, p.group) for c in ds.cases for p in c.probes)


def test_wiki_recent_groups_aliases_and_null_ground_truth(fixtures):
    ds = load_dataset(f"knowedit:{fixtures / 'knowedit' / 'wiki_recent.json'}")
    case = ds.cases[0]
    assert case.edit.target_true is None and case.meta["source_id"] == 0
    assert groups(ds) == Counter({("reliability", None): 1, ("portability", "Logical_Generalization"): 1,
                                  ("portability", "Reasoning"): 2, ("portability", "Subject_Aliasing"): 1,
                                  ("locality", "Relation_Specificity"): 2})
    alive = case.probes_for(kind="portability")[0]
    assert (alive.answer, alive.aliases) == ("no", ("incorrect", "false", "is not alive", "is dead"))
    assert ds.fields["null"] == Counter({"ground_truth": 1})
    assert any("ground_truth: null in 1 record(s)" in w for w in ds.warnings)
    assert not ds.fields.get("not understood")


def test_wiki_counterfact_forgetfulness_and_subject_aliasing(fixtures):
    ds = load_dataset(f"knowedit:{fixtures / 'knowedit' / 'wiki_counterfact.json'}")
    forget = [p for p in ds.cases[0].probes if p.group == "Forgetfulness"]
    assert [(p.kind, p.answer) for p in forget] == [("locality", "mayor of Vienna")]
    assert groups(ds)[("portability", "Subject_Aliasing")] == 1
    assert ds.cases[0].edit.target_true == "mayor of Vienna"


def test_zsre_rephrase_cond_ignored_and_groups(fixtures):
    ds = load_dataset(f"knowedit:{fixtures / 'knowedit' / 'zsre.json'}")
    case = ds.cases[0]
    assert [p.prompt for p in case.probes_for(kind="generality")] == ["What family are Epaspidoceras?"]
    assert case.edit.target_true == "Aspidoceratidae"
    assert groups(ds)[("locality", "Relation_Specificity")] == 2 and groups(ds)[("portability", "Reasoning")] == 1
    assert ds.fields["ignored"] == Counter({"cond": 1}) and not ds.warnings


def test_wikibio_text_labels_concept(fixtures):
    ds = load_dataset(f"knowedit:{fixtures / 'knowedit' / 'wikibio.json'}")
    edit = ds.cases[0].edit
    assert edit.subject == "john russell reynolds" and edit.target_new.startswith("He received general education")


def test_easyedit_inputs_layout_of_parallel_lists(fixtures):
    ds = load_dataset(f"easyedit-counterfact:{fixtures / 'knowedit' / 'easyedit_inputs.json'}")
    case = ds.cases[0]
    assert [(p.prompt, p.answer, p.group) for p in case.probes_for(kind="locality")] == [
        ("Joseph Fischhof, the", "piano", "neighborhood"),
        ("Larry Bird is a professional", "basketball", "neighborhood")]
    assert [p.group for p in case.probes_for(kind="portability")] == ["one_hop"]
    assert len(case.probes_for(kind="generality")) == 2


def test_every_fixture_field_is_read_or_ignored(fixtures):
    for path in sorted((fixtures / "knowedit").glob("*.json")):
        ds = load_dataset(f"knowedit:{path}")
        assert set(ds.fields) <= {"read", "ignored", "null"}, (path.name, ds.fields)
        records = json.loads(path.read_text())
        assert ds.fields["read"]["prompt" if "prompt" in records[0] else "text"] == len(records)


def test_counterfact_with_zsre_style_locality_loads_it(tmp_path):
    rec = {"subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo", "ground_truth": "Lima",
           "loc": "nq question: who wrote faust", "loc_ans": "Goethe"}
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([rec]))
    ds = load_dataset(f"easyedit-counterfact:{path}")
    assert [(p.prompt, p.answer) for p in ds.cases[0].probes_for(kind="locality")] == [("who wrote faust", "Goethe")]


def test_unread_locality_like_fields_warn(tmp_path, capsys):
    rec = {"subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo", "ground_truth": "Lima",
           "neighborhood_prompts": ["Bob was born in"], "loc_prompt": "Who wrote Faust?"}
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([rec, {**rec, "subject": "Bo", "prompt": "Bo was born in"}]))
    ds = load_dataset(f"easyedit-counterfact:{path}")
    assert ds.fields["not understood"] == Counter({"neighborhood_prompts": 2, "loc_prompt": 2})
    warning = [w for w in ds.warnings if "no locality probe loaded" in w]
    assert len(warning) == 1 and "loc_prompt, neighborhood_prompts" in warning[0]
    assert main(["data", "validate", str(path), "--format", "easyedit-counterfact"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {path} field loc_prompt, neighborhood_prompts: no locality probe loaded" in out
    assert f"warning: {path} record 0 field neighborhood_prompts: field not understood, ignored in 2 record(s)" in out
    main(["data", "stats", f"easyedit-counterfact:{path}"])
    assert "fields not understood: loc_prompt 2, neighborhood_prompts 2" in capsys.readouterr().out


def test_ids_kept_repeats_dropped_and_clashes_refused(tmp_path):
    a = {"case_id": 5, "subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo"}
    b = {"case_id": "7", "subject": "Bo", "prompt": "Bo was born in", "target_new": "Rome"}
    path = tmp_path / "ids.json"
    path.write_text(json.dumps([a, b, a]))
    ds = load_dataset(f"easyedit-counterfact:{path}:lang=en")
    assert [c.meta["source_id"] for c in ds.cases] == [5, "7"]
    assert ds.skipped == Counter({"records repeating an earlier record (dropped)": 1})
    path.write_text(json.dumps([a, b, {**b, "case_id": "5"}], indent=1))
    with pytest.raises(PolyeditError, match=rf"ids.json:2 \(record 0, case_id 5\) and .*ids.json:14 \(record 2, "
                                            rf"case_id '5'\) share an id but state different facts$"):
        load_dataset(f"easyedit-counterfact:{path}:lang=en")
    problems = validate_report(path, "easyedit-counterfact").problems
    assert [(p.index, p.field) for p in problems] == [(2, "case_id")]


def test_mixed_language_file_is_detected_and_counted(tmp_path, capsys):
    en = {"subject": "Ana", "prompt": "Which city was Ana born in?", "target_new": "Oslo",
          "rephrase_prompt": "Where was Ana born?"}
    zh = {"subject": "安娜", "prompt": "安娜出生在哪个城市？", "target_new": "奥斯陆", "rephrase_prompt": "安娜在哪里出生？"}
    de = {**en, "lang": "de"}
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([zh, en, zh, en, de], ensure_ascii=False))
    ds = load_dataset(f"easyedit-zsre:{path}")
    assert [c.edit.lang for c in ds.cases] == ["zh", "en", "zh", "en", "de"]
    assert {p.lang for p in ds.cases[0].probes} == {"zh"}
    assert ds.languages == Counter({"zh (detected)": 2, "en (detected)": 2, "de (field lang)": 1})
    assert [c.edit.lang for c in load_dataset(f"easyedit-zsre:{path}:lang=fr").cases] == ["fr"] * 4 + ["de"]
    assert f"{path}: records in several languages: en 2, zh 2, de 1 (lang=CODE sets one)" in ds.warnings
    main(["data", "stats", f"easyedit-zsre:{path}"])
    assert "record languages (mixed: en 2, zh 2, de 1):" in capsys.readouterr().out


def test_an_unsure_detection_takes_the_file_majority(tmp_path):
    records = [{"subject": "Ana", "prompt": "Which city was Ana born in?", "target_new": "Oslo"},
               {"subject": "Bob", "prompt": "Which company does Bob work for?", "target_new": "Google"},
               {"subject": "Mario Rossi", "prompt": "Mario Rossi plays", "target_new": "piano"}]  # py3langid: it, unsure
    path = tmp_path / "en.json"
    path.write_text(json.dumps(records))
    ds = load_dataset(f"easyedit-counterfact:{path}")
    assert [c.edit.lang for c in ds.cases] == ["en", "en", "en"]
    assert ds.languages == Counter({"en (detected)": 2, "en (detected, unsure: the file's majority)": 1})
    assert not ds.warnings
    path.write_text(json.dumps(records[2:]))  # alone, nothing to follow: a guess, and said to be one
    ds = load_dataset(f"easyedit-counterfact:{path}")
    assert ds.languages == Counter({"it (detected, unsure)": 1})
    assert ds.warnings == [f"{path}: the language of 1 record(s) is a guess (py3langid unsure, no sure record of "
                           "the same script to follow); lang=CODE states it"]


def test_a_bad_language_field_is_a_problem_and_the_language_is_detected(tmp_path):
    rec = {"lang": "klingon", "subject": "安娜", "prompt": "安娜出生在哪个城市？", "target_new": "奥斯陆"}
    path = tmp_path / "bad_lang.json"
    path.write_text(json.dumps([rec], ensure_ascii=False))
    ds = load_dataset(f"easyedit-zsre:{path}")
    assert ds.cases[0].edit.lang == "zh" and ds.languages == Counter({"zh (detected)": 1})
    assert [(p.index, p.field) for p in validate_report(path, "easyedit-zsre").problems] == [(0, "lang")]
