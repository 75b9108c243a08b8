"""A run says whether its edits reached their own objective and what the model knew before them: the README's
BMIKE-53 example (`langs=de,ja,zh`) probes the edit language too and its summary counts the edits that did not
converge; on the world, whose cases carry their old answers, the summary gives the share of known facts and
the headlines on those alone."""

import json

from helpers.requires import world_checkpoint

from polyedit.cli.main import main


def test_bmike53_with_langs_without_english_probes_english_and_counts_converged_edits(tmp_path, bmike53_root, capsys):
    world_checkpoint("small")
    out = tmp_path / "run"
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--limit", "3", "--out", str(out),
                 "--data", f"bmike53:zsre:langs=de,ja,zh:dir={bmike53_root}"]) == 0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert "en" in summary["per_language"]  # the edit language, added
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    failed = sum(not r["convergence"]["converged"] for r in records)
    assert summary["convergence"]["n_edits"] == 3 and summary["convergence"]["not_converged"] == failed
    assert summary["known_facts"]["n_with_old_answer"] == 0  # zsRE gives no old answer
    printed = capsys.readouterr().out
    assert "leaves out the edit language en: probed as well" in printed
    assert "the data gives no old answer" in printed
    if failed:
        assert f"{failed} of 3 edits did not converge" in printed


def test_world_cases_report_the_share_of_known_facts_and_headlines_on_them(tmp_path):
    world_checkpoint("small")
    out = tmp_path / "run"
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--limit", "4", "--out", str(out),
                 "--data", "world:small", "--langs", "en,de", "--protocols", "answer,answer_locality"]) == 0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    known = summary["known_facts"]
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    en = [p for r in records for p in r["probes"] if p["kind"] == "reliability" and p["lang"] == "en"]
    assert known["per_language"]["en"]["share"] == sum(p["pre"]["old_answer_em"] for p in en) / len(en)
    assert known["n_with_old_answer"] == 4 and 0 < known["n_known"] <= 4  # the world model knows its facts
    assert known["mean"]["reliability"]["n_cases"] == known["n_known"] and "ci95" in known["mean"]["reliability"]
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--limit", "4", "--out", str(tmp_path / "known"),
                 "--data", "world:small", "--langs", "en,de", "--protocols", "answer,answer_locality",
                 "--filter", "known"]) == 0
    only = json.loads((tmp_path / "known" / "summary.json").read_text("utf-8"))
    assert only["n_cases"] == known["n_known"] and only["known_facts"]["n_known"] == known["n_known"]
    if known["n_known"] < 4:
        assert sum(only["skipped"].values()) == 4 - known["n_known"]


def test_filter_known_without_old_answers_is_one_line(tmp_path, bmike53_root, capsys):
    world_checkpoint("small")
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--limit", "2", "--out", str(tmp_path / "r"),
                 "--data", f"bmike53:zsre:langs=de:dir={bmike53_root}", "--filter", "known"]) == 2
    err = capsys.readouterr().err
    assert "--filter: known: the data gives no old answer" in err and not (tmp_path / "r" / "results.jsonl").exists()


def test_settings_from_the_models_editing_yaml_name_the_data_they_were_chosen_on():
    from polyedit.evaluation.edit_success import settings_note
    from polyedit.methods import get_method
    from polyedit.models import load_model

    world_checkpoint("small")
    lm = load_model("world:small")
    note = settings_note(lm, get_method("ft-l", {}, lm), "bmike53:zsre")
    assert note == ("ft-l's layers, lr, norm_constraint come from world:small's editing.yaml, chosen on its own "
                    "data (world:small), not on bmike53:zsre")
    assert settings_note(lm, get_method("ft-l", {}, lm), "world:small:n=4") is None  # its own data
    given = get_method("ft-l", {"layers": [3], "lr": 0.01, "norm_constraint": 0.1}, lm)
    assert settings_note(lm, given, "bmike53:zsre") is None  # nothing came from editing.yaml
    assert settings_note(lm, get_method("ft-m", {}, lm), "bmike53:zsre") is None  # world:small has no ft-m entry


def test_the_convergence_note_gives_both_reliabilities_or_says_none_converged():
    from polyedit.evaluation.edit_success import convergence_note

    entry = {"metric": "answer_em", "post": 0.25, "ci95": [0.1, 0.4]}
    some = {"n_edits": 10, "not_converged": 4, "reliability": {"not_converged": entry,
                                                              "converged": {**entry, "post": 0.9, "ci95": [0.8, 1.0]}}}
    assert convergence_note(some) == ("4 of 10 edits did not converge (their objective stayed above its target): "
                                      "reliability answer_em 25.0 [10.0-40.0] on them, answer_em 90.0 [80.0-100.0] "
                                      "on the converged ones")
    every = {"n_edits": 3, "not_converged": 3, "reliability": {"not_converged": entry, "converged": None}}
    assert convergence_note(every).endswith("on them, none converged")
    assert convergence_note({**some, "not_converged": 0}) is None and convergence_note(None) is None
