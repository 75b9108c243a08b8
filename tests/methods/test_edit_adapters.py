"""An edit in the weights written as a peft LoRA adapter (`polyedit.methods.adapter`): loaded with
`PeftModel.from_pretrained` on a fresh, unedited model it gives the edited model's outputs."""

from __future__ import annotations

import json

import pytest
import torch

from method_cases import METHOD_CASES
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError
from polyedit.methods import get_method
from polyedit.methods.adapter import read_adapter_info, write_adapter
from polyedit.models import load_model


@pytest.fixture(scope="module")
def world():
    return load_model("world:small"), load_dataset("world:small").cases


def _logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def _reloaded(model_spec: str, adapter, batch):
    from peft import PeftModel

    fresh = load_model(model_spec)
    return _logits(fresh.model, batch), _logits(PeftModel.from_pretrained(fresh.model, str(adapter)), batch)


@pytest.mark.parametrize("method, n_edits, rank", [("rome", 1, 1), ("memit", 10, 10), ("alphaedit", 3, 3),
                                                   ("lora", 2, 8), ("memla", 1, 4)])
def test_adapter_reloads_to_the_edited_outputs(world, tmp_path, method, n_edits, rank):
    lm, cases = world
    m = get_method(method, METHOD_CASES[method][0])
    batch = lm.tokenizer([c.edit.prompt for c in cases[:3]], return_tensors="pt", padding=True)
    with m.apply_cases(lm, cases[:n_edits]) as handle:
        edited = _logits(lm.model, batch)
        write_adapter(handle, tmp_path / "adapter", method)
    base, loaded = _reloaded("world:small", tmp_path / "adapter", batch)
    assert not torch.allclose(base, edited, atol=1e-2)  # the edit did something the adapter must carry
    torch.testing.assert_close(loaded, edited, atol=1e-5, rtol=1e-5)
    info = read_adapter_info(tmp_path / "adapter")
    assert info["method"] == method and info["rank"] == rank  # ROME rank one; MEMIT one per edit; LoRA, MEMLA r
    assert info["relative_error"] < 1e-6 and all(v["rank"] <= rank for v in info["modules"].values())
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == rank and sorted(config["target_modules"]) == sorted(info["modules"])
    if method != "lora":  # factored from the change: scaling alpha / r is 1 (LoRA keeps its trained alpha)
        assert config["lora_alpha"] == rank


def test_conv1d_adapter_is_fan_in_fan_out(tiny_model_dirs, tmp_path):
    lm = load_model(str(tiny_model_dirs["gpt2"]))
    cases = load_dataset("world:small").cases[:1]
    batch = lm.tokenizer([cases[0].edit.prompt], return_tensors="pt")
    with get_method("ft-l", {"steps": 3, "lr": 1e-2}).apply_cases(lm, cases) as handle:
        edited = _logits(lm.model, batch)
        write_adapter(handle, tmp_path / "a", "ft-l")
    assert json.loads((tmp_path / "a" / "adapter_config.json").read_text())["fan_in_fan_out"]
    base, loaded = _reloaded(str(tiny_model_dirs["gpt2"]), tmp_path / "a", batch)
    assert not torch.allclose(base, edited, atol=1e-3)
    torch.testing.assert_close(loaded, edited, atol=1e-5, rtol=1e-5)


def test_truncation_is_recorded_and_refused_above_the_bound(world, tmp_path):
    lm, cases = world
    with get_method("memit", METHOD_CASES["memit"][0]).apply_cases(lm, cases[:6]) as handle:
        with pytest.raises(PolyeditError, match="relative Frobenius error .* > --adapter-max-error"):
            write_adapter(handle, tmp_path / "refused", "memit", rank=2)
        assert not (tmp_path / "refused").exists()  # nothing half-written
        write_adapter(handle, tmp_path / "kept", "memit", rank=2, max_error=1.0)
    info = read_adapter_info(tmp_path / "kept")
    assert info["rank"] == 2 and 1e-3 < info["relative_error"] < 1
    assert {v["rank"] for v in info["modules"].values()} == {6} and {v["kept"] for v in info["modules"].values()} == {2}


@pytest.mark.parametrize("method", ["grace", "ike"])
def test_an_edit_outside_the_weights_has_no_adapter(world, tmp_path, method):
    lm, cases = world
    with get_method(method, METHOD_CASES[method][0]).apply_cases(lm, cases[:1]) as handle:
        with pytest.raises(PolyeditError, match="no adapter to write"):
            write_adapter(handle, tmp_path / "a", method)
    assert not (tmp_path / "a").exists()


def test_adapter_flags_that_cannot_work_are_one_line(tmp_path, capsys):
    from polyedit.cli.main import main

    edit = ["edit", "--model", "world:small", "--method", "rome", "--prompt", "Ana Lind was born in", "--subject",
            "Ana Lind", "--target-new", "Oslo"]
    assert main([*edit, "--as-adapter"]) == 2
    assert "need --save DIR" in capsys.readouterr().err
    bench = ["bench", "--model", "world:small", "--data", "world:small", "--out", str(tmp_path / "run")]
    assert main([*bench, "--method", "rome", "--edits-as-adapters"]) == 2
    assert "use it with --backend openai" in capsys.readouterr().err
    assert main([*bench, "--method", "ike", "--edits-as-adapters", "--backend", "openai", "--base-url",
                 "http://127.0.0.1:9/v1"]) == 2
    assert "edits in context: there is no adapter to serve" in capsys.readouterr().err
    assert main([*bench, "--method", "rome", "--adapter-max-error", "2"]) == 2  # click's range, one line
    assert not (tmp_path / "run").exists()
