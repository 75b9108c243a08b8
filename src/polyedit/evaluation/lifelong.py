"""Lifelong (sequential) editing checkpoints: `polyedit bench --mode sequential --checkpoints 100,500,1000`.

At each checkpoint, with every edit so far in place, three cheap measurements go to `checkpoints.jsonl`
(one line per checkpoint, written before the chunk's results, so a resumed run redoes an unfinished one):

- retention: the reliability probes (every language) of the edits made so far, or of a fixed-seed sample
  of `retention_sample` of them (default `RETENTION_SAMPLE`) in each segment (`meta["segment"]`:
  counterfactual, insertion), scored by the headline `answer` protocol (answer_em against the new
  answer): do earlier edits survive later ones. Bounded, so a checkpoint after 10,000 edits costs what
  one after 1,000 does;
- recall: the model's answers to facts no edit of the run touches, in every language, against their
  true answers (`answer` protocol, answer_em): the reliability prompts of `recall_sample` cases of the
  dataset that the run does not edit (those after `--limit`), asked with their original answers;
- locality: on the same untouched prompts, whether the generated answer is the one the unedited model
  gave (`answer_locality` protocol, answer_unchanged); its fall from 1 is the drift.

Beside the measures, each checkpoint records its cost (`checkpoint_cost`): the mean seconds per edit of
the window since the previous checkpoint (edits 1..100, 101..1,000, ...: the cost of the latest edits,
not an average diluted by the early cheap ones) and the bytes of state the method keeps beside the
weights (`EditMethod.state_bytes`: a codebook, a side memory, running statistics).

The untouched probes are drawn once per run (seeded by the run's seed), scored on the unedited model at
the start (the locality reference) and again at every checkpoint, so every checkpoint asks the same
questions. A dataset's cases are distinct facts (the world's are distinct (person, relation) pairs), so a
case the run never edits asks a fact no edit rewrote. In-context methods answer them through the last
edit's handle (whose memory holds every edit so far).
"""

from __future__ import annotations

import random
from dataclasses import replace

from polyedit.data.cases import LOCALITY, RELIABILITY, EditCase, Probe
from polyedit.errors import SpecError
from polyedit.evaluation import uncertainty
from polyedit.evaluation.engine import Evaluation, evaluate
from polyedit.evaluation.records import protocol_labels

RETENTION = ("retention", "answer", "answer_em")
#: edits re-scored per segment at a checkpoint when a run names no --retention-sample: bounded, so the cost
#: of a checkpoint does not grow with the edits so far
RETENTION_SAMPLE = 200
SEGMENT = "segment"  # the case field (meta) that splits a sequence into segments, e.g. counterfactual, insertion
#: retention's rows in each edit's own language only: whether an edit still holds where it was made, apart
#: from whether it ever reached the other languages (derived from the retention rows, `with_edit_language`)
RETENTION_EDIT_LANGUAGE = ("retention_edit_language", "answer", "answer_em")
RECALL = ("recall", "answer", "answer_em")
LOCALITY_DRIFT = ("locality", "answer_locality", "answer_unchanged")
MEASURES = (RETENTION, RETENTION_EDIT_LANGUAGE, RECALL, LOCALITY_DRIFT)


def check_settings(mode: str, step: int, checkpoints, retention_sample, limit: int | None = None) -> list[int] | None:
    """The lifelong settings of a run (`RunSpec`, which a sweep's mode entries go through too): checkpoints
    only in sequential mode, within the first `limit` cases, a retention sample only with checkpoints.
    Returns the checkpoints as `check_checkpoints` orders them."""
    if checkpoints is not None:
        if mode != "sequential":
            raise SpecError("checkpoints", "needs {mode} sequential (edits must accumulate)", ("mode",))
        if not isinstance(checkpoints, (list, tuple)):
            raise SpecError("checkpoints", f"must be a list of edit counts, got {checkpoints!r}")
        if not checkpoints:
            raise SpecError("checkpoints", "names no edit count")
        checkpoints = check_checkpoints(list(checkpoints), step, limit or 2**62)  # the cases: known at the run
    elif retention_sample is not None:  # it would re-score nothing: no checkpoint asks for retention
        raise SpecError("retention_sample", "needs {checkpoints}", ("checkpoints",))
    return checkpoints


