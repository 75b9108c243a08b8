"""From per-case records to the tables the papers report: per language, the mean over languages, by
script, family and resource level, by any case-level field the dataset declares (`Dataset.group_by`,
e.g. the world's `answer_kind`), and the cross-lingual matrix (edit language x probe language).

Which metric stands for a probe kind (the headline) is declared once, here (`headline_rule`), and means
the same on every dataset: reliability, generality and portability are the generated answer under the
dataset's answer scorer (`answer_em`, normalised exact match with aliases; BMIKE-53 names its authors'
`bmike_f1`), locality is `answer_unchanged`. A kind whose declared metric the run did not produce has no
headline, and the summary says why (`no_headline`); there is no fallback. Every other metric is a
diagnostic, labelled as the paper's protocol where the dataset was published with it (`protocol_roles`).

Every mean entry says which protocol produced it and carries a 95% interval (`uncertainty.py`):
`{"metric", "protocol": {"name", "kind", ...}, "post", "pre", "n", "n_cases", "n_langs", "ci95", "pre_ci95"}`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean
from typing import Iterable

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, PROBE_KINDS, RELIABILITY
from polyedit.data.languages import get_language
from polyedit.errors import PolyeditError
from polyedit.evaluation import uncertainty
from polyedit.evaluation.metrics import get_metric
from polyedit.evaluation.protocols import PROTOCOLS


def rows(records: Iterable[dict]) -> list[dict]:
    """Flatten records to one row per (case, probe, metric) with pre and post values and the protocol."""
    out = []
    for rec in records:
        for p in rec["probes"]:
            names = p.get("protocol") or {}
            for metric, post in p["post"].items():
                proto = names.get(metric)
                out.append({"case_id": rec["case_id"], "edit_lang": rec["edit"]["lang"], "lang": p["lang"],
                            "kind": p["kind"], "metric": metric, "pre": p["pre"].get(metric), "post": post,
                            "protocol": proto["name"] if isinstance(proto, dict) else proto,
                            "meta": rec.get("meta") or {}})
    return out


def _descriptors(records: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for rec in records:
        out.update(rec.get("protocols") or {})
    for name, p in PROTOCOLS.items():
        out.setdefault(name, p.describe())
    return out


#: the headline of the probe kinds that ask for the new fact is the dataset's answer scorer
ANSWER_KINDS = (RELIABILITY, GENERALITY, PORTABILITY)
#: the answer scorer where a dataset names none (`Dataset.answer_scorer`)
ANSWER_SCORER = "answer_em"
#: the headline of locality on every dataset: the generated answer unchanged by the edit
LOCALITY_HEADLINE = "answer_unchanged"


def headline_rule(answer_scorer: str = ANSWER_SCORER) -> dict[str, str]:
    """kind -> the metric that is its headline. The answer scorer must be a registered metric that may head
    the answer kinds (`metrics.py`), so a diagnostic cannot be made a headline by naming it."""
    metric = get_metric(answer_scorer)
    if not set(ANSWER_KINDS) <= set(metric.heads):
        raise PolyeditError(f"answer scorer {answer_scorer!r} cannot head {', '.join(ANSWER_KINDS)} "
                            f"(it may head: {', '.join(metric.heads) or 'no probe kind'})")
    return {**dict.fromkeys(ANSWER_KINDS, answer_scorer), LOCALITY: LOCALITY_HEADLINE}


def headline_metrics(table: list[dict], answer_scorer: str = ANSWER_SCORER
                     ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """(kind -> (metric, protocol), kind -> why it has no headline) for the kinds the run has probes of."""
    present = defaultdict(set)
    for r in table:
        present[r["kind"]].add(r["metric"])
    rule = headline_rule(answer_scorer)
    head, missing = {}, {}
    for kind in PROBE_KINDS:
        if not present[kind]:
            continue
        metric = rule[kind]
        producer = get_metric(metric).protocol
        if metric in present[kind]:
            head[kind] = (metric, producer)
        else:
            missing[kind] = (f"its headline {metric} was not scored (protocol {producer} was not run); "
                             f"{', '.join(sorted(present[kind]))} are diagnostics")
    return head, missing


def protocol_roles(protocols, head: dict[str, tuple[str, str]], paper_protocols=()) -> dict[str, str]:
    """protocol -> "headline", "the paper's protocol" (the dataset was published scored by it) or "diagnostic"."""
    heads = {p for _, p in head.values()}
    return {p: "headline" if p in heads else "the paper's protocol" if p in paper_protocols else "diagnostic"
            for p in protocols}


def _entry(sel: list[dict], metric: str, protocol: dict | None) -> dict | None:
    post = [(r["case_id"], r["lang"], float(r["post"])) for r in sel if r["post"] is not None]
    if not post:
        return None
    pre = [(r["case_id"], r["lang"], float(r["pre"])) for r in sel if r["pre"] is not None]
    return {"metric": metric, "protocol": protocol, "post": uncertainty.macro_mean(post),
            "pre": uncertainty.macro_mean(pre) if pre else None, "n": len(post),
            "n_cases": len({r[0] for r in post}), "n_langs": len({r[1] for r in post}),
            "ci95": uncertainty.bootstrap_ci(post), "pre_ci95": uncertainty.bootstrap_ci(pre) if pre else None}


def summarize(records: list[dict], group_by: tuple[str, ...] = ("script", "family", "resource"),
              meta_groups: tuple[str, ...] = (), answer_scorer: str = ANSWER_SCORER, paper_protocols=()) -> dict:
    """`group_by`: language-table columns; `meta_groups`: case-level fields (`EditCase.meta`) to group by;
    `answer_scorer`: the dataset's (`headline_rule`); `paper_protocols`: those the dataset was published with."""
    table = rows(records)
    head, no_headline = headline_metrics(table, answer_scorer)
    desc = _descriptors(records)
    by_key = defaultdict(list)  # (kind, metric) -> rows
    for r in table:
        by_key[(r["kind"], r["metric"])].append(r)
    langs = sorted({r["lang"] for r in table})

    def protocol_of(kind: str, metric: str) -> dict | None:
        names = {r["protocol"] for r in by_key[(kind, metric)] if r["protocol"]}
        name = next(iter(names)) if len(names) == 1 else head.get(kind, (None, None))[1]
        return desc.get(name) if name else None

    def macro(keep) -> dict:
        res = {}
        for kind, (m, _) in head.items():
            e = _entry([r for r in by_key[(kind, m)] if keep(r)], m, protocol_of(kind, m))
            if e:
                res[kind] = e
        return res

    per_language = {}
    for lang in langs:
        per_language[lang] = {}
        for (kind, metric), sel in sorted(by_key.items(), key=lambda kv: (PROBE_KINDS.index(kv[0][0]), kv[0][1])):
            e = _entry([r for r in sel if r["lang"] == lang], metric, protocol_of(kind, metric))
            if e:
                per_language[lang].setdefault(kind, {})[metric] = e
    edit_langs = sorted({r["edit_lang"] for r in table})
    groups: dict = {}
    for attr in group_by:
        values = sorted({getattr(get_language(lang), attr) for lang in langs})
        groups[attr] = {v: macro(lambda r, a=attr, v=v: getattr(get_language(r["lang"]), a) == v) for v in values}
    groups["latin"] = {"Latin": macro(lambda r: get_language(r["lang"]).latin),
                       "non-Latin": macro(lambda r: not get_language(r["lang"]).latin)}
    for field_name in meta_groups:
        values = sorted({str(r["meta"][field_name]) for r in table if field_name in r["meta"]})
        if values:
            groups[field_name] = {v: macro(lambda r, f=field_name, v=v: str(r["meta"].get(f)) == v) for v in values}
    headline = {kind: m for kind, (m, _) in head.items()}
    # per probe language, over every probe kind: answers in the query's language, and the detector's
    # ceiling (the same detector on the gold answers, whose language is known)
    answer_language = {}
    for lang in langs:
        mine = [r for r in table if r["lang"] == lang]
        got = _entry([r for r in mine if r["metric"] == "answer_in_language"], "answer_in_language",
                     desc.get("answer"))
        ceiling = _entry([r for r in mine if r["metric"] == "gold_in_language"], "gold_in_language", desc.get("answer"))
        if got and ceiling:
            answer_language[lang] = {"answer_in_language": got, "detector_ceiling": ceiling}
    run_protocols = list(dict.fromkeys(r["protocol"] for r in table if r["protocol"]))
    roles = protocol_roles(run_protocols, head, paper_protocols)
    diagnostics = {kind: {m: {**e, "role": roles.get((e.get("protocol") or {}).get("name"), "diagnostic")}
                          for (k, m), sel in sorted(by_key.items()) if k == kind and m != headline.get(kind)
                          for e in [_entry(sel, m, protocol_of(kind, m))] if e}
                   for kind in PROBE_KINDS if any(k == kind for k, _ in by_key)}
    out = {
        "n_cases": len(records),
        "headline": headline,
        "headline_protocols": {kind: p for kind, (_, p) in head.items()},
        "headline_rule": headline_rule(answer_scorer),
        "no_headline": no_headline,
        "protocol_roles": roles,
        "ci_method": uncertainty.CI_METHOD,
        "protocols": {name: desc[name] for name in run_protocols},
        "mean": macro(lambda r: True),
        "mean_excluding_edit_language": macro(lambda r: r["lang"] not in edit_langs) if len(langs) > 1 else {},
        "per_language": per_language,
        "groups": groups,
        "diagnostics": diagnostics,
        "answer_language": answer_language,
        "cross_lingual": (matrix := cross_lingual_matrix(table, headline)),
        # MEMLA's "edit -> others": per edit language, the mean over the other probe languages
        "edit_to_others": {kind: {el: mean(v for pl, v in row.items() if pl != el)
                                  for el, row in by_el.items() if any(pl != el for pl in row)}
                           for kind, by_el in matrix.items()},
    }
    empty = empty_gold(records, {name: desc[name] for name in run_protocols})
    if empty:
        out["empty_gold"] = empty
    if any("judge" in (rec.get("protocols") or {}) for rec in records):
        # a junk verdict or an unreachable judge leaves a generated answer unscored: say how many
        out["judge_unscored"] = {stage: sum("answer_em" in p[stage] and "judge_correct" not in p[stage]
                                            for rec in records for p in rec["probes"]) for stage in ("pre", "post")}
    return out


