"""world/editing.yaml's layout and a model folder's editing.yaml are written one entry at a time (by `polyedit
tune --write-editing-yaml PATH`, only where its user says), every other entry and comment kept."""

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
    assert gone and set(gone) <= _comments_above(before_text, {("medium", "rome"), ("medium", "memla"),
                                                               ("small", "ike")})
    set_entry(path, "medium", "rome", {"layer": 1}, ["tuned again"])  # idempotent in shape
    assert yaml.safe_load(path.read_text())["medium"]["rome"] == {"layer": 1}
    assert path.read_text().count("  rome:") == 2  # small's and medium's


def _comments_above(text: str, entries: set[tuple[str, str]]) -> set[str]:
    """The comment lines directly above each (size, method) entry of an editing.yaml text."""
    out, size, block = set(), None, []
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            size, block = line[:-1], []
        elif line.lstrip().startswith("#"):
            block.append(line)
        elif line.startswith("  ") and not line.startswith("   ") and line.endswith(":"):
            if (size, line.strip()[:-1]) in entries:
                out |= set(block)
            block = []
    return out


def test_unreadable_file_is_one_line(tmp_path):
    bad = tmp_path / "e.yaml"
    bad.write_text("small: [unclosed\n")
    with pytest.raises(PolyeditError, match="not valid YAML"):
        set_entry(bad, "small", "ft-l", {}, [])


@pytest.mark.parametrize("size", ["small", "medium"])
def test_each_builtin_checkpoint_holds_the_shipped_entries_of_its_size(size, tmp_path):
    """A model reads the editing.yaml in its own folder: the built-in checkpoints' copies must be what the
    shipped file says now (a tuned entry written to the shipped file alone would never reach a run)."""
    from polyedit.world.editing_yaml import CHECKPOINTS, EDITING_FILE, write_checkpoint_copy

    assert write_checkpoint_copy(size, tmp_path)
    assert (CHECKPOINTS / size / EDITING_FILE).read_text("utf-8") == (tmp_path / EDITING_FILE).read_text("utf-8")


def test_a_model_folders_editing_yaml_gets_one_entry_the_rest_kept_and_the_loader_reads_it(tmp_path):
    from polyedit.models.load import editing_hparams
    from polyedit.world.editing_yaml import set_model_entry

    set_model_entry(tmp_path, "rome", {"layer": 1}, ["tuned: first"])  # no file yet: made
    (tmp_path / "editing.yaml").write_text("# mine\nft-l:\n  lr: 0.01\n" + (tmp_path / "editing.yaml").read_text())
    set_model_entry(tmp_path, "rome", {"layer": 2, "v_lr": 0.3}, ["tuned: `polyedit tune ...`"])
    set_model_entry(tmp_path, "grace", {"eps_init": 2.0}, ["tuned: grace"])
    text = (tmp_path / "editing.yaml").read_text()
    assert editing_hparams(str(tmp_path)) == {"ft-l": {"lr": 0.01}, "rome": {"layer": 2, "v_lr": 0.3},
                                              "grace": {"eps_init": 2.0}}
    assert "# mine\n" in text and "# tuned: `polyedit tune ...`\nrome:\n" in text and "tuned: first" not in text


def test_tune_writes_only_where_its_user_says_never_into_polyedit(tmp_path):
    """The target is checked before the search starts: polyedit's own files are refused, as is a file of world
    sizes for a model that is no world; a model folder takes any model's entry."""
    from polyedit.tune.editing import check_target

    world = "world:small"
    for target in (shipped_path(), shipped_path().parent / "new.yaml", shipped_path().parents[1]):
        with pytest.raises(PolyeditError, match="inside polyedit's installed files"):
            check_target(world, target)
    assert check_target(world, tmp_path / "mine.yaml") == "small"
    assert check_target(world, tmp_path) is None  # a folder: its editing.yaml
    other = str(tmp_path)
    with pytest.raises(PolyeditError, match="no world:SIZE model; name the model's folder"):
        check_target(other, tmp_path / "mine.yaml")
    assert check_target(other, tmp_path) is None


def test_the_entry_above_an_anchored_one_is_replaced_alone(tmp_path):
    """world:small's AlphaEdit entry defines a YAML anchor the per-language variant uses: replacing MEMIT's
    entry above it must leave both as they were (its key line once went unrecognised, so MEMIT's block ran
    on through them and the write was refused)."""
    path = tmp_path / "editing.yaml"
    shutil.copy(shipped_path(), path)
    text = path.read_text()
    assert "alphaedit: &" in text and "langedit: *" in text  # the shape this test is about
    before = yaml.safe_load(text)
    set_entry(path, "small", "memit", {"layers": [1]}, ["tuned: memit"])
    after = yaml.safe_load(path.read_text())
    assert after["small"]["memit"] == {"layers": [1]}
    assert after["small"]["alphaedit"] == before["small"]["alphaedit"] == after["small"]["langedit"]