def check_checkpoints(checkpoints: list[int], step: int, n_cases: int = 2**62) -> list[int]:
    """Sorted, distinct edit counts, each a whole number of steps and at most the run's edits."""
    for c in checkpoints:  # each before sorting: a string among numbers is a message, not a TypeError
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise SpecError("checkpoints", f"{c!r} is not a positive whole number of edits")
    out = sorted(set(checkpoints))
    for c in out:
        if c % step:
            raise SpecError("checkpoints", f"{c} is not a multiple of {{edits_per_step}} {step}", ("edits_per_step",))
        if c > n_cases:
            raise SpecError("checkpoints", f"{c} is more edits than the run makes ({n_cases} cases)")
    return out


def untouched_cases(all_cases: list[EditCase], edited: list[EditCase], n: int, seed: int,
                    langs: list[str] | None) -> list[EditCase]:
    """`n` cases the run does not edit (fixed by `seed`), each reduced to its reliability prompts asked with
    their true answers (kind locality, so `answer_locality` scores them too)."""
    ids = {c.case_id for c in edited}
    pool = [c for c in all_cases if c.case_id not in ids]
    if not pool:
        raise SpecError("checkpoints", f"recall and locality are measured on cases the run does not edit, and "
                                       f"it edits all {len(all_cases)}; pass {{limit}} below {len(all_cases)}",
                        ("limit",))
    chosen = sorted(random.Random(f"lifelong-{seed}").sample(range(len(pool)), min(n, len(pool))))
    out = []
    for i in chosen:
        case = pool[i].restrict(langs) if langs else pool[i]
        probes = [Probe(LOCALITY, p.lang, p.prompt, p.answer_true, None, p.subject)
                  for p in case.probes if p.kind == RELIABILITY and p.answer_true]
        if probes:
            out.append(EditCase(f"untouched:{case.case_id}", case.edit, probes, dict(case.meta)))
    return out


def retention_cases(edited: list[EditCase], sample: int | None, seed: int) -> list[EditCase]:
    """The edits so far, or a seeded sample of `sample` (None: `RETENTION_SAMPLE`) of each segment's,
    reliability probes only, in the order they were made."""
    sample = RETENTION_SAMPLE if sample is None else sample
    strata: dict = {}
    for i, c in enumerate(edited):
        strata.setdefault(c.meta.get(SEGMENT), []).append(i)
    idx = []
    for segment, members in strata.items():
        if sample >= len(members):
            idx += members
            continue
        # a sequence without segments keeps the seed it always had, so its samples are unchanged
        tag = f"retention-{seed}-{len(edited)}" + ("" if segment is None else f"-{segment}")
        idx += [members[j] for j in random.Random(tag).sample(range(len(members)), sample)]
    return [replace(edited[i], probes=[p for p in edited[i].probes if p.kind == RELIABILITY]) for i in sorted(idx)]


def checkpoint_cost(after_edits: int, checkpoints: list[int], edit_seconds: list[tuple[float, float | None]],
                    state_bytes: int | None) -> dict:
    """The cost fields of a checkpoint record: the window of edits since the previous checkpoint, their
    mean (wall, CPU) seconds per edit (`edit_seconds`: one pair per edit so far; CPU None where a record
    predates it), and the bytes of state the method keeps (None: not reported)."""
    start = max([c for c in checkpoints if c < after_edits], default=0)
    wall = [w for w, _ in edit_seconds[start:after_edits]]
    cpu = [c for _, c in edit_seconds[start:after_edits]]
    mean = (lambda xs: sum(xs) / len(xs) if xs and None not in xs else None)
    return {"window": [start + 1, after_edits], "seconds_per_edit": mean(wall), "cpu_seconds_per_edit": mean(cpu),
            "state_bytes": state_bytes}


def evaluate_untouched(backend, cases: list[EditCase], handle, reference: Evaluation | None, max_new_tokens):
    return evaluate(backend, cases, ["answer", "answer_locality"], handle, reference, max_new_tokens)


def rows_of(ev: Evaluation, metric: str) -> list[list]:
    return [[r.case_id, r.probe.lang, r.metrics[metric]] for r in ev.results if metric in r.metrics]


def checkpoint_record(after_edits: int, retention: Evaluation, untouched: Evaluation) -> dict:
    """One line of checkpoints.jsonl: (case, language, value) rows of each measure, with their protocols
    and, per measure, the full label of the protocol that produced its metric."""
    protocols = {**retention.protocols, **untouched.protocols}
    return {"after_edits": after_edits,
            "retention": rows_of(retention, "answer_em"), "recall": rows_of(untouched, "answer_em"),
            "locality": rows_of(untouched, "answer_unchanged"), "protocols": protocols,
            "protocol": {name: protocol_labels({metric: proto}, protocols)[metric]
                         for name, proto, metric in (RETENTION, RECALL, LOCALITY_DRIFT)}}


