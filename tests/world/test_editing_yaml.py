"""world/editing.yaml is written one entry at a time (by `polyedit tune --write-editing-yaml`), every other
entry and comment kept."""

import shutil

import pytest
import yaml

from polyedit.errors import PolyeditError
from polyedit.world.editing_yaml import set_entry, shipped_path


def test_one_entry_replaced_added_or_a_new_size_and_the_rest_kept(tmp_path):
    path = tmp_path / "editing.yaml"
    shutil.copy(shipped_path(), path)
    before_text = path.read_text()
    before = yaml.safe_load(before_text)
    set_entry(path, "medium", "rome", {"layer": 2, "v_lr": 0.3}, ["tuned: `polyedit tune ...`", "budget 40 trials"])
    set_entry(path, "medium", "memla", {"commit_scale": 1.5, "layers": [1, 2]}, ["tuned: memla"])
    set_entry(path, "small", "ike", {"setting": "one_shot"}, ["tuned: ike"])  # the last entry of a size
    set_entry(path, "large", "ft-l", {"lr": 0.01}, ["tuned: ft-l"])
    after = yaml.safe_load(path.read_text())
    expected = {**before, "large": {"ft-l": {"lr": 0.01}}}
    expected["medium"] = {**before["medium"], "rome": {"layer": 2, "v_lr": 0.3},
                          "memla": {"commit_scale": 1.5, "layers": [1, 2]}}
    expected["small"] = {**before["small"], "ike": {"setting": "one_shot"}}
    assert after == expected
    text = path.read_text()
    assert "  # tuned: `polyedit tune ...`\n  # budget 40 trials\n  rome:\n" in text
    # the replaced entries' old comments are gone; every other comment line is still there
    old_comments = [line for line in before_text.splitlines() if line.lstrip().startswith("#")]
    gone = [line for line in old_comments if line not in text]
    assert gone and all("83.3% / 0.81" in g or "in-context documents" in g or "8-shot prompt" in g
                        or "zero-shot 94.9%" in g for g in gone)
    set_entry(path, "medium", "rome", {"layer": 1}, ["tuned again"])  # idempotent in shape
    assert yaml.safe_load(path.read_text())["medium"]["rome"] == {"layer": 1}
    assert path.read_text().count("  rome:") == 2  # small's and medium's


def test_unreadable_file_is_one_line(tmp_path):
    bad = tmp_path / "e.yaml"
    bad.write_text("small: [unclosed\n")
    with pytest.raises(PolyeditError, match="not valid YAML"):
        set_entry(bad, "small", "ft-l", {}, [])
