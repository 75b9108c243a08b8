"""Hyperparameters are pydantic models (methods/base.py `HParams`): strict, closed, finite, their limits and
search ranges in the JSON schema; every refusal is one line naming the file or method and the field."""

import pytest

from polyedit.cli.main import main
from polyedit.errors import PolyeditError
from polyedit.methods import get_method
from polyedit.methods.base import choices_of, method_names
from polyedit.methods.ft.ft_l import OBJECTIVES, FTLHParams


@pytest.mark.parametrize("text, message", [
    ("lr: .inf\n", "hp.yaml:1: .inf is not a finite number"),  # refused by the reader, with its line
    ("lr: .nan\n", "hp.yaml:1: .nan is not a finite number"),
    ("lr: -1\n", "lr must be greater than 0, got -1"),
    ("steps: .inf\n", "hp.yaml:1: .inf is not a finite number"),
    ("steps: -2\n", "steps must be at least 0"),
    ("1: 2\nlr: 0.1\n", "hyperparameter names must be strings, got 1"),
    ("objective: prompt_lst\n", "unknown objective 'prompt_lst' (known: prompt_last, target_tokens)"),
    ("norm_constraint: 0\n", "norm_constraint must be greater than 0"),
    # strict: a string is not a number or a list, a number is not a flag, a float is not a count
    ("lr: '0.1'\n", "hp.yaml (ft-l): lr: input should be a valid number, got '0.1'"),
    ("layers: '1,2'\n", "hp.yaml (ft-l): layers: input should be a valid list, got '1,2'"),
    ("layers: [1, '2']\n", "hp.yaml (ft-l): layers: input should be a valid integer, got '2'"),
    ("steps: 2.5\n", "hp.yaml (ft-l): steps: input should be a valid integer, got 2.5"),
    ("steps: true\n", "hp.yaml (ft-l): steps: input should be a valid integer, got True"),
    ("steps: 100000000000000000000000000000\n", "hp.yaml (ft-l): steps: a 30-digit integer is out of range"),
    ("layers: [1, 100000000000000000000000000000]\n", "layers: a 30-digit integer is out of range"),
    ("lr: 0.1\nlayerz: [1]\nstep: 3\n", "hp.yaml (ft-l): unknown hyperparameter(s) layerz, step for FTLHParams"),
])
def test_bad_yaml_values_are_one_line(tmp_path, text, message):
    f = tmp_path / "hp.yaml"
    f.write_text(text)
    with pytest.raises(PolyeditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_method("ft-l", str(f))


def test_non_utf8_yaml_and_direct_construction(tmp_path):
    f = tmp_path / "hp.yaml"
    f.write_bytes(b"lr: 0.1 # \xff\xfe\n")
    with pytest.raises(PolyeditError, match="not UTF-8 text"):
        get_method("ft-l", str(f))
    with pytest.raises(PolyeditError, match="lr must be a finite number"):
        FTLHParams(lr=float("nan"))  # the dataclass itself validates, not only the YAML path
    with pytest.raises(PolyeditError, match="seed must be at least 0"):
        get_method("lora", {"seed": -1})


def test_ftl_out_of_range_layer_is_one_line(tiny_model_dirs):
    from polyedit.data.cases import Edit
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))
    with pytest.raises(PolyeditError, match="ft-l: layer 7 does not exist"):
        get_method("ft-l", {"layers": [7]}).apply(lm, [Edit("en", "Paris", "Paris is in", "Spain")])


def test_a_message_is_one_line_whatever_the_error(tmp_path):
    f = tmp_path / "hp.yaml"
    f.write_text("lr: [0.1, 0.2]\nsteps: {a: 1}\n")
    with pytest.raises(PolyeditError) as e:
        get_method("ft-l", str(f))
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{f} (ft-l): ")


def test_every_field_has_help_and_methods_shows_it(capsys):
    assert set(choices_of(FTLHParams, "objective")) == set(OBJECTIVES)
    for name in method_names():
        schema = type(get_method(name).hparams).model_json_schema()["properties"]
        missing = [f for f, prop in schema.items() if not prop.get("description")]
        assert not missing, f"{name}: no help text for {missing}"
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "Adam learning rate (> 0) [tuned: real in [0.0001, 0.1], log scale]" in out
    assert "one of prompt_last, target_tokens" in out and "objective = 'prompt_last'" in out
    assert "L-inf radius around the original weights; null = none (> 0)" in out  # a limit of `float | None`
    assert "random seed of the method's own sampling and initialisation (>= 0; <= 2147483647)" in out
