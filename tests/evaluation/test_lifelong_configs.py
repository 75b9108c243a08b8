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
