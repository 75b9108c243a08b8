"""End to end: `polyedit world build --size tiny` into a temporary folder, then the standard loading path."""

import json
import time

import pytest

from polyedit.cli.main import main


@pytest.mark.slow
def test_world_build_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "tiny"
    start = time.time()
    assert main(["world", "build", "--size", "tiny", "--out", str(out), "--no-watch", "--threads", "1"]) == 0
    assert time.time() - start < 120
    printed = capsys.readouterr().out
    assert "exact recall of training facts per language" in printed and "in-context update accuracy" in printed
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "build.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin"))
    meta = json.loads((out / "build.json").read_text("utf-8"))
    assert meta["size"] == "tiny" and meta["seed"] == 0 and meta["command"]
    assert set(meta["measured"]["recall"]) == {"en", "zh", "fr", "de", "it", "es", "pt", "pl", "ru", "ja", "ko", "th"}
    assert {"shared", "native", "majority_baseline"} <= set(meta["measured"]["transfer"])

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend

    lm = load_model(str(out))  # exactly the path a hub model takes
    assert lm.model.config.model_type == "llama"
    cases = load_dataset(f"world:{out}:n=3").cases
    assert len(cases) == 3
    scored = HFBackend(lm).score([(cases[0].edit.prompt, " " + cases[0].edit.target_new)])
    assert len(scored[0].logprobs) >= 1

    assert main(["world", "info", "--model", str(out)]) == 0
    assert main(["world", "info", "--model", str(out), "--markdown"]) == 0
    assert main(["world", "export", "--model", str(out), "--out", str(tmp_path / "exp"), "-n", "2"]) == 0
    assert load_dataset(f"mkeb:{tmp_path / 'exp' / 'mkeb'}").cases


def test_bad_size_is_one_line_error(capsys):
    assert main(["world", "build", "--size", "huge"]) != 0
    assert main(["world", "info", "--model", "/nonexistent/folder"]) == 2
    assert "polyedit: error:" in capsys.readouterr().err


@pytest.mark.slow
def test_a_second_stage_continues_the_earlier_model_and_records_both(tmp_path):
    from safetensors.torch import load_file

    first, second = tmp_path / "first", tmp_path / "second"
    base = ["world", "build", "--size", "tiny", "--no-watch", "--threads", "1", "--epochs", "0.5"]
    assert main([*base, "--out", str(first)]) == 0
    assert main([*base, "--out", str(second), "--lr", "1e-3", "--init-from", str(first)]) == 0
    one, two = (json.loads((d / "build.json").read_text("utf-8")) for d in (first, second))
    assert [s["init_from"] for s in two["stages"]] == [None, str(first)]
    assert two["stages"][0]["training"] == one["training"] and two["stages"][1]["train"]["lr"] == 1e-3
    assert two["train_seconds_all_stages"] == pytest.approx(one["train_seconds"] + two["train_seconds"], abs=0.2)
    # the same vocabulary under the trained embeddings, and training went on from the first stage's weights
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (first / name).read_text("utf-8") == (second / name).read_text("utf-8"), name
    w1, w2 = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert two["training"]["final_loss"] < one["training"]["final_loss"]
    assert any(not (w1[k] == w2[k]).all() for k in w1)


def test_a_second_stage_refuses_another_size(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["world", "build", "--size", "tiny", "--no-watch", "--threads", "1", "--epochs", "0.2",
                 "--out", str(first)]) == 0
    capsys.readouterr()
    assert main(["world", "build", "--size", "small", "--out", str(tmp_path / "x"), "--init-from", str(first)]) == 2
    err = capsys.readouterr().err
    assert "built from another world or model" in err and len(err.strip().splitlines()) == 1
