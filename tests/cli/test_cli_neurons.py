"""`polyedit neurons`: JSON and figures for one edit and for a dataset sample."""

import json
import math

from polyedit.cli.main import main
from polyedit.reports.neurons import jaccard, mean_jaccard
from polyedit.methods.memla.neurons import NeuronSets


def test_jaccard_and_its_mean_over_cases():
    assert jaccard({1, 2}, {2, 3}) == 1 / 3 and math.isnan(jaccard(set(), set()))
    a = NeuronSets("en", {"en": {(0, 1), (0, 2)}, "zh": {(0, 1)}}, ["en", "zh"])
    b = NeuronSets("en", {"en": {(1, 1)}, "zh": {(1, 1)}}, ["en", "zh"])
    langs, m = mean_jaccard([a, b])
    assert langs == ["en", "zh"] and m[0][1] == (0.5 + 1.0) / 2 and m[0][0] == 1.0


def test_neurons_command_for_one_edit(tiny_model_dirs, tmp_path, capsys):
    out = tmp_path / "n"
    rc = main(["neurons", "--model", str(tiny_model_dirs["llama"]), "--prompt", "The capital of France is",
               "--subject", "France", "--target-true", "Paris", "--fact", "zh", "法国的首都是", "巴黎",
               "--steps", "4", "--out", str(out)])
    assert rc == 0
    rec = json.loads((out / "neurons.json").read_text())
    case = rec["cases"][0]
    assert set(case["per_language"]) == {"en", "zh"} and case["missing_pivots"] == ["fr"]
    assert "language_independent" in case and "language_specific" in case
    assert (out / "neurons_jaccard.png").stat().st_size > 1000 and (out / "neurons_layers.png").is_file()
    assert "fr" in capsys.readouterr().out  # the missing pivot is said


def test_neurons_command_for_a_dataset_sample(tiny_model_dirs, tmp_path, case):
    data = tmp_path / "cases.jsonl"
    data.write_text(json.dumps(case.to_dict()) + "\n")
    out = tmp_path / "n"
    rc = main(["neurons", "--model", str(tiny_model_dirs["gpt2"]), "--data", f"jsonl:{data}", "--steps", "4",
               "--pivots", "all", "--out", str(out)])
    assert rc == 0
    rec = json.loads((out / "neurons.json").read_text())
    assert rec["cases"][0]["pivots"] == ["en", "zh", "fr"]  # "all": every language stating the fact
    assert main(["neurons", "--model", str(tiny_model_dirs["gpt2"]), "--out", str(out)]) == 2  # nothing to do
