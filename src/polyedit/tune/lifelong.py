"""`polyedit tune --objective lifelong`: a trial is a sequence of N edits on the dev split, scored at its end.

A trial is `bench --mode sequential --edits-per-step 1 --limit N --checkpoints N` on the dev split, with the
lifelong checkpoint of `evaluation/lifelong.py` after the N-th edit. Its two values, both higher-is-better:

- retention = the edit-language retention at N: the share of the N edits (or a seeded `--retention-sample`
  of them) whose reliability prompt in the language the edit was made in still generates the new answer
  (protocol `answer`, answer_em), the mean over edit languages of the per-language means;
- recall = the recall of untouched facts at N: answer_em against the true answer of the reliability prompts,
  in every language, of `--recall-sample` dev cases the sequence does not edit (the same cases in every
  trial), the mean over languages.

Chosen: the trial of highest score

    S = retention × min(1, recall / (recall_floor × recall₀))

recall₀ the unedited model's recall of the same prompts (measured once per search, `unedited_recall`): the
retention, discounted in proportion to any shortfall of recall below the floor (ties: higher recall, then the
earlier trial). A trial that edits nothing scores 0, so it is never chosen over one that edits (a floor alone
chose such no-ops whenever no editing trial kept the floor); `meets_floor` says whether the chosen one keeps it.

A trial's run reads only the reliability probes of each case (`reliability_only`): the objective scores
nothing else, and the per-edit evaluation of the other probe kinds would multiply a trial's time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from polyedit.data.cases import RELIABILITY
from polyedit.errors import PolyeditError
from polyedit.evaluation import lifelong
from polyedit.tune.config import LIFELONG, TuneConfig

#: the per-edit scoring of a trial (the checkpoint adds answer_locality on the untouched facts)
PROTOCOLS = ["answer"]
FORMULA = ("chosen: max S = retention_edit_language(N) * min(1, recall(N) / (recall_floor * recall(0))); retention: "
           "answer_em of the N edits' reliability prompts in their edit language after the N-th edit; recall: "
           "answer_em of untouched dev facts in every language, recall(0) on the unedited model (macro means over "
           "languages)")


def check_length(cfg: TuneConfig, n_dev: int) -> None:
    """N leaves dev cases unedited: recall is measured on them."""
    if cfg.sequence_length >= n_dev:
        raise PolyeditError(f"--sequence-length {cfg.sequence_length}: {cfg.dev_data} has {n_dev} cases and recall "
                            f"is measured on cases the sequence does not edit; give fewer than {n_dev}")


def reliability_only(dataset):
    """The dataset with each case's reliability probes only (what retention and recall score)."""
    cases = [dataclasses.replace(c, probes=[p for p in c.probes if p.kind == RELIABILITY]) for c in dataset.cases]
    return dataclasses.replace(dataset, cases=cases)


def bench_sequence(lm, cfg: TuneConfig, hp, folder: Path, dataset) -> dict:
    """One trial: the sequence of the first N dev cases, `edits_per_step` at a time, the checkpoint after the
    N-th."""
    from polyedit.api import bench

    return bench(lm, cfg.method, cfg.dev_data, folder, langs=cfg.langs, protocols=PROTOCOLS, hparams=hp,
                 seed=cfg.seed, mode="sequential", edits_per_step=cfg.edits_per_step, limit=cfg.sequence_length,
                 checkpoints=[cfg.sequence_length], retention_sample=cfg.retention_sample,
                 recall_sample=cfg.recall_sample, resume=True, progress=False, dataset=reliability_only(dataset),
                 log_samples=False)


