"""Lifelong checkpoints of a sequential run: what each measures, on which probes, its summary with
intervals, bad settings refused before anything is written, and kill/resume = uninterrupted."""

import dataclasses
import json
from collections import Counter

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import load_dataset
from polyedit.cli.run_options import flag
from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation import lifelong
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods import get_method
from polyedit.models import load_model
from helpers.run_files import numbers_only
from helpers.weights import state_hash
from helpers.fast import fast

FAST = fast("ft-l")
FACTS = [("Paris", "Spain"), ("Berlin", "Italy"), ("Moscow", "Japan"), ("Rome", "Korea"), ("Oslo", "Chile"),
         ("Lima", "Peru")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cases.jsonl"
    cases = [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, f"Old{i}",
                       [Probe("reliability", "de", f"{s} ist die Hauptstadt von", t, f"Alt{i}"),
                        Probe("locality", "zh", "巴黎是", "法国")])
             for i, (s, t) in enumerate(FACTS)]
    path.write_text("\n".join(json.dumps(c.to_dict(), ensure_ascii=False) for c in cases) + "\n", "utf-8")
    return f"jsonl:{path}"


def test_checkpoint_counts_are_checked():
    assert lifelong.check_checkpoints([4, 2, 4], 2, 6) == [2, 4]
    for bad, message in [([3], "not a multiple"), ([8], "more edits than"), ([0], "positive")]:
        with pytest.raises(PolyeditError, match=message):
            lifelong.check_checkpoints(bad, 2, 6)
    with pytest.raises(PolyeditError, match="checkpoints: needs mode sequential"):
        BenchConfig(model="m", method="ft-l", data="d", checkpoints=[2])


@pytest.mark.parametrize("settings, message", [
    ({"checkpoints": [2]}, "--checkpoints: needs --mode sequential (edits must accumulate)"),
    ({"mode": "sequential", "edits_per_step": 2, "checkpoints": [4, 3]},
     "--checkpoints: 3 is not a multiple of --edits-per-step 2"),
    ({"mode": "sequential", "checkpoints": [2, "x"]}, "--checkpoints: must be a whole number, got 'x'"),
    ({"mode": "sequential", "checkpoints": []}, "--checkpoints: names no edit count"),
    ({"mode": "sequential", "checkpoints": [2], "retention_sample": 0},
     "--retention-sample: must be at least 1, got 0"),
    ({"recall_sample": True}, "--recall-sample: must be a whole number, got True"),
    ({"mode": "sequential", "retention_sample": 5}, "--retention-sample: needs --checkpoints"),
])
def test_bad_lifelong_settings_are_one_line_naming_the_flag(settings, message):
    """The run's spec (`lifelong.check_settings`, which a sweep's mode entries go through too), its error as
    the CLI prints it."""
    with pytest.raises(SpecError) as e:
        BenchConfig(model="m", method="ft-l", data="d", **settings)
    assert e.value.render(flag) == message


def test_untouched_probes_are_the_unedited_cases_facts_with_their_true_answers(data):
    cases = load_dataset(data).cases
    untouched = lifelong.untouched_cases(cases, cases[:4], 10, 0, None)
    assert [c.case_id for c in untouched] == ["untouched:c4", "untouched:c5"]  # never an edited case
    probes = untouched[0].probes
    assert [(p.kind, p.lang, p.answer) for p in probes] == [("locality", "en", "Old4"), ("locality", "de", "Alt4")]
    assert len(lifelong.untouched_cases(cases, cases[:4], 1, 0, None)) == 1
    with pytest.raises(SpecError, match="pass limit below 6"):
        lifelong.untouched_cases(cases, cases, 10, 0, None)
    kept = lifelong.retention_cases(cases[:4], 2, 0)
    assert kept == lifelong.retention_cases(cases[:4], 2, 0) and len(kept) == 2  # a fixed sample
    assert all(p.kind == "reliability" for c in kept for p in c.probes)


