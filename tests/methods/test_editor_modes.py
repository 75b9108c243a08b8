"""The baseline editors in the runner's three modes: single, batch (edits together) and sequential (edits
accumulate, earlier edits re-scored); the model is restored bit-identically at the end of every run."""

import json

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import load_dataset
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods import get_method
from test_baseline_editors import FAST  # helpers/fast.py's rows of the baseline editors
from helpers.weights import state_hash



@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cases.jsonl"
    facts = [("en", "Paris", "Paris is the capital of", "Spain"), ("zh", "巴黎", "巴黎是", "首都"),
             ("de", "Berlin", "Berlin ist die Hauptstadt von", "Italien"), ("en", "Moscow", "Moscow is in", "Japan")]
    cases = [make_case(f"c{i}", lang, s, p, t, None, [Probe("locality", "en", "The capital of France is", "Paris")])
             for i, (lang, s, p, t) in enumerate(facts)]
    path.write_text("\n".join(json.dumps(c.to_dict(), ensure_ascii=False) for c in cases) + "\n", "utf-8")
    return f"jsonl:{path}"


@pytest.mark.parametrize("method,mode", [("ft-m", "sequential"), ("lora", "batch"), ("rome", "sequential"),
                                         ("memit", "batch"), ("memit", "sequential"), ("grace", "batch"),
                                         ("grace", "sequential"), ("alphaedit", "batch"),
                                         ("alphaedit", "sequential"), ("langedit", "sequential"), ("emmet", "batch"),
                                         ("emmet", "sequential"), ("memit-sum", "batch"), ("memit-sum", "sequential")])
def test_modes(method, mode, tiny_model_dirs, cases_file, tmp_path):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt_neox"]))
    before = state_hash(lm.model)
    hp = FAST[method.removesuffix("-sum")]  # the control runs with MEMIT's settings
    cfg = BenchConfig(model="tiny", method=method, data=cases_file, hparams=hp, mode=mode, edits_per_step=2)
    summary = run_bench(lm, get_method(method, hp), load_dataset(cases_file), tmp_path, cfg, progress=False)
    assert summary["n_cases"] == 4
    assert state_hash(lm.model) == before
    records = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["subject_rule"] for r in records] == ["exact"] * 4
    if mode == "sequential":
        checkpoints = [json.loads(x) for x in (tmp_path / "sequential.jsonl").read_text("utf-8").splitlines()]
        assert sorted({c["after_edits"] for c in checkpoints}) == [2, 4]