def values(summary: dict, n: int) -> dict:
    """retention and recall after the N-th edit, with their intervals, retention in every language and the
    untouched facts' locality, from the run's summary (`lifelong.summarize_checkpoints`)."""
    points = [p for p in (summary.get("lifelong") or {}).get("checkpoints", []) if p.get("after_edits") == n]
    if not points or "recall" not in points[0]:
        raise PolyeditError(f"the sequence's summary has no checkpoint after edit {n}")
    p = points[0]
    if lifelong.RETENTION_EDIT_LANGUAGE[0] not in p:
        raise PolyeditError("no retention in the edits' own languages: the edit language is not among --langs")
    out = {LIFELONG.maximised: p[lifelong.RETENTION_EDIT_LANGUAGE[0]]["mean"],
           LIFELONG.floored: p[lifelong.RECALL[0]]["mean"],
           "retention_ci95": p[lifelong.RETENTION_EDIT_LANGUAGE[0]]["ci95"], "recall_ci95": p[lifelong.RECALL[0]]["ci95"],
           "retention_all_languages": p[lifelong.RETENTION[0]]["mean"]}
    if lifelong.LOCALITY_DRIFT[0] in p:
        out["locality"] = p[lifelong.LOCALITY_DRIFT[0]]["mean"]
    return out


def unedited_recall(lm, cfg: TuneConfig, dataset, trial_folder: Path) -> float | None:
    """recall₀: the unedited model's recall of the untouched facts a trial asked (its run.json names the cases
    it edited, so the untouched sample is drawn exactly as the run drew it); None before any trial ran."""
    from polyedit.evaluation.uncertainty import macro_mean
    from polyedit.models.backend import HFBackend

    run = trial_folder / "run.json"
    if not run.is_file():
        return None
    edited = set(json.loads(run.read_text("utf-8"))["cases"])
    untouched = lifelong.untouched_cases(dataset.cases, [c for c in dataset.cases if c.case_id in edited],
                                         cfg.recall_sample, cfg.seed, cfg.langs)
    ev = lifelong.evaluate_untouched(HFBackend(lm), untouched, None, None, None)
    return macro_mean([tuple(r) for r in lifelong.rows_of(ev, "answer_em")])


def floor(cfg: TuneConfig, record: dict) -> float | None:
    """The recall floor × recall₀ (None until recall₀ is known)."""
    r0 = record.get("unedited_recall")
    return None if r0 is None else cfg.recall_floor * r0


def score(row: dict, recall_needed: float | None) -> float:
    """S = retention × min(1, recall / (recall_floor × recall₀)) (module docstring); retention alone where the
    floor is 0 or not known yet."""
    if not recall_needed:
        return row[LIFELONG.maximised]
    return row[LIFELONG.maximised] * min(1.0, row[LIFELONG.floored] / recall_needed)


def choose(rows: list[dict], recall_needed: float | None) -> dict | None:
    """The complete trial of highest S (ties: higher recall, then the earlier trial), with its S and whether it
    keeps the floor."""
    done = [r for r in rows if r["state"] == "COMPLETE"]
    if not done:
        return None
    best = max(done, key=lambda r: (score(r, recall_needed), r[LIFELONG.floored], -r["number"]))
    keeps = recall_needed is not None and best[LIFELONG.floored] >= recall_needed
    return {**best, "score": score(best, recall_needed), "meets_floor": keeps}


def header(record: dict, cfg: TuneConfig, summary: dict) -> list[str]:
    """chosen.yaml's header for a lifelong search."""
    c = summary["chosen"]
    r0 = record.get("unedited_recall", float("nan"))
    rule = (f"the highest S (retention, discounted below recall {cfg.recall_floor:g} x the unedited {r0:.3f}); "
            + ("it keeps that recall" if c["meets_floor"] else "it does NOT keep that recall"))
    return [f"polyedit tune --objective lifelong: {cfg.method} on {cfg.model}, chosen on the dev split: {rule}",
            f"command: {record.get('command') or 'the Python API (polyedit.tune.study.run_tune)'}",
            f"a trial: a sequence of the first {cfg.sequence_length} dev cases ({cfg.dev_data}), "
            f"{cfg.edits_per_step} edit(s) per step, "
            f"scored after the last; budget {cfg.trials} trials ({summary['complete']} complete, {summary['failed']} "
            f"failed), sampler {cfg.sampler} seed {cfg.seed}; {summary['wall_seconds']:.0f} s in trials",
            f"chosen: trial {c['number']}; S {c['score']:.3f}; retention in the edit language {c['retention']:.3f}, "
            f"recall of untouched facts {c['recall']:.3f} (protocol answer, answer_em)",
            f"objective: {FORMULA}",
            "every field is listed: `--hparams chosen.yaml` runs exactly this configuration"]
