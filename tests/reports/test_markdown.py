import re

from polyedit.evaluation.aggregate import summarize
from polyedit.reports.markdown import summary_markdown


def _record(case_id, edit_lang, rows):
    return {"case_id": case_id, "edit": {"lang": edit_lang}, "probes": [
        {"kind": k, "lang": lang, "pre": {m: pre}, "post": {m: post}} for k, lang, m, pre, post in rows]}


RECORDS = [
    _record("a", "en", [("reliability", "en", "answer_em", 0.0, 1.0), ("reliability", "zh", "answer_em", 0.0, 0.5),
                        ("locality", "zh", "answer_unchanged", 1.0, 1.0), ("reliability", "ru", "answer_em", 0.0, 0.0)]),
    _record("b", "de", [("reliability", "en", "answer_em", 0.5, 1.0), ("reliability", "zh", "answer_em", 0.0, 0.0),
                        ("locality", "zh", "answer_unchanged", 1.0, 0.0)]),
]


def test_summary_known_answers():
    s = summarize(RECORDS)
    assert s["headline"] == {"reliability": "answer_em", "locality": "answer_unchanged"}
    zh = s["per_language"]["zh"]["reliability"]["answer_em"]
    assert (zh["pre"], zh["post"], zh["n"], zh["protocol"]["name"], zh["protocol"]["kind"]) == (
        0.0, 0.25, 2, "answer", "generated")
    assert zh["ci95"] == [0.0, 0.5]  # two cases, 0.5 and 0.0: resamples give 0, 0.25 or 0.5
    # mean over languages is a macro average: en 1.0, ru 0.0, zh 0.25
    assert abs(s["mean"]["reliability"]["post"] - (1.0 + 0.0 + 0.25) / 3) < 1e-12
    assert s["mean_excluding_edit_language"]["reliability"]["n_langs"] == 2  # en and de edited -> ru, zh
    assert s["cross_lingual"]["reliability"] == {"en": {"en": 1.0, "zh": 0.5, "ru": 0.0}, "de": {"en": 1.0, "zh": 0.0}}
    assert s["groups"]["latin"]["Latin"]["reliability"]["post"] == 1.0
    assert set(s["groups"]["script"]) == {"Latin", "Han", "Cyrillic"}
    assert s["mean"]["locality"]["post"] == 0.5


def test_markdown_is_complete():
    s = summarize(RECORDS)
    md = summary_markdown(s, "t")
    assert "| zh | 25.0 [0.0–50.0] (0.0) | 50.0 [0.0–100.0] (100.0) |" in md
    assert "reliability = `answer_em` from protocol `answer` (generated)" in md


def test_a_lifelong_summary_shows_its_checkpoints():
    s = summarize(RECORDS)
    point = lambda m, lo, hi: {"metric": "answer_em", "protocol": "answer", "mean": m, "ci95": [lo, hi]}
    s["lifelong"] = {"checkpoints": [{"after_edits": 2, "retention": point(0.5, 0.25, 0.75),
                                      "recall": point(0.9, 0.8, 1.0), "locality": point(1.0, 1.0, 1.0)}],
                     "measures": {"retention": "reliability of the edits so far"}}
    md = summary_markdown(s, "t")
    assert "## Lifelong editing" in md and "retention: reliability of the edits so far" in md
    assert "| 2 | 50.0 [25.0–75.0] | – | 90.0 [80.0–100.0] | 100.0 [100.0–100.0] |" in md
    assert "Lifelong" not in summary_markdown(summarize(RECORDS), "t")


def test_pre_post_bars_pair_each_language_and_an_empty_chart_is_no_chart():
    from pathlib import Path

    from polyedit.reports import figures
    from polyedit.reports.collect import Run

    def run(name, post):
        entry = {"post": post, "pre": 0.0, "ci95": [post / 2, post], "pre_ci95": [0.0, 0.0]}
        return Run(Path(name), {"method": name}, {"headline": {"reliability": "answer_em"},
                                                  "per_language": {"de": {"reliability": {"answer_em": entry}}}})

    assert figures.pre_post_bars("t", [run("a", 0.0), run("b", 0.0)], "reliability") is None
    fig = figures.pre_post_bars("t", [run("a", 0.8), run("b", 0.0)], "reliability")
    assert [t.name for t in fig.data] == ["pre-edit", "a, post-edit", "b, post-edit"]  # one shared pre-edit bar
    assert list(fig.data[1].y) == [0.8] and list(fig.data[1].error_y.arrayminus) == [0.4]
