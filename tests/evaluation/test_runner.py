import json

import pytest

from polyedit.cli.main import main
from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import load_dataset
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods import get_method
from polyedit.models import load_model
from helpers.run_files import numbers_only
from helpers.weights import state_hash
from helpers.fast import fast

FAST = fast("ft-l")


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cases.jsonl"
    cases = [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, "France",
                       [Probe("generality", "de", f"{s} ist die Hauptstadt von", t, "France"),
                        Probe("locality", "zh", "巴黎是", "法国"), Probe("portability", "fr", f"{s} est en", "Europe")])
             for i, (s, t) in enumerate([("Paris", "Spain"), ("Berlin", "Italy"), ("Moscow", "Japan"), ("Rome", "Korea")])]
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in cases) + "\n")
    return path


def test_bench_writes_results_resumes_and_is_deterministic(tiny_model_dirs, cases_file, tmp_path):
    lm = load_model(str(tiny_model_dirs["llama"]))
    before = state_hash(lm.model)
    data = f"jsonl:{cases_file}"
    cfg = BenchConfig(model="tiny", method="ft-l", data=data, hparams=FAST)
    m = get_method("ft-l", FAST)
    s1 = run_bench(lm, m, load_dataset(data), tmp_path / "a", cfg, progress=False)
    assert state_hash(lm.model) == before
    lines = (tmp_path / "a" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and s1["n_cases"] == 4
    rec = json.loads(lines[0])
    kinds = {p["kind"] for p in rec["probes"]}
    assert kinds == {"reliability", "generality", "locality", "portability"}
    assert set(s1["per_language"]) == {"en", "de", "zh", "fr"}
    metric = s1["headline"]["reliability"]  # the matrix cell is the mean of that metric over the en probes
    en = [p["post"][metric] for x in lines for p in json.loads(x)["probes"]
          if p["kind"] == "reliability" and p["lang"] == "en"]
    assert len(en) == 4 and s1["cross_lingual"]["reliability"]["en"]["en"] == pytest.approx(sum(en) / len(en))

    # same seed, same results
    run_bench(lm, m, load_dataset(data), tmp_path / "b", cfg, progress=False)
    strip = lambda p: numbers_only([json.loads(x) for x in p.read_text().splitlines()])
    assert strip(tmp_path / "a" / "results.jsonl") == strip(tmp_path / "b" / "results.jsonl")

    # a killed run: two finished cases and a torn third line; resume finishes the rest only
    c = tmp_path / "c"
    c.mkdir()
    (c / "run.json").write_text((tmp_path / "a" / "run.json").read_text())
    (c / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    with pytest.raises(Exception, match="already holds a run"):
        run_bench(lm, m, load_dataset(data), c, cfg, progress=False)
    run_bench(lm, m, load_dataset(data), c, cfg, progress=False, resume=True)
    assert strip(c / "results.jsonl") == strip(tmp_path / "a" / "results.jsonl")


@pytest.mark.parametrize("mode", ["batch", "sequential"])
def test_batch_and_sequential_modes(tiny_model_dirs, cases_file, tmp_path, mode):
    lm = load_model(str(tiny_model_dirs["gpt2"]))
    before = state_hash(lm.model)
    data = f"jsonl:{cases_file}"
    cfg = BenchConfig(model="tiny", method="ft-l", data=data, hparams=FAST, mode=mode, edits_per_step=2)
    s = run_bench(lm, get_method("ft-l", FAST), load_dataset(data), tmp_path, cfg, progress=False)
    assert s["n_cases"] == 4 and state_hash(lm.model) == before
    if mode == "sequential":
        seq = [json.loads(x) for x in (tmp_path / "sequential.jsonl").read_text().splitlines()]
        assert [r["after_edits"] for r in seq] == [2, 2, 4, 4, 4, 4]


def test_cli_bad_input_gives_one_line_and_writes_nothing(tiny_model_dirs, cases_file, tmp_path, capsys):
    model = str(tiny_model_dirs["llama"])
    out = tmp_path / "out"
    cases = [
        (["bench", "--model", model, "--method", "nope", "--data", f"jsonl:{cases_file}", "--out", str(out)], "unknown method 'nope'"),
        (["bench", "--model", model, "--method", "ft-l", "--data", f"jsonl:{cases_file}", "--out", str(out), "--langs", "xx"], "unknown language code 'xx'"),
        (["bench", "--model", str(tmp_path / "none"), "--method", "ft-l", "--data", f"jsonl:{cases_file}", "--out", str(out)], "does not exist"),
        (["edit", "--model", model, "--method", "ft-l", "--prompt", "Bob was born in", "--subject", "Ana", "--target-new", "Oslo"], "does not contain its subject"),
        (["edit", "--model", model, "--method", "ft-l", "--prompt", "Ana was born in", "--subject", "Ana", "--target-new", " "], "target_new must be a non-empty"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_bench_and_edit_run(tiny_model_dirs, cases_file, tmp_path, capsys):
    model = str(tiny_model_dirs["qwen2"])
    assert main(["bench", "--model", model, "--method", "ft-l", "--data", f"jsonl:{cases_file}",
                 "--out", str(tmp_path / "o"), "--limit", "2", "--langs", "en,de"]) == 0
    out = capsys.readouterr().out
    assert "| en |" in out and "| de |" in out and "| zh |" not in out
    assert (tmp_path / "o" / "summary.md").exists()
    assert main(["edit", "--model", model, "--method", "ft-l", "--prompt", "Paris is the capital of",
                 "--subject", "Paris", "--target-new", "Spain", "--probe", "de=Paris ist die Hauptstadt von"]) == 0
    out = capsys.readouterr().out
    assert "before:" in out and "[de]" in out
    assert "objective: loss " in out and " steps (target 0.01): " in out  # FT-L's loss against its early stop
