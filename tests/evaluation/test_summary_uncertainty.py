"""ci95 and protocol labels on every mean of a summary, dataset-declared groups, and the paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyedit.errors import PolyeditError
from polyedit.evaluation.aggregate import paired_difference, summarize
from polyedit.evaluation.uncertainty import bootstrap_ci, macro_mean, paired_bootstrap


def test_bootstrap_known_answers():
    assert bootstrap_ci([("a", "en", 1.0), ("b", "en", 1.0)]) == [1.0, 1.0]  # no spread, no width
    assert bootstrap_ci([("a", "en", 0.3)]) == [0.3, 0.3]  # one case: nothing to resample
    rows = [(f"c{i}", "en", float(i % 2)) for i in range(40)]
    lo, hi = bootstrap_ci(rows)
    assert lo < 0.5 < hi and 0.3 < lo and hi < 0.7  # ~0.5 ± 1.96·sqrt(.25/40) = ±0.155
    # clustered: 40 probes from 4 cases (all-or-nothing per case) are far less certain than 40 cases
    clustered = [(f"c{i % 4}", lang, float(i % 4 < 2)) for i in range(4) for lang in ("de", "fr", "ja", "ko", "ru",
                                                                                          "zh", "th", "pl", "it", "es")]
    lo_c, hi_c = bootstrap_ci(clustered)
    assert hi_c - lo_c > 2 * (hi - lo)


def test_macro_mean_weights_languages_equally():
    rows = [("a", "en", 1.0), ("b", "en", 1.0), ("c", "en", 1.0), ("a", "ja", 0.0)]
    assert macro_mean(rows) == 0.5


def test_paired_bootstrap_sees_a_consistent_difference():
    a = [(f"c{i}", "en", 1.0 if i % 5 else 0.0) for i in range(30)]
    b = [(f"c{i}", "en", 1.0 if i % 5 and i % 3 else 0.0) for i in range(30)]
    d = paired_bootstrap(a, b)
    assert d["diff"] == pytest.approx(macro_mean(a) - macro_mean(b)) and d["n_cases"] == 30
    assert 0 < d["ci95"][0] < d["diff"] < d["ci95"][1] and d["p_value"] < 0.05
    same = paired_bootstrap(a, a)
    assert same["diff"] == 0.0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="share no case"):
        paired_bootstrap(a, [("other", "en", 1.0)])


def _rec(cid, meta, rows):
    return {"case_id": cid, "edit": {"lang": "en"}, "meta": meta,
            "protocols": {"answer": {"name": "answer", "kind": "generated"},
                          "token_accuracy": {"name": "token_accuracy", "kind": "teacher-forced"}},
            "probes": [{"kind": k, "lang": lang, "pre": {"answer_em": pre, "token_accuracy": 0.5},
                        "post": {"answer_em": post, "token_accuracy": 1.0},
                        "protocol": {"answer_em": {"name": "answer"}, "token_accuracy": {"name": "token_accuracy"}}}
                       for k, lang, pre, post in rows]}


RECORDS = [_rec("a", {"answer_kind": "shared"}, [("reliability", "en", 0.0, 1.0), ("reliability", "ja", 0.0, 0.0)]),
           _rec("b", {"answer_kind": "translated"}, [("reliability", "en", 0.0, 1.0), ("reliability", "ja", 0.0, 1.0)])]


def test_summary_headline_is_declared_and_every_mean_is_labelled_with_an_interval():
    s = summarize(RECORDS, meta_groups=("answer_kind", "absent_field"))
    assert s["headline"] == {"reliability": "answer_em"}  # the generated protocol declares it, not a table
    entries = [s["mean"]["reliability"], s["mean_excluding_edit_language"]["reliability"],
               s["per_language"]["ja"]["reliability"]["answer_em"]]
    entries += [e for groups in s["groups"].values() for g in groups.values() for e in g.values()]
    for e in entries:
        assert e["protocol"]["name"] == "answer" and e["protocol"]["kind"] == "generated"
        assert e["ci95"][0] <= e["post"] <= e["ci95"][1] and e["pre_ci95"] == [0.0, 0.0] and e["n"] >= 1
    assert s["mean"]["reliability"]["post"] == pytest.approx((1.0 + 0.5) / 2) and s["mean"]["reliability"]["n"] == 4
    # the dataset's case-level groups; a declared field no case carries makes no group
    assert s["groups"]["answer_kind"]["shared"]["reliability"]["post"] == 0.5
    assert s["groups"]["answer_kind"]["translated"]["reliability"]["post"] == 1.0 and "absent_field" not in s["groups"]
    # teacher-forced numbers are diagnostics, labelled, never the headline
    diag = s["diagnostics"]["reliability"]["token_accuracy"]
    assert diag["protocol"]["kind"] == "teacher-forced" and diag["post"] == 1.0
    assert "bootstrap over cases" in s["ci_method"]


def test_the_headline_is_declared_once_whatever_the_run_order():
    recs = [dict(r, protocols={"token_accuracy": r["protocols"]["token_accuracy"], "answer": r["protocols"]["answer"]})
            for r in RECORDS]
    s = summarize(recs)
    assert s["headline"] == {"reliability": "answer_em"} and s["no_headline"] == {}
    assert s["headline_rule"]["locality"] == "answer_unchanged" and s["headline_rule"]["portability"] == "answer_em"
    assert s["protocol_roles"] == {"answer": "headline", "token_accuracy": "diagnostic"}


def _only(metric: str, records=RECORDS) -> list[dict]:
    """The records with every metric but `metric` (and its protocol) dropped."""
    def keep(d):
        return {k: v for k, v in d.items() if k == metric}
    return [dict(r, probes=[dict(p, pre=keep(p["pre"]), post=keep(p["post"]), protocol=keep(p["protocol"]))
                            for p in r["probes"]]) for r in records]


def test_a_kind_without_its_declared_headline_has_none_and_the_summary_says_why():
    # no fallback to "the first metric by name": token accuracy stays a diagnostic
    s = summarize(_only("token_accuracy"), paper_protocols=("token_accuracy",))
    assert s["headline"] == {} and s["mean"] == {}
    assert "answer_em was not scored (protocol answer was not run)" in s["no_headline"]["reliability"]
    diag = s["diagnostics"]["reliability"]["token_accuracy"]
    assert diag["post"] == 1.0 and diag["role"] == "the paper's protocol"
    assert s["protocol_roles"] == {"token_accuracy": "the paper's protocol"}


def test_a_dataset_names_its_answer_scorer_but_not_a_diagnostic():
    recs = [dict(r, probes=[dict(p, post={"bmike_f1": p["post"]["answer_em"]}, pre={"bmike_f1": 0.0},
                                 protocol={"bmike_f1": {"name": "bmike_f1"}}) for p in r["probes"]]) for r in RECORDS]
    s = summarize(recs, answer_scorer="bmike_f1")
    assert s["headline"] == {"reliability": "bmike_f1"} and s["mean"]["reliability"]["post"] == 0.75
    with pytest.raises(PolyeditError, match="answer scorer 'token_accuracy' cannot head reliability"):
        summarize(RECORDS, answer_scorer="token_accuracy")


def test_paired_difference_between_two_runs():
    better = [_rec(r["case_id"], {}, [(p["kind"], p["lang"], 0.0, 1.0) for p in r["probes"]]) for r in RECORDS]
    d = paired_difference(better, RECORDS, "reliability", "answer_em")
    assert d["diff"] == pytest.approx(1.0 - 0.75) and d["ci95"][1] >= d["diff"] >= d["ci95"][0]


def test_answer_language_table_reports_the_detector_ceiling():
    rec = _rec("a", {}, [("reliability", "de", 0.0, 1.0)])
    rec["probes"][0]["pre"].update(answer_in_language=0.0, gold_in_language=1.0)
    rec["probes"][0]["post"].update(answer_in_language=1.0, gold_in_language=1.0)
    rec2 = _rec("b", {}, [("reliability", "de", 0.0, 1.0)])
    rec2["probes"][0]["pre"].update(answer_in_language=0.0, gold_in_language=0.0)
    rec2["probes"][0]["post"].update(answer_in_language=0.0, gold_in_language=0.0)
    de = summarize([rec, rec2])["answer_language"]["de"]
    assert (de["answer_in_language"]["post"], de["answer_in_language"]["pre"], de["detector_ceiling"]["post"]) == (
        0.5, 0.0, 0.5)


def test_reports_show_the_headline_protocol_with_intervals_and_diagnostics_apart():
    from polyedit.cli.demo import headline_note
    from polyedit.reports.collect import Run
    from polyedit.reports.leaderboard import protocol_note
    from polyedit.reports.markdown import summary_markdown

    s = summarize(RECORDS)
    assert headline_note(s) == "Headline: reliability = answer_em (answer, generated). 95% intervals: summary.md."
    md = summary_markdown(s)
    head, _, diag = md.partition("## Diagnostics")
    assert "| en | 100.0 [100.0–100.0] (0.0) |" in head and "token_accuracy" not in head.split("| language |")[1]
    assert "| reliability | `token_accuracy` | `token_accuracy` (teacher-forced) | 100.0 [100.0–100.0] (50.0) |" in diag
    other = summarize([dict(r, probes=[dict(p, post={"bmike_f1": 1.0}, pre={"bmike_f1": 0.0},
                                            protocol={"bmike_f1": {"name": "bmike_f1"}}) for p in r["probes"]])
                       for r in RECORDS], answer_scorer="bmike_f1")
    runs = [Run(Path("a"), {"method": "a"}, s), Run(Path("b"), {"method": "b"}, other)]
    note = protocol_note(runs, ["reliability"])
    # two runs with different headline metrics are flagged, not mixed
    assert note.startswith("reliability: answer_em / bmike_f1 (protocol ")
    assert "answer (generated)" in note
