"""Every file polyedit reads goes through one strict reader (`polyedit.data.jsonio`): damage in a JSON,
JSONL or YAML file, a model folder's side files or its config is one line naming the file, place and
field (exit 2 from the CLI), never a traceback and never a silently accepted value."""

import json
import shutil

import pytest

from polyedit.cli.main import main
from polyedit.data.jsonio import parse_json, parse_yaml
from polyedit.errors import PolyeditError
from polyedit.methods import get_method


@pytest.mark.parametrize("text, message", [
    ('{"a": 1e400}', "f.json: not usable JSON (1e400 is not a finite number)"),
    ('{"a": -1E999}', "not a finite number"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"a": ' + "[" * 150 + "]" * 150 + "}", "nested more than 100 levels"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"a": ' + "9" * 400 + "}", "an integer of 400 digits"),
])
def test_json_damage_is_one_line(text, message):
    with pytest.raises(PolyeditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_json(text, "f.json")


@pytest.mark.parametrize("text, message", [
    ("lr: 0.1\nsteps: 3\nlr: 0.2\n", "hp.yaml:3: duplicate key 'lr'"),
    ("steps: " + "9" * 400 + "\n", "hp.yaml:1: an integer of 400 digits"),
    ("steps: " + "9" * 5000 + "\n", "hp.yaml:1: an integer of 5000 digits"),
    ("layers: " + "[" * 2000 + "]" * 2000 + "\n", "hp.yaml:1: nested more than 100 levels deep"),
    ("lr: .inf\n", "hp.yaml:1: .inf is not a finite number"),
    ("lr: [1\n", "hp.yaml:2: not valid YAML"),
])
def test_hyperparameter_yaml_damage_is_one_line(tmp_path, text, message):
    f = tmp_path / "hp.yaml"
    f.write_text(text)
    with pytest.raises(PolyeditError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".inf", r"\.inf")):
        get_method("ft-l", str(f))


def test_huge_integers_given_in_python_are_one_line():
    for value in (10 ** 400, -(10 ** 400)):
        with pytest.raises(PolyeditError, match="steps"):
            get_method("ft-l", {"steps": value})


def test_repeated_layers_are_refused(tiny_model_dirs, tmp_path, capsys):
    f = tmp_path / "hp.yaml"
    f.write_text("layers: [1, 1]\nsteps: 1\n")
    assert main(["edit", "--model", str(tiny_model_dirs["gpt2"]), "--method", "ft-l", "--hparams", str(f),
                 "--prompt", "Paris is in", "--subject", "Paris", "--target-new", "Spain"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "layer 1 is listed twice" in err, err


def test_yaml_keeps_what_it_should():
    assert parse_yaml("a: 1_000\nb: [1, 2.5]\nbase: &b {x: 1}\nk:\n  <<: *b\n  x: 2\n", "f") == {
        "a": 1000, "b": [1, 2.5], "base": {"x": 1}, "k": {"x": 2}}
    assert parse_yaml("", "f") is None


def _folder(tiny_model_dirs, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(tiny_model_dirs["gpt2"], folder)
    return folder


@pytest.mark.parametrize("damage, file, message", [
    ("non_utf8_editing", "editing.yaml", "editing.yaml:2: not UTF-8"),
    ("deep_editing", "editing.yaml", "editing.yaml:1: nested more than 100 levels deep"),
    ("duplicate_editing", "editing.yaml", "editing.yaml:3: duplicate key 'rome'"),
    ("non_utf8_dataset", "dataset.txt", "dataset.txt:1: not UTF-8"),
    ("config_sizes", "config.json", "do not match its weights"),
])
def test_damaged_model_folders_are_one_line(damage, file, message, tiny_model_dirs, tmp_path, capsys):
    folder = _folder(tiny_model_dirs, tmp_path, damage)
    content = {
        "non_utf8_editing": b"rome:\n  v_lr: 0.5 \xff\n",
        "deep_editing": b"rome: " + b"[" * 2000 + b"]" * 2000 + b"\n",
        "duplicate_editing": b"rome:\n  v_lr: 0.5\nrome:\n  v_lr: 0.1\n",
        "non_utf8_dataset": b"world:small\xff\n",
    }.get(damage)
    if content is not None:
        (folder / file).write_bytes(content)
    else:
        config = json.loads((folder / file).read_text())
        config["n_embd"] = 48
        (folder / file).write_text(json.dumps(config))
    assert main(["edit", "--model", str(folder), "--method", "ft-m", "--prompt", "Paris is in",
                 "--subject", "Paris", "--target-new", "Spain"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in err, err


def test_a_seed_of_ten_to_the_23_names_its_bound_exactly():
    with pytest.raises(PolyeditError, match=r"seed must be at most 2147483647, got 100000000000000000000000$"):
        get_method("ft-m", {"seed": 10 ** 23})


@pytest.mark.parametrize("content, message", [
    (b'{"text": "a"}\n[1, 2]\n', "corpus.jsonl:2: not a JSON object"),
    (b'{"text": "a"}\n{"text": "\xff"}\n', "corpus.jsonl:2: not UTF-8 text"),
    (b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}\n", "corpus.jsonl:1: JSON nested too deeply"),
    (b'{"text": "a", "text": "b"}\n', "corpus.jsonl:1: not usable JSON (duplicate key 'text')"),
])
def test_a_damaged_stats_corpus_is_one_line(tmp_path, content, message):
    from polyedit.methods.locate_then_edit.second_moment import corpus_texts

    path = tmp_path / "corpus.jsonl"
    path.write_bytes(content)
    with pytest.raises(PolyeditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(corpus_texts(str(path)))