def empty_gold(records: list[dict], protocols: dict[str, dict]) -> dict | None:
    """Probes without a gold answer (BMIKE-53's empty `loc_ans`), by kind, and which of the run's protocols
    scored them (those declaring `empty_answer`) or omitted them; None when there are none."""
    kinds = Counter(p["kind"] for rec in records for p in rec["probes"] if p.get("answer") == "")
    if not kinds:
        return None
    scoring = sorted(n for n, d in protocols.items() if d.get("empty_answer"))
    return {"probes": sum(kinds.values()), "by_kind": dict(kinds), "scored_by": scoring,
            "omitted_by": sorted(set(protocols) - set(scoring))}


def cross_lingual_matrix(table: list[dict], headline: dict[str, str]) -> dict:
    """matrix[kind][edit_lang][probe_lang] = mean post-edit headline metric."""
    acc: dict = defaultdict(list)
    for r in table:
        if headline.get(r["kind"]) == r["metric"] and r["post"] is not None:
            acc[(r["kind"], r["edit_lang"], r["lang"])].append(r["post"])
    out: dict = defaultdict(lambda: defaultdict(dict))
    for (kind, el, pl), v in acc.items():
        out[kind][el][pl] = mean(v)
    return {k: {el: dict(row) for el, row in v.items()} for k, v in out.items()}


def paired_difference(records_a: list[dict], records_b: list[dict], kind: str, metric: str,
                      stage: str = "post", other_languages: bool = False) -> dict:
    """Method A minus method B on the cases both runs scored (mean over languages of `metric` on `kind`
    probes), with a paired bootstrap interval (`uncertainty.paired_bootstrap`). `other_languages`: only the
    probes in a language other than their case's edit language (cross-lingual transfer)."""
    def pick(records):
        return [(r["case_id"], r["lang"], float(r[stage])) for r in rows(records)
                if r["kind"] == kind and r["metric"] == metric and r[stage] is not None
                and not (other_languages and r["lang"] == r["edit_lang"])]
    return {"kind": kind, "metric": metric, "stage": stage, "other_languages": other_languages,
            **uncertainty.paired_bootstrap(pick(records_a), pick(records_b))}
