"""From per-case records to the tables the papers report: per language, the mean over languages, by
script, family and resource level, and the cross-lingual matrix (edit language x probe language)."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import Iterable

from polyedit.data.cases import PROBE_KINDS
from polyedit.data.languages import get_language

#: the metric that stands for each probe kind in summary tables, in order of preference
HEADLINE = {
    "reliability": ("token_accuracy", "prob_compare", "prob_compare_total", "bmike_f1", "exact_match"),
    "generality": ("token_accuracy", "prob_compare", "prob_compare_total", "bmike_f1", "exact_match"),
    "locality": ("locality_unchanged", "locality_accuracy", "token_set_f1", "bmike_f1", "token_accuracy"),
    "portability": ("token_accuracy", "token_set_f1", "bmike_f1", "exact_match"),
}


def rows(records: Iterable[dict]) -> list[dict]:
    """Flatten records to one row per (case, probe, metric) with pre and post values."""
    out = []
    for rec in records:
        for p in rec["probes"]:
            for metric, post in p["post"].items():
                out.append({"case_id": rec["case_id"], "edit_lang": rec["edit"]["lang"], "lang": p["lang"],
                            "kind": p["kind"], "metric": metric, "pre": p["pre"].get(metric), "post": post})
    return out


def headline_metric(kind: str, metrics: set[str]) -> str | None:
    # A run scored only by protocols outside the table still gets a headline, never a silently empty row.
    return next((m for m in HEADLINE[kind] if m in metrics), min(metrics) if metrics else None)


def _means(table: list[dict], key: str) -> dict:
    acc: dict = defaultdict(list)
    for r in table:
        if r[key] is not None:
            acc[(r["lang"], r["kind"], r["metric"])].append(r[key])
    return {k: mean(v) for k, v in acc.items()}


def summarize(records: list[dict], group_by: tuple[str, ...] = ("script", "family", "resource")) -> dict:
    table = rows(records)
    post, pre = _means(table, "post"), _means(table, "pre")
    metrics_of = defaultdict(set)
    for lang, kind, metric in post:
        metrics_of[kind].add(metric)
    langs = sorted({k[0] for k in post})
    per_language = {lang: {kind: {m: {"pre": pre.get((lang, kind, m)), "post": post[(lang, kind, m)]}
                                  for (l2, k2, m) in post if l2 == lang and k2 == kind}
                           for kind in PROBE_KINDS if any(k[0] == lang and k[1] == kind for k in post)}
                    for lang in langs}
    headline = {kind: headline_metric(kind, metrics_of[kind]) for kind in PROBE_KINDS if metrics_of[kind]}

    def macro(lang_filter) -> dict:
        res = {}
        for kind, m in headline.items():
            vals = [post[(lang, kind, m)] for lang in langs if lang_filter(lang) and (lang, kind, m) in post]
            pres = [pre[(lang, kind, m)] for lang in langs if lang_filter(lang) and (lang, kind, m) in pre]
            if vals:
                res[kind] = {"metric": m, "post": mean(vals), "pre": mean(pres) if pres else None, "n_langs": len(vals)}
        return res

    edit_langs = sorted({r["edit_lang"] for r in table})
    groups = {}
    for attr in group_by:
        values = sorted({getattr(get_language(lang), attr) for lang in langs})
        groups[attr] = {v: macro(lambda lang, a=attr, v=v: getattr(get_language(lang), a) == v) for v in values}
    groups["latin"] = {"Latin": macro(lambda lang: get_language(lang).latin),
                       "non-Latin": macro(lambda lang: not get_language(lang).latin)}
    return {
        "n_cases": len(records),
        "headline": headline,
        "mean": macro(lambda lang: True),
        "mean_excluding_edit_language": macro(lambda lang: lang not in edit_langs) if len(langs) > 1 else {},
        "per_language": per_language,
        "groups": groups,
        "cross_lingual": (matrix := cross_lingual_matrix(table, headline)),
        # MEMLA's "edit -> others": per edit language, the mean over the other probe languages
        "edit_to_others": {kind: {el: mean(v for pl, v in row.items() if pl != el)
                                  for el, row in by_el.items() if any(pl != el for pl in row)}
                           for kind, by_el in matrix.items()},
    }


def cross_lingual_matrix(table: list[dict], headline: dict[str, str]) -> dict:
    """matrix[kind][edit_lang][probe_lang] = mean post-edit headline metric."""
    acc: dict = defaultdict(list)
    for r in table:
        if headline.get(r["kind"]) == r["metric"]:
            acc[(r["kind"], r["edit_lang"], r["lang"])].append(r["post"])
    out: dict = defaultdict(lambda: defaultdict(dict))
    for (kind, el, pl), v in acc.items():
        out[kind][el][pl] = mean(v)
    return {k: {el: dict(row) for el, row in v.items()} for k, v in out.items()}
