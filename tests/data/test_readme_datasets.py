"""The datasets page (docs/datasets/index.md): its jsonl example line is a valid case under the shipped schema and loads,
and its mapping and parallel-files commands run as printed (from the repository root) and load every probe."""

import json
import re
import shlex
from pathlib import Path

import pytest

from polyedit.cli.main import main
from polyedit.data.registry import load_dataset
from polyedit.data.schema import schema_errors

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "docs" / "datasets" / "index.md").read_text("utf-8")
    return text[text.index("**Bringing your own files.**"):text.index("**Dev/test splits.**")]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), re.S)


def test_the_schema_example_is_a_valid_case(tmp_path):
    (line,) = _blocks("json")
    record = json.loads(line)
    assert list(schema_errors(record)) == []
    path = tmp_path / "one.jsonl"
    path.write_text(line)
    case = load_dataset(f"jsonl:{path}").cases[0]
    assert (case.case_id, case.probes[0].group, case.meta) == ("q1", "Relation_Specificity", {"source_id": 7})


@pytest.mark.parametrize("block", _blocks("sh"))
def test_each_command_runs_as_printed(block, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(block.strip())
    assert argv[:3] == ["polyedit", "data", "show"]
    assert main(argv[1:]) == 0
    spec = argv[3]
    case = load_dataset(spec).cases[0]
    kinds = {p.kind for p in case.probes}
    assert "locality" in kinds, kinds
    if spec.startswith("parallel:"):
        assert case.edit.lang == "de" and {p.lang for p in case.probes} == {"de", "en"}
    else:
        assert case.edit.target_true == "French" and not load_dataset(spec).fields.get("not understood")
