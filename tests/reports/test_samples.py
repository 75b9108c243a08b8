"""The sample browser's outcomes on hand-made probes (known answers), and its seeded reservoir sample: at most
k probes per outcome, the same for the same log, drawn from the whole log rather than its first rows."""

import json
from pathlib import Path

from polyedit.reports.collect import Run
from polyedit.reports.samples import browser_rows, outcomes

SUMMARY = {"headline": {"reliability": "answer_em", "locality": "answer_unchanged"}}


def _sample(case, kind, lang, post, pre=None):
    return {"case_id": case, "kind": kind, "lang": lang, "gold": "Oslo",
            "pre": {"prompt": "q", "generated": {"answer": [" Bergen"]}, "metrics": pre or {}},
            "post": {"prompt": "q", "generated": {"answer": [" Oslo"], "answer_locality": [" Oslo"]}, "metrics": post}}


def _run(folder: Path, samples: list[dict], records: list[dict]) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return Run(folder, {"method": "ft-m"}, SUMMARY)


def _record(case, took, converged=None):
    outcome = {} if converged is None else {"convergence": {"loss": 1.0, "steps": 3, "target": 0.5,
                                                              "converged": converged}}
    return {"case_id": case, "edit": {"lang": "en"}, "info": {}, **outcome,
            "probes": [{"kind": "reliability", "lang": "en", "pre": {"answer_em": 0.0}, "post": {"answer_em": took}}]}


def test_outcomes_known_answers(tmp_path):
    run = _run(tmp_path / "r", [], [])
    stuck = {"edit_lang": "en", "converged": False, "took": False}
    fine = {"edit_lang": "en", "converged": True, "took": True}
    assert outcomes(run, _sample("a", "reliability", "de", {"answer_em": 0.0, "answer_in_language": 0.0,
                                                              "gold_in_language": 1.0}), stuck) == [
        "edit did not converge", "edit did not take", "answered in another language", "wrong after the edit"]
    # the detector cannot tell for this gold answer: not counted as another language
    assert outcomes(run, _sample("a", "reliability", "de", {"answer_em": 1.0, "answer_in_language": 0.0,
                                                              "gold_in_language": 0.0}), fine) == ["right after the edit"]
    assert outcomes(run, _sample("a", "locality", "ja", {"answer_unchanged": 0.0, "language_fidelity": 0.0}), fine) == [
        "answered in another language", "locality broken", "wrong after the edit"]
    assert "judge disagreed with exact match" in outcomes(
        run, _sample("a", "reliability", "de", {"answer_em": 0.0, "judge_correct": 1.0}), fine)


def test_reservoir_is_seeded_bounded_and_not_the_first_rows(tmp_path):
    samples = [_sample(f"c{i}", "reliability", "de", {"answer_em": float(i % 2)}) for i in range(40)]
    records = [_record(f"c{i}", 1.0, converged=i != 7) for i in range(40)]
    run = _run(tmp_path / "r", samples, records)
    rows = browser_rows(run, 3)
    assert rows == browser_rows(run, 3)  # seeded
    wrong = [r["case"] for r in rows if "wrong after the edit" in r["outcomes"]]
    right = [r["case"] for r in rows if "right after the edit" in r["outcomes"]]
    assert len(wrong) == len(right) == 3
    assert wrong != ["c0", "c2", "c4"] or right != ["c1", "c3", "c5"]  # not the log's first rows
    assert [r["case"] for r in rows if "edit did not converge" in r["outcomes"]] == ["c7"]  # the rare one is kept
    assert rows[0]["pre"] == "Bergen" and rows[0]["post"] == "Oslo"  # one answer where both protocols agree