def test_retention_is_a_bounded_sample_of_each_segment_whatever_the_length(data):
    """The default re-scores at most RETENTION_SAMPLE edits of each segment: a checkpoint after 10,000 edits
    scores as many as one after 1,000, and a short segment (the counterfactual one) keeps all of its own."""
    base = load_dataset(data).cases[0]
    edited = [dataclasses.replace(base, case_id=f"c{i}", meta={"segment": "counterfactual" if i < 30 else "insertion"})
              for i in range(1000)]
    kept = lifelong.retention_cases(edited, None, 0)
    segments = Counter(c.meta["segment"] for c in kept)
    assert segments == {"counterfactual": 30, "insertion": lifelong.RETENTION_SAMPLE}
    assert [c.case_id for c in kept] == sorted((c.case_id for c in kept), key=lambda x: int(x[1:]))  # edit order
    assert len(lifelong.retention_cases(edited + edited[30:], None, 0)) == 30 + lifelong.RETENTION_SAMPLE
    assert Counter(c.meta["segment"] for c in lifelong.retention_cases(edited, 10, 0)) == {"counterfactual": 10,
                                                                                            "insertion": 10}


def test_groups_are_segments_scripts_and_resource_levels_from_the_language_table():
    rec = {"after_edits": 2, "retention": [["a", "en", 1.0], ["a", "ru", 0.0], ["b", "en", 0.0], ["b", "ja", 1.0],
                                           ["c", "zh", 1.0]],
           "recall": [["x", "th", 1.0]], "locality": [], "window": [1, 2], "seconds_per_edit": 0.5,
           "cpu_seconds_per_edit": 0.25, "state_bytes": 7}
    point = lifelong.summarize_checkpoints([rec], {}, segments={"a": "counterfactual", "b": "insertion",
                                                                 "c": "insertion"})["checkpoints"][0]
    groups = point["retention"]["groups"]
    assert groups["segment"]["counterfactual"]["mean"] == pytest.approx(0.5)  # en 1.0, ru 0.0
    assert groups["segment"]["insertion"]["mean"] == pytest.approx((0.0 + 1.0 + 1.0) / 3)  # en, ja, zh
    assert groups["script"]["Latin"]["mean"] == pytest.approx(0.5) and groups["script"]["Cyrillic"]["n"] == 1
    assert groups["resource"]["high"]["n_cases"] == 3  # every one of these languages is high-resource
    assert list(point["recall"]["groups"]["resource"]) == ["medium"]  # Thai, a medium-resource language
    assert "segment" not in point["recall"]["groups"]  # untouched facts belong to no segment
    assert (point["window"], point["seconds_per_edit"], point["cpu_seconds_per_edit"], point["state_bytes"]) == \
        ([1, 2], 0.5, 0.25, 7)


def test_a_checkpoints_cost_is_its_own_windows():
    seconds = [(1.0, 0.5)] * 100 + [(3.0, 2.0)] * 900
    cost = lifelong.checkpoint_cost(1000, [100, 1000], seconds, 12)
    assert cost == {"window": [101, 1000], "seconds_per_edit": 3.0, "cpu_seconds_per_edit": 2.0, "state_bytes": 12}
    assert lifelong.checkpoint_cost(100, [100, 1000], seconds, None)["seconds_per_edit"] == 1.0
    assert lifelong.checkpoint_cost(100, [100], [(1.0, None)] * 100, 0)["cpu_seconds_per_edit"] is None


def test_summary_is_the_mean_over_languages_with_an_interval():
    rec = {"after_edits": 2, "retention": [["a", "en", 1.0], ["a", "de", 0.0], ["b", "en", 1.0]],
           "recall": [["x", "en", 1.0]], "locality": []}
    point = lifelong.summarize_checkpoints([rec], {})["checkpoints"][0]
    assert point["retention"]["mean"] == pytest.approx((1.0 + 0.0) / 2)  # en 1.0, de 0.0
    assert point["retention"]["per_language"] == {"de": 0.0, "en": 1.0}
    assert point["retention"]["n_cases"] == 2 and len(point["retention"]["ci95"]) == 2
    assert point["retention"]["protocol"] == "answer" and "locality" not in point


def _run(lm, data, out, resume=False):
    cfg = BenchConfig(model="tiny", method="ft-l", data=data, hparams=FAST, mode="sequential", edits_per_step=2,
                      limit=4, checkpoints=[2, 4], recall_sample=2)
    return run_bench(lm, get_method("ft-l", FAST), load_dataset(data), out, cfg, progress=False, resume=resume)


