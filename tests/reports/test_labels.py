"""Runs named by what differs (known answers on hand-made runs), and data specs shown without local paths."""

from pathlib import Path

from polyedit.reports.collect import Run
from polyedit.reports.labels import name_runs
from polyedit.reports.specs import display_spec


def _run(name, method="ft-m", model="world:small", hparams=None, backend="hf", dtype="float32", judge=None,
         data="world:small", langs=None, n=3):
    config = {"method": method, "model": model, "data": data, "hparams": hparams or {"lr": 0.1}, "mode": "single",
              "judge_model": judge, "langs": langs, "seed": 0}
    summary = {"n_cases": n, "cross_lingual": {"reliability": {"en": {"en": 1.0}}}}
    return Run(Path(name), config, summary, extra={"environment": {"backend": backend, "dtype": dtype}})


def _labels(runs):
    name_runs(runs)
    return [r.label for r in runs]


def test_each_run_is_named_by_the_fields_it_differs_in():
    assert _labels([_run("a", method="ike"), _run("b", method="ike", model="world:medium")]) == [
        "ike (world:small)", "ike (world:medium)"]
    assert _labels([_run("a"), _run("b", judge="qwen")]) == ["ft-m (judge exact match)", "ft-m (judge qwen)"]
    assert _labels([_run("a", backend="openai"), _run("b")]) == ["ft-m (backend openai)", "ft-m (backend hf)"]
    assert _labels([_run("a", dtype="bfloat16"), _run("b")]) == ["ft-m (bfloat16)", "ft-m (float32)"]
    # another model's recommended hyperparameters are not a difference of their own
    assert _labels([_run("a", hparams={"lr": 1}), _run("b", model="world:medium", hparams={"lr": 2})]) == [
        "ft-m (world:small)", "ft-m (world:medium)"]
    same_model = _labels([_run("a", hparams={"lr": 1}), _run("b", hparams={"lr": 2})])
    assert same_model[0].startswith("ft-m (hparams ") and len(set(same_model)) == 2
    assert _labels([_run("a"), _run("b", method="lora")]) == ["ft-m", "lora"]  # nothing else differs


def test_probe_languages_count_within_a_dataset_and_twins_get_cases_or_folder():
    assert _labels([_run("a", langs=["en"]), _run("b", data="bmike53:zsre")]) == ["ft-m", "ft-m"]
    assert _labels([_run("x/a", n=2), _run("y/b", n=1)]) == ["ft-m [n=2]", "ft-m [n=1]"]
    assert _labels([_run("x/a"), _run("y/b")]) == ["ft-m [a]", "ft-m [b]"]


def test_labels_by_hand_win():
    runs = [_run("a"), _run("b", model="world:medium")]
    name_runs(runs, {"a": "baseline"})
    assert [r.label for r in runs] == ["baseline", "ft-m (world:medium)"]


def test_data_specs_are_shown_relative_to_the_dataset_root():
    assert display_spec("bmike53:zsre:langs=de,ru:dir=/home/me/data/bmike53") == "bmike53:zsre:langs=de,ru:dir=bmike53"
    assert display_spec("jsonl:/home/me/cases.jsonl:edit_lang=de") == "jsonl:cases.jsonl:edit_lang=de"
    assert display_spec("world:small:split=test") == "world:small:split=test"
