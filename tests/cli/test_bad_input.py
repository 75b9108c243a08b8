"""Malformed flags, hyperparameters, data, models and over-long prompts: one line, exit 2, nothing written."""

import json
import shutil

import pytest

from polyedit.api import bench
from polyedit.cli.main import main
from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import Dataset
from polyedit.errors import PolyeditError


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cases.jsonl"
    cases = [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, "France",
                       [Probe("generality", "de", f"{s} ist die Hauptstadt von", t, "France")])
             for i, (s, t) in enumerate([("Paris", "Spain"), ("Berlin", "Italy")])]
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases) + "\n")
    return path


def _one_line(capsys, message):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in err, err


def test_bad_bench_flags_and_hparams_write_nothing(tiny_model_dirs, cases_file, tmp_path, capsys):
    model = str(tiny_model_dirs["llama"])
    out = tmp_path / "out"
    nan_lr = tmp_path / "nan.yaml"
    nan_lr.write_text("lr: .nan\n")
    base = ["bench", "--model", model, "--method", "ft-l", "--data", f"jsonl:{cases_file}", "--out", str(out)]
    for extra, message in [
        (["--protocols", "nope"], "unknown protocol 'nope'"),
        (["--limit", "-1"], "--limit: must be at least 1, got -1"),
        (["--langs", ","], "--langs: ',' names no language"),
        (["--parallel-edits", "0"], "--parallel-edits: '0': expected a positive integer or auto"),
        (["--langs", "hi"], "language(s) hi not in jsonl:"),
        (["--edits-per-step", "0"], "--edits-per-step: must be at least 1"),
        (["--hparams", str(nan_lr)], "nan.yaml:1: .nan is not a finite number"),
    ]:
        assert main(base + extra) == 2, extra
        _one_line(capsys, message)
        assert not out.exists(), extra
    # the corrected rerun just works, and repeated --langs do not change the run (they would break resume)
    assert main(base + ["--langs", "de,de,en", "--limit", "1"]) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["langs"] == ["de", "en"]
    capsys.readouterr()
    assert main(base + ["--langs", "de,en", "--limit", "1", "--resume"]) == 0


def test_api_seed_and_bad_probe_fail_before_writing(tiny_model_dirs, tmp_path):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    ds = Dataset("mem", [make_case("c0", "en", "Paris", "Paris is the capital of", "Spain")])
    for kw, message in [({"seed": 1e23}, "seed: must be a whole number"), ({"seed": 2**70}, "seed: must be between"),
                        ({"protocols": ["nope"]}, "unknown protocol")]:
        with pytest.raises(PolyeditError, match=message):
            bench(lm, "ft-l", "mem", tmp_path / "o", dataset=ds, progress=False, **kw)
        assert not (tmp_path / "o").exists()


def test_prompts_longer_than_the_context_are_skipped_and_recorded(tiny_model_dirs, tmp_path, capsys):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))  # 128 learned positions
    long = "Paris " + "and so on " * 200 + "is the capital of"
    ds = Dataset("mem", [make_case("c0", "en", "Paris", "Paris is the capital of", "Spain"),
                         make_case("c1", "en", "Paris", long, "Spain")])
    s = bench(lm, "ft-m", "mem", tmp_path / "o", dataset=ds, progress=False, hparams={"steps": 1})
    assert s["n_cases"] == 1 and s["skipped"] == {"longer than the model's context (128 tokens)": 1}
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["cases"] == ["c0"] and run["context"]["max_positions"] == 128
    with pytest.raises(PolyeditError, match="no cases; 1 longer than the model's context"):
        bench(lm, "ft-m", "mem", tmp_path / "p", dataset=Dataset("mem", ds.cases[1:]), progress=False)
    assert main(["edit", "--model", str(tiny_model_dirs["gpt2"]), "--method", "ft-m", "--prompt", long,
                 "--subject", "Paris", "--target-new", "Spain"]) == 2
    _one_line(capsys, "the model reads at most 128")


def test_broken_model_folders_are_one_line(tiny_model_dirs, tmp_path, capsys):
    src = tiny_model_dirs["gpt2"]
    no_tok = tmp_path / "no_tok"
    shutil.copytree(src, no_tok)
    for f in no_tok.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
            f.unlink()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(src, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    for folder, message in [(no_tok, "has no tokenizer"), (corrupt, "its safetensors weights are damaged")]:
        assert main(["edit", "--model", str(folder), "--method", "ft-m", "--prompt", "Paris is in",
                     "--subject", "Paris", "--target-new", "Spain"]) == 2
        _one_line(capsys, message)


def test_bmike_folder_without_usable_records_says_why(tmp_path):
    from polyedit.data.registry import load_dataset

    folder = tmp_path / "zsre"
    folder.mkdir()
    (folder / "zsre_test_de.json").write_text(json.dumps([{"en": {"case_id": 1, "subject": "Ana", "src": "Bob is",
                                                                  "alt": "Oslo"}, "de": {"case_id": 1}}]))
    with pytest.raises(PolyeditError, match=r"no usable record in .*\(1 cases whose English src lacks the subject"):
        load_dataset(f"bmike53:zsre:langs=de:dir={tmp_path}")


def test_a_second_bench_into_a_running_folder_is_refused(tiny_model_dirs, cases_file, tmp_path, capsys):
    from polyedit.evaluation.store import RunStore

    out = tmp_path / "out"
    argv = ["bench", "--model", str(tiny_model_dirs["llama"]), "--method", "ft-l", "--data", f"jsonl:{cases_file}",
            "--out", str(out), "--limit", "1"]
    with RunStore(out).open({"config": {}}, resume=False):  # as if another run were writing it now
        assert main(argv + ["--resume"]) == 2
        _one_line(capsys, "is in use by another polyedit run (pid")
    assert not (out / "results.jsonl").exists()


def test_malformed_flags_are_one_line_not_a_usage_screen(capsys):
    assert main(["bench", "--model", "m", "--method", "ft-l", "--data", "world:small", "--out", "o",
                 "--seed", "1e23"]) == 2
    _one_line(capsys, "Invalid value for '--seed': '1e23' is not a valid integer")
