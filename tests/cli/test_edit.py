"""`polyedit edit --save DIR` writes what was edited; reloading it gives the edited answers. `bench`'s
hardware options reach the run."""

import ast
import json

import pytest

from polyedit.cli.main import main

EDIT = ["--model", "world:small", "--prompt", "Ana Lind was born in", "--subject", "Ana Lind", "--target-new", "Oslo",
        "--max-new-tokens", "3"]


def answers(capsys):
    out = capsys.readouterr().out
    after = [ast.literal_eval(line.split("after:", 1)[1].strip()) for line in out.splitlines() if "after:" in line]
    return out, after


@pytest.mark.parametrize("method", ["ft-m", "lora"])
def test_saved_edit_reloads_with_the_edited_answer(tmp_path, capsys, method):
    import torch

    from polyedit.models.backend import HFBackend
    from polyedit.models.load import load_model

    rc = main(["edit", "--method", method, *EDIT, "--save", str(tmp_path / "edited")])
    out, after = answers(capsys)
    assert rc == 0 and "edited model saved" in out
    if method == "lora":  # a standard peft adapter on the unedited model
        from peft import PeftModel

        assert (tmp_path / "edited" / "adapter_config.json").is_file()
        lm = load_model("world:small")
        base_answer = HFBackend(lm).generate(["Ana Lind was born in"], 3)[0].text
        lm.model = PeftModel.from_pretrained(lm.model, str(tmp_path / "edited")).merge_and_unload()
    else:
        assert (tmp_path / "edited" / "model.safetensors").is_file()
        lm = load_model(str(tmp_path / "edited"))
        base_answer = HFBackend(load_model("world:small")).generate(["Ana Lind was born in"], 3)[0].text
    got = HFBackend(lm).generate(["Ana Lind was born in"], 3)[0].text.strip()
    assert got == after[0] and after[0] != base_answer.strip()
    assert all(bool(torch.isfinite(p).all()) for p in lm.model.parameters())


def test_save_refused_for_in_context_methods(tmp_path, capsys):
    rc = main(["edit", "--method", "ike", *EDIT, "--save", str(tmp_path / "x")])
    assert rc == 2 and "edits no weight" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_bench_records_auto_batch_size_and_placement(tmp_path, capsys):
    rc = main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--limit", "1",
               "--langs", "en", "--out", str(tmp_path / "run"), "--batch-size", "auto", "--dtype", "bfloat16"])
    assert rc == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    ev = summary["evaluation"]
    assert ev["batch_size_auto"] is True and ev["batch_size"] == 256 and ev["dtype"] == "bfloat16"
    assert ev["chat_template"] is False and ev["device"] == "cpu"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["eval_batch_size"] == "auto"
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--out",
                 str(tmp_path / "r2"), "--batch-size", "0"]) == 2


@pytest.mark.parametrize("command", [["edit", *EDIT], ["serve", "world:small", "--edits", "EDITS"]])
def test_edit_and_serve_take_a_file_of_settings_per_model_and_method(tmp_path, capsys, command):
    """`--hparams` naming what `tune --write-lifelong` writes gives the entry for this model and method, as
    `bench` does: the entry's fields are checked (not the file's `lifelong` key), a missing entry is named."""
    settings = tmp_path / "lifelong.yaml"
    settings.write_text("lifelong:\n  world:small:\n    ft-m:\n      hparams: {no_such_field: 1}\n"
                        "  world:medium:\n    rome:\n      hparams: {v_steps: 3}\n")
    edits = tmp_path / "edits.jsonl"  # never read: the settings are refused first
    edits.write_text("")
    command = [str(edits) if a == "EDITS" else a for a in command]
    assert main([*command, "--method", "ft-m", "--hparams", str(settings)]) == 2
    err = capsys.readouterr().err
    assert "no_such_field" in err and "lifelong" not in err.split("no_such_field")[0][-40:]
    assert main([*command, "--method", "rome", "--hparams", str(settings)]) == 2
    assert "no lifelong settings for rome on world:small (it has: world:small/ft-m, world:medium/rome)" in \
        capsys.readouterr().err
