"""`polyedit data validate --format jsonl` runs the checks that loading the file for `bench` runs: a file
validate calls clean loads, and a file bench refuses is reported by validate with the same line."""

import json

import pytest

from polyedit.cli.main import main
from polyedit.data.problems import SUBJECT_MISSING, validate_path
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

EDIT = {"lang": "en", "subject": "Ana Lind", "prompt": "Ana Lind was born in", "target_new": "Oslo"}
PROBE = {"kind": "generality", "lang": "de", "prompt": "Ana Lind wurde geboren in", "answer": "Oslo"}


def _line(**fields) -> str:
    return json.dumps({"case_id": "c1", "edit": EDIT, "probes": [PROBE], **fields})


REFUSED = {
    "surrogate_case_id": (_line(case_id="\ud800"), "case_id"),
    "surrogate_meta_key": (_line(meta={"note\ud800": 1}), "meta"),
    "surrogate_meta_value": (_line(meta={"note": ["ok", "\udfff"]}), "meta.note[1]"),
    "empty": ("", "no case"),
    "no_probes": (_line(probes=[]), "field probes: no probe"),
    "blank_lines": ("\n\n  \n", "no case"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_bench_refuses_validate_reports_on_the_same_line(name, tmp_path, capsys):
    text, where = REFUSED[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_text(text + ("\n" if text else ""), encoding="utf-8", errors="surrogatepass")
    problems = validate_path(path, "jsonl")
    assert problems and where in str(problems[0]), problems
    with pytest.raises(PolyeditError) as refused:
        load_dataset(f"jsonl:{path}")
    assert str(refused.value) == str(problems[0])
    assert main(["data", "validate", str(path), "--format", "jsonl"]) == 1
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", f"jsonl:{path}",
                 "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    err = capsys.readouterr().err
    assert str(problems[0]) in err


def test_a_subject_missing_from_its_prompt_is_reported_and_kept_as_by_the_benchmark_loaders(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(_line(edit={**EDIT, "subject": "Bo Sten"}) + "\n" + _line(case_id="c2") + "\n")
    problems = validate_path(path, "jsonl")
    assert [str(p) for p in problems] == [
        f"{path}:1 field edit.subject: prompt 'Ana Lind was born in' does not contain its subject 'Bo Sten' (kept)"]
    ds = load_dataset(f"jsonl:{path}")
    assert [c.case_id for c in ds.cases] == ["c1", "c2"] and ds.skipped == {SUBJECT_MISSING: 1}


def test_a_clean_file_is_clean_for_both(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(_line() + "\n" + _line(case_id="c2", meta={"source": "x"}) + "\n")
    assert validate_path(path, "jsonl") == []
    assert len(load_dataset(f"jsonl:{path}").cases) == 2