def _lines(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_checkpoints_are_written_summarised_and_resume_as_uninterrupted(tiny_model_dirs, data, tmp_path):
    lm = load_model(str(tiny_model_dirs["llama"]))
    before = state_hash(lm.model)
    s = _run(lm, data, tmp_path / "a")
    assert state_hash(lm.model) == before
    points = _lines(tmp_path / "a" / "checkpoints.jsonl")
    assert [p["after_edits"] for p in points] == [2, 4]
    assert {r[0] for r in points[1]["retention"]} == {"c0", "c1", "c2", "c3"}
    assert {r[0] for r in points[0]["recall"]} == {"untouched:c4", "untouched:c5"}
    assert not (tmp_path / "a" / "sequential.jsonl").exists()  # the per-step re-scoring is replaced
    # each checkpoint's cost is its own window's, and FT-L keeps nothing beside the weights it writes
    assert [p["window"] for p in points] == [[1, 2], [3, 4]] and [p["state_bytes"] for p in points] == [0, 0]
    results = _lines(tmp_path / "a" / "results.jsonl")
    assert points[1]["seconds_per_edit"] == pytest.approx(sum(r["seconds_per_edit"] for r in results[2:]) / 2)
    life = s["lifelong"]
    assert [p["after_edits"] for p in life["checkpoints"]] == [2, 4]
    assert life["settings"]["untouched_ids"] == ["untouched:c4", "untouched:c5"]
    assert {"retention", "recall", "locality"} <= set(life["checkpoints"][0])
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["config"]["checkpoints"] == [2, 4] and run["lifelong"]["recall_sample"] == 2

    # killed in the second chunk: its checkpoint written, its results not (and a torn line)
    c = tmp_path / "c"
    c.mkdir()
    results = (tmp_path / "a" / "results.jsonl").read_text("utf-8").splitlines()
    cps = (tmp_path / "a" / "checkpoints.jsonl").read_text("utf-8").splitlines()
    (c / "run.json").write_text((tmp_path / "a" / "run.json").read_text())
    (c / "results.jsonl").write_text("\n".join(results[:2]) + "\n" + results[2][:30], "utf-8")
    (c / "checkpoints.jsonl").write_text("\n".join(cps) + "\n", "utf-8")
    _run(lm, data, c, resume=True)
    assert numbers_only(_lines(c / "checkpoints.jsonl")) == numbers_only(points)  # the edit seconds aside
    strip = lambda p: numbers_only(_lines(p))
    assert strip(c / "results.jsonl") == strip(tmp_path / "a" / "results.jsonl")
    assert state_hash(lm.model) == before
    assert "retention_edit_language" in life["checkpoints"][0]  # every edit in its own language

    # a finished run resumed edits and scores nothing: it only writes its summary again, the same one
    from polyedit.evaluation import runner

    def refuse(*a, **k):
        raise AssertionError("a finished run re-applied or re-scored edits on resume")

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "_apply", refuse)
    mp.setattr(runner, "_evaluate_with", refuse)
    try:
        again = _run(lm, data, tmp_path / "a", resume=True)
    finally:
        mp.undo()
    assert again["lifelong"] == s["lifelong"]


def test_a_run_that_edits_every_case_is_refused_before_writing(tiny_model_dirs, data, tmp_path):
    lm = load_model(str(tiny_model_dirs["llama"]))
    cfg = BenchConfig(model="tiny", method="ft-l", data=data, hparams=FAST, mode="sequential", checkpoints=[2])
    with pytest.raises(SpecError, match="pass limit below 6"):
        run_bench(lm, get_method("ft-l", FAST), load_dataset(data), tmp_path / "x", cfg, progress=False)
    assert not (tmp_path / "x").exists()


def test_edit_probes_edit_scores_each_edit_on_its_prompt_and_checkpoints_on_every_language(tiny_model_dirs, data,
                                                                                           tmp_path):
    lm = load_model(str(tiny_model_dirs["llama"]))
    cfg = BenchConfig(model="tiny", method="ft-l", data=data, hparams=FAST, mode="sequential", limit=2,
                      checkpoints=[2], recall_sample=2, edit_probes="edit")
    run_bench(lm, get_method("ft-l", FAST), load_dataset(data), tmp_path / "e", cfg, progress=False)
    results = _lines(tmp_path / "e" / "results.jsonl")
    assert [[(p["kind"], p["lang"], p["prompt"]) for p in r["probes"]] for r in results] == [
        [("reliability", "en", f"{s} is the capital of")] for s, _ in FACTS[:2]]
    point = _lines(tmp_path / "e" / "checkpoints.jsonl")[0]
    assert sorted({r[1] for r in point["retention"]}) == ["de", "en"]  # the checkpoint still asks every language
    with pytest.raises(PolyeditError, match="edit_probes: 'some': expected one of 'all' or 'edit'"):
        BenchConfig(model="tiny", method="ft-l", data=data, edit_probes="some")