def with_edit_language(records: list[dict], edit_lang: dict[str, str]) -> list[dict]:
    """The checkpoint records with `retention_edit_language` added: each edit's retention row in the language
    it was made in (`edit_lang`: case id -> edit language, from the run's cases or results)."""
    out = []
    for rec in records:
        own = [r for r in rec.get(RETENTION[0], []) if edit_lang.get(r[0]) == r[1]]
        out.append({**rec, RETENTION_EDIT_LANGUAGE[0]: own} if own else rec)
    return out


def edit_languages(results: list[dict]) -> dict[str, str]:
    """case id -> edit language, from a run's results records."""
    return {r["case_id"]: r["edit"]["lang"] for r in results if isinstance(r.get("edit"), dict) and "lang" in r["edit"]}


def segments_of(results: list[dict]) -> dict[str, str]:
    """case id -> its segment (`meta["segment"]`), from a run's results records; empty for a dataset without."""
    return {r["case_id"]: r["meta"][SEGMENT] for r in results if SEGMENT in (r.get("meta") or {})}


#: the measures reported per group at each checkpoint, and the groupings: a case's segment, and the probe
#: language's script and resource level read from the language table (data/languages.json)
GROUPED = ("retention", "retention_edit_language", "recall")
LANGUAGE_GROUPINGS = ("script", "resource")
COST = ("window", "seconds_per_edit", "cpu_seconds_per_edit", "state_bytes")


def _entry(rows: list[tuple]) -> dict:
    return {"mean": uncertainty.macro_mean(rows), "ci95": uncertainty.bootstrap_ci(rows), "n": len(rows),
            "n_cases": len({r[0] for r in rows})}


def group_entries(rows: list[tuple], segments: dict[str, str]) -> dict[str, dict[str, dict]]:
    """grouping -> group -> the mean over languages of the rows in it, its interval and n: by segment (rows
    of cases in `segments`) and by the language's script and resource level."""
    from polyedit.data.languages import get_language

    keys = {"segment": lambda r: segments.get(r[0])}
    keys.update({g: (lambda r, g=g: getattr(get_language(r[1]), g)) for g in LANGUAGE_GROUPINGS})
    out: dict[str, dict[str, dict]] = {}
    for grouping, key in keys.items():
        groups: dict[str, list[tuple]] = {}
        for r in rows:
            if (k := key(r)) is not None:
                groups.setdefault(k, []).append(r)
        if groups:
            out[grouping] = {k: _entry(v) for k, v in sorted(groups.items())}
    return out


def summarize_checkpoints(records: list[dict], settings: dict, edit_lang: dict[str, str] | None = None,
                          segments: dict[str, str] | None = None) -> dict:
    """summary.json's `lifelong`: per checkpoint and measure, the mean over languages of the per-language
    means, its 95% interval (bootstrap over cases) and the per-language means; for retention and recall the
    same per group (`group_entries`: segment from `segments`, script, resource level); the checkpoint's
    cost (`checkpoint_cost`) where recorded. With `edit_lang`, retention in each edit's own language too."""
    out = []
    records = with_edit_language(records, edit_lang) if edit_lang else records
    for rec in sorted(records, key=lambda r: r["after_edits"]):
        point = {"after_edits": rec["after_edits"]}
        for name, protocol, metric in MEASURES:
            rows = [tuple(r) for r in rec.get(name, [])]
            if not rows:
                continue
            per_lang: dict[str, list[float]] = {}
            for _, lang, v in rows:
                per_lang.setdefault(lang, []).append(v)
            point[name] = {"metric": metric, "protocol": protocol, **_entry(rows),
                           "per_language": {k: sum(v) / len(v) for k, v in sorted(per_lang.items())}}
            if name in GROUPED:
                point[name]["groups"] = group_entries(rows, segments or {})
        point.update({k: rec[k] for k in COST if k in rec})
        out.append(point)
    return {"settings": settings, "ci": uncertainty.CI_METHOD, "checkpoints": out,
            "measures": {"retention": "reliability (answer_em, every language) of the edits made so far",
                         "retention_edit_language": "the same, in each edit's own language only",
                         "recall": "answer_em against the true answer of facts no edit touches, every language",
                         "locality": "answer_unchanged of those untouched facts vs the unedited model "
                                     "(drift = 1 - locality)"}}
