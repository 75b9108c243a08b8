"""`map=` renames fields before a format reads them: inline pairs (their colons survive spec parsing) or a
YAML/JSON mapping file, on the EasyEdit family, the path formats and jsonl; a bad mapping is one line."""

import json

import pytest

from polyedit.data.mapping import apply_mapping, parse_mapping
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

PREFIXED = {"english_subject": "Ana", "english_prompt": "Ana was born in", "english_target": "Oslo",
            "english_loc": "Who wrote Faust?", "english_loc_answer": "Goethe"}
PAIRS = {"english_subject": "subject", "english_prompt": "prompt", "english_target": "target_new",
         "english_loc": "locality_prompt", "english_loc_answer": "locality_ground_truth"}


def test_inline_and_yaml_mappings_load_the_same_case(tmp_path):
    data = tmp_path / "prefixed.json"
    data.write_text(json.dumps([PREFIXED]))
    with pytest.raises(PolyeditError, match="no usable record"):
        load_dataset(f"easyedit-counterfact:{data}:lang=en")
    inline = ",".join(f"{a}:{b}" for a, b in PAIRS.items())
    one = load_dataset(f"easyedit-counterfact:{data}:lang=en:map={inline}")
    yaml_file = tmp_path / "mapping.yaml"
    yaml_file.write_text("".join(f"{a}: {b}\n" for a, b in PAIRS.items()))
    two = load_dataset(f"easyedit-counterfact:{data}:lang=en:map={yaml_file}")
    assert one.cases == two.cases
    case = one.cases[0]
    assert (case.edit.prompt, case.edit.target_new) == ("Ana was born in", "Oslo")
    assert [(p.prompt, p.answer) for p in case.probes_for(kind="locality")] == [("Who wrote Faust?", "Goethe")]
    assert set(one.fields) == {"read"} and one.fields["read"]["locality_prompt"] == 1


def test_mapping_on_jsonl_and_a_path_format(tmp_path, fixtures):
    line = {"case_id": "a", "change": {"lang": "en", "subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo"},
            "probes": [{"kind": "reliability", "lang": "en", "prompt": "Ana was born in", "answer": "Oslo"}]}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert load_dataset(f"jsonl:{path}:map=change:edit").cases[0].edit.target_new == "Oslo"
    ds = load_dataset(f"mzsre:{fixtures / 'mzsre'}:map=rephrase:paraphrase")  # renamed away: generality lost
    assert not [p for c in ds.cases for p in c.probes if p.kind == "generality"]
    assert ds.fields["not understood"]["en.paraphrase"] == 2


@pytest.mark.parametrize("raw, message", [
    ("a", "'a' is not FROM:TO"), ("a:b,c:b", "two fields mapped to 'b'"), ("missing.yaml", "no mapping file there")])
def test_bad_mappings_are_one_line(raw, message):
    with pytest.raises(PolyeditError, match=message):
        parse_mapping(raw)


def test_a_mapped_name_never_overwrites_a_field_the_record_has():
    assert apply_mapping({"a": 1, "b": 2, "c": [{"a": 3}]}, {"a": "b"}) == {"a": 1, "b": 2, "c": [{"b": 3}]}


@pytest.mark.parametrize("spec", ["bmike53:wikifactdiff:langs=af:dir={f}/bmike53", "mkeb:{f}/mkeb.json", "mzsre:{f}/mzsre",
                                  "mquake:{f}/mquake.json", "babeledits:{f}/babeledits.json",
                                  "easyedit-zsre:{f}/easyedit_zsre.json", "knowedit:{f}/knowedit/zsre.json"])
def test_every_file_format_takes_map(fixtures, spec):
    spec = spec.format(f=fixtures)
    plain, mapped = load_dataset(spec), load_dataset(f"{spec}:map=no_such_field:other")
    assert plain.cases == mapped.cases
