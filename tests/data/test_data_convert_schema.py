"""`polyedit data convert` writes any loadable dataset as polyedit's jsonl cases, and loading that file gives
the same cases (every probe, language, alias, group and source id); the file passes `validate --format jsonl`
(the shipped case schema and the build checks); `polyedit data schema` prints that schema."""

import json
from pathlib import Path

import pytest
from helpers.requires import bmike53_root, shared

from polyedit.cli.main import main
from polyedit.data.registry import load_dataset
from polyedit.data.schema import schema_errors

SPECS = {
    "world": lambda: "world:small",
    "bmike53": lambda: f"bmike53:zsre:langs=de,ja:dir={bmike53_root()}",
    "mzsre": lambda: f"mzsre:{shared('data/mzsre/data/MzsRE') / 'mzsre_test_duplicate_enzh.json'}:edit_lang=zh",
    "bizsre": lambda: f"bizsre:{shared('data/bi-zsre/eval/data/bizsre_test.json')}",
    "mlake": lambda: f"mlake:{shared('data/mlake/dataset')}:langs=en,de",
    "knowedit": lambda: f"knowedit:{Path(__file__).parent / 'fixtures' / 'knowedit' / 'wiki_recent.json'}",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_convert_round_trips_with_identical_cases(name, tmp_path, capsys):
    spec, out = SPECS[name](), tmp_path / f"{name}.jsonl"
    assert main(["data", "convert", spec, "--out", str(out), "--limit", "12"]) == 0
    original = load_dataset(spec, limit=12).cases
    back = load_dataset(f"jsonl:{out}")
    assert back.cases == original
    assert len(original) == (1 if name == "knowedit" else 12)
    assert not back.warnings and not back.fields.get("not understood")
    capsys.readouterr()
    assert main(["data", "validate", str(out), "--format", "jsonl"]) == 0
    assert "warning" not in capsys.readouterr().out


def test_convert_keeps_groups_aliases_and_source_ids(fixtures, tmp_path):
    out = tmp_path / "k.jsonl"
    assert main(["data", "convert", f"knowedit:{fixtures / 'knowedit' / 'wiki_recent.json'}", "--out", str(out)]) == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert line["meta"]["source_id"] == 0
    assert {p.get("group") for p in line["probes"]} == {None, "Logical_Generalization", "Reasoning",
                                                         "Subject_Aliasing", "Relation_Specificity"}
    assert ["Kai Peter Wegner"] in [p["aliases"] for p in line["probes"]]


def test_convert_refuses_to_overwrite_and_writes_nothing_on_bad_input(tmp_path):
    out = tmp_path / "x.jsonl"
    out.write_text("keep")
    assert main(["data", "convert", "world:small", "--out", str(out)]) == 2 and out.read_text() == "keep"
    assert main(["data", "convert", f"jsonl:{tmp_path / 'missing.jsonl'}", "--out", str(tmp_path / "y.jsonl")]) == 2
    assert list(tmp_path.iterdir()) == [out]


def test_schema_is_printed_and_checks_what_building_a_case_checks(capsys, tmp_path):
    assert main(["data", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$defs"]["probe"]["properties"]["kind"]["enum"] == ["reliability", "generality", "locality",
                                                                      "portability"]
    good = {"case_id": 1, "edit": {"lang": "en", "subject": "A", "prompt": "A is", "target_new": "B"}}
    assert list(schema_errors(good)) == []
    bad = {"edit": {"lang": "en", "subject": "A", "prompt": "A is", "target_new": 5, "x": 1},
           "probes": [{"kind": "reliability", "lang": "en", "prompt": "q"}]}
    assert sorted(schema_errors(bad)) == [("edit.target_new", "5 is not of type 'string' (case schema)", False),
                                          ("edit.x", "field not in the case schema, ignored", True),
                                          ("probes[0].answer", "missing (required by the case schema)", False)]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**good, "meta": [], "extra": 1}) + "\n")
    assert main(["data", "validate", str(path), "--format", "jsonl"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:1 field meta: expected an object, got list" in out
    assert f"warning: {path}:1 field extra: field not in the case schema, ignored" in out
