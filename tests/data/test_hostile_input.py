"""Hostile data files: one line naming the file and line, never a traceback, never silently accepted."""

import json

import pytest

from polyedit.cli.main import main
from polyedit.data.cases import Probe
from polyedit.data.jsonio import parse_json
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

GOOD = {"case_id": "c1", "edit": {"lang": "en", "subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo"},
        "probes": [{"kind": "generality", "lang": "de", "prompt": "Ana wurde geboren in", "answer": "Oslo"}]}


def _file(tmp_path, lines: list[str], raw: bytes | None = None):
    p = tmp_path / "cases.jsonl"
    if raw is not None:
        p.write_bytes(raw)
    else:
        p.write_text("\n".join(lines) + "\n", "utf-8")
    return p


def _line(**changes) -> str:
    rec = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = rec
        for k in parents:
            target = target[int(k)] if k.isdigit() else target[k]
        target[int(last) if last.isdigit() else last] = value
    return json.dumps(rec)


@pytest.mark.parametrize("second, message", [
    ('{"case_id": ' + "9" * 5000 + "}", r":2: not usable JSON \(an integer of 5000 digits\)"),
    ("[" * 100_000 + "]" * 100_000, r":2: JSON nested too deeply"),
    (_line(probes__0__answer_true=float("nan")), r":2: not usable JSON \(NaN is not a JSON value\)"),
    (_line(meta=["ab"]), r":2 field meta: expected an object, got list"),
    (_line(**{"edit__prompt": "Ana was born in \ud800"}), r":2 field edit.prompt: prompt holds a lone surrogate"),
    (_line(probes__0__answer_true=3), r":2 field probes\[0\].answer_true: answer_true must be a string or null"),
    (_line(case_id="c1"), r":2 field case_id: 'c1' already used at line 1"),
    (_line(**{"edit__subject": 7}), r":2 field edit.subject: subject must be a non-empty string"),
])
def test_bad_jsonl_lines_name_file_and_line(tmp_path, second, message):
    p = _file(tmp_path, [_line(case_id="c0") if "already" not in message else json.dumps(GOOD), second])
    with pytest.raises(PolyeditError, match=message):
        load_dataset(f"jsonl:{p}")


def test_bom_and_non_utf8_jsonl(tmp_path):
    p = _file(tmp_path, [], raw="\ufeff".encode() + json.dumps(GOOD).encode() + b"\n")
    assert len(load_dataset(f"jsonl:{p}").cases) == 1  # a BOM is accepted, as plain JSON accepts it
    p = _file(tmp_path, [], raw=json.dumps(GOOD).encode() + b"\n{\"x\": \"\xff\"}\n")
    with pytest.raises(PolyeditError, match=r"cases.jsonl:2: not UTF-8 text"):
        load_dataset(f"jsonl:{p}")


def test_api_built_cases_refuse_nan_and_surrogates():
    with pytest.raises(PolyeditError, match="answer_true must be a string or null, got nan"):
        Probe("generality", "de", "Ana wurde geboren in", "Oslo", float("nan"))
    with pytest.raises(PolyeditError, match="lone surrogate"):
        Probe("generality", "de", "Ana wurde \udfff", "Oslo")
    assert parse_json('{"a": 1.5}', "x") == {"a": 1.5}


@pytest.mark.parametrize("spec, message", [
    ("world:small:lang=de", r"unknown option\(s\) lang for world"),
    ("world:small:n=-3", "n must be at least 1"),
    ("world:small:langs=,", "names no language"),
])
def test_bad_spec_options(spec, message):
    with pytest.raises(PolyeditError, match=message):
        load_dataset(spec)


def test_a_folder_named_small_does_not_shadow_world_small(tmp_path, monkeypatch):
    (tmp_path / "small").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_dataset("world:small:n=2").cases


def test_validate_jsonl_lists_every_problem_and_goes_on(tmp_path, capsys):
    import re

    p = _file(tmp_path, [_line(case_id="a", **{"edit__target_new": "", "probes__0__kind": "nope", "meta": [1]}),
                         _line(case_id="b", **{"edit__prompt": "Ana was born in \ud800"}), '{"a": NaN}',
                         json.dumps(GOOD), json.dumps(GOOD)])
    assert main(["data", "validate", str(p), "--format", "jsonl"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [re.match(r".*\.jsonl:(\d+)", x).group(1) for x in out] == ["1", "1", "1", "2", "3", "5"]
    assert "lone surrogate" in out[3] and "NaN" in out[4] and "already used at line 4" in out[5]


def test_validate_shortens_and_reads_past_an_unreadable_bmike_file(tmp_path, capsys):
    folder = tmp_path / "zsre"
    folder.mkdir()
    long_src = "x" * 100_000
    rec = {"en": {"case_id": 1, "subject": "Ana", "src": long_src, "alt": "Oslo"},
           "de": {"case_id": 1, "src": "Ana wurde", "alt": "Oslo", "rephrase": "r", "loc": "l", "loc_ans": "a",
                  "port": "p", "port_ans": "b"}}
    (folder / "zsre_test_de.json").write_text(json.dumps([rec]))
    (folder / "zsre_test_fr.json").write_bytes(b"\xff\xfe not json")
    (folder / "renamed_test_xx.json").write_text(json.dumps([rec]))  # the language comes from the records
    assert main(["data", "validate", str(folder), "--format", "bmike53"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert all(len(x) < 400 for x in out)
    assert any("zsre_test_fr.json" in x and "not UTF-8" in x for x in out)
    assert sum("does not contain the subject" in x for x in out) == 2  # both files read, as de
