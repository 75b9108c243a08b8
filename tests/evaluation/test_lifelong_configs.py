"""configs/lifelong/*.yaml: the settings of the README's lifelong table, each a complete hyperparameter file, so
that re-running the README's command with `--hparams` reproduces the table whatever the model's editing.yaml
(re-tuned since) recommends."""

import re
from pathlib import Path

import pytest
import yaml

from polyedit.methods import get_method

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "lifelong").glob("*.yaml"))


def test_every_editor_of_the_results_table_has_a_file():
    section = (ROOT / "docs" / "results.md").read_text("utf-8").split("## Lifelong: 1,000 sequential edits")[1]
    table_methods = set(re.findall(r"^\| ([a-z-]+) \| 100 \|", section, flags=re.M))
    assert table_methods == {p.stem for p in CONFIGS} == {"memit", "alphaedit", "langedit", "grace", "ft-m", "lora"}
    assert "--hparams configs/lifelong/M.yaml" in section


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_lifelong_file_sets_every_field_so_editing_yaml_fills_none(path):
    given = yaml.safe_load(path.read_text("utf-8"))
    method = get_method(path.stem, str(path))
    fields = set(method.hparams_class.model_fields)
    assert set(given) == fields, f"{path.name} leaves {sorted(fields - set(given))} to editing.yaml"
    assert method.hparams.to_dict() == given
    # the recommended entry of the model would fill only fields the file leaves out: none
    assert method.given is not None and set(method.given) == fields


TUNED = ROOT / "configs" / "tuned-lifelong" / "world-medium.yaml"


def _lifelong_table():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import lifelong_table

    return lifelong_table


def test_the_tuned_lifelong_file_has_an_entry_for_every_editor_of_the_table_searched_at_its_step():
    """The lifelong-tuned table runs each editor with its entry of the shipped file: every editor has one, it
    is a valid setting of its method that names every field it sets, and it was chosen at the step the table
    runs it at (a batch editor's settings chosen one edit per step fail in batches of 100)."""
    table = _lifelong_table()
    entries = yaml.safe_load(TUNED.read_text("utf-8"))["lifelong"]["world:medium"]
    assert set(entries) == set(table.METHODS)
    for method, entry in entries.items():
        hp = get_method(method, entry["hparams"]).hparams.to_dict()
        assert {k: hp[k] for k in entry["hparams"]} == entry["hparams"], method
        prov = entry["provenance"]
        step = prov.get("edits_per_step", 1)  # absent: a search from before the option, one edit per step
        assert step == table.STEP.get(method, 1), f"{method} searched at {step} per step, run at {table.STEP.get(method, 1)}"
        assert prov["sequence_length"] % step == 0
        assert f"--method {method} " in prov["command"] and prov["trials"] == 6  # the equal budget
        assert (f"--edits-per-step {step}" in prov["command"]) == (step != 1)