def test_report_plots_each_measure_with_its_interval(tmp_path):
    from polyedit.reports import figures
    from polyedit.reports.collect import Run

    point = lambda n, m: {"after_edits": n, "retention": {"metric": "answer_em", "protocol": "answer", "mean": m,
                                                          "ci95": [m - 0.1, m + 0.05]}}
    run = Run(tmp_path, {"method": "grace", "data": "world:small"},
              {"lifelong": {"checkpoints": [point(2, 0.9), point(4, 0.7)]}})
    fig = figures.lifelong_curves("t", [run], "retention")
    trace = fig.data[0]
    assert list(trace.x) == [2, 4] and list(trace.y) == [0.9, 0.7]
    assert list(trace.error_y.array) == pytest.approx([0.05, 0.05])
    assert list(trace.error_y.arrayminus) == pytest.approx([0.1, 0.1])
    assert "answer_em (answer)" in fig.layout.yaxis.title.text
    assert figures.lifelong_curves("t", [run], "recall") is None  # a measure the run lacks: no chart


def test_report_draws_a_line_per_group_and_tables_the_cost(tmp_path):
    from polyedit.reports import figures
    from polyedit.reports.collect import Run
    from polyedit.reports.markdown import lifelong_group_rows, lifelong_rows

    entry = lambda m: {"mean": m, "ci95": [m - 0.1, m + 0.1], "n": 4, "n_cases": 2}
    point = lambda n, a, b: {"after_edits": n, "window": [1, n], "seconds_per_edit": 0.5, "cpu_seconds_per_edit": 0.25,
                             "state_bytes": 1024, "retention": {**entry(a), "metric": "answer_em", "protocol": "answer",
                             "groups": {"segment": {"counterfactual": entry(a), "insertion": entry(b)}}}}
    run = Run(tmp_path, {"method": "grace", "data": "world:small"},
              {"lifelong": {"checkpoints": [point(2, 0.9, 0.5), point(4, 0.7, 0.4)]}})
    fig = figures.lifelong_group_curves("t", [run], "retention", "segment")
    assert [(t.name, list(t.y)) for t in fig.data] == [("grace: counterfactual", [0.9, 0.7]),
                                                       ("grace: insertion", [0.5, 0.4])]
    assert figures.lifelong_group_curves("t", [run], "retention", "script") is None
    assert lifelong_rows(run.summary)[1][-2:] == ["0.5 / 0.25 (1–4)", "1,024"]
    assert lifelong_group_rows(run.summary)[3] == ["4", "segment", "insertion", "40.0 [30.0–50.0]", "2"]


def test_retention_in_the_edit_language_keeps_each_edits_own_row():
    """Known answer: edit a made in en, b in de; only (a, en) and (b, de) count, mean over languages."""
    rec = {"after_edits": 2, "retention": [["a", "en", 1.0], ["a", "de", 0.0], ["b", "en", 1.0], ["b", "de", 0.0]]}
    point = lifelong.summarize_checkpoints([rec], {}, {"a": "en", "b": "de"})["checkpoints"][0]
    own = point["retention_edit_language"]
    assert own["per_language"] == {"de": 0.0, "en": 1.0} and own["mean"] == pytest.approx(0.5)
    assert own["n"] == 2 and own["protocol"] == "answer" and own["metric"] == "answer_em"
    assert point["retention"]["n"] == 4  # the every-language measure is unchanged
    assert "retention_edit_language" not in lifelong.summarize_checkpoints([rec], {})["checkpoints"][0]
    results = [{"case_id": "a", "edit": {"lang": "en"}}, {"case_id": "b", "edit": {"lang": "de"}}]
    assert lifelong.edit_languages(results) == {"a": "en", "b": "de"}
