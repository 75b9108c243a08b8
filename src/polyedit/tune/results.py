"""What a search writes, rebuilt from the study's storage after every trial (so a resumed search writes
the same files as an uninterrupted one):

- `trials.json`: every trial: number, state, hyperparameters, transfer, locality, edit-language value,
  seconds, error;
- `pareto.json`: the report's format, `{"objectives": ["locality", "transfer"], "trials": [{params,
  locality, transfer, pareto}]}`, plus the chosen trial and the floor;
- `chosen.json` and `chosen.yaml`: the chosen trial, the best transfer among the trials whose locality
  reaches the floor (ties: higher locality, then the earlier trial). Where none reaches it, the trial of
  highest locality, marked `meets_floor: false`. `chosen.yaml` lists every field, so `--hparams
  chosen.yaml` runs exactly this configuration (a model's editing.yaml fills nothing); its header says
  how it was produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from polyedit.data.jsonio import read_json
from polyedit.evaluation.store import write_atomic
from polyedit.methods.base import METHODS
from polyedit.tune import lifelong
from polyedit.tune.config import LIFELONG, SINGLE, Objective, TuneConfig
from polyedit.tune.space import trial_hparams


def trial_rows(out: Path, study) -> list[dict]:
    rows = []
    for t in study.trials:
        row = {"number": t.number, "state": t.state.name}
        extra = out / "trials" / f"{t.number:04d}" / "trial.json"
        if extra.exists():
            row |= read_json(extra)
        else:
            row["params"] = None  # asked but not yet scored: its hyperparameters are decoded when it is
        rows.append(row)
    return rows


def choose(rows: list[dict], floor: float | None, goal: Objective = SINGLE) -> dict | None:
    """The best `goal.maximised` among the complete trials whose `goal.floored` reaches `floor` (ties: the
    higher floored value, then the earlier trial); where none does (or no floor is known yet), the trial of
    highest floored value, marked `meets_floor: false`. Only trials that meet the capability constraint count
    (every trial, without one)."""
    top, kept = goal.maximised, goal.floored
    done = [r for r in rows if r["state"] == "COMPLETE" and r.get("feasible", True)]  # the capability constraint
    if not done:
        return None
    ok = [r for r in done if floor is not None and r[kept] >= floor]
    if ok:
        best = max(ok, key=lambda r: (r[top], r[kept], -r["number"]))
        return {**best, "meets_floor": True}
    best = max(done, key=lambda r: (r[kept], r[top], -r["number"]))
    return {**best, "meets_floor": False}


def pareto_numbers(study) -> set[int]:
    return {t.number for t in study.best_trials} if any(t.state.name == "COMPLETE" for t in study.trials) else set()


def write_outputs(out: Path, study, record: dict, cfg: TuneConfig) -> dict:
    rows = trial_rows(out, study)
    front = pareto_numbers(study)
    goal = cfg.goal
    floor = lifelong.floor(cfg, record) if goal == LIFELONG else cfg.locality_floor
    chosen = lifelong.choose(rows, floor) if goal == LIFELONG else choose(rows, floor, goal)
    write_atomic(out / "trials.json", json.dumps(rows, indent=2, ensure_ascii=False))
    floor_entry = ({"recall_floor": cfg.recall_floor, "unedited_recall": record.get("unedited_recall"),
                    "recall_needed": floor, "rule": lifelong.FORMULA} if goal == LIFELONG else {"locality_floor": cfg.locality_floor})
    pareto = {"objectives": goal.axes, **floor_entry,
              "chosen": chosen["number"] if chosen else None,
              "trials": [{"number": r["number"], "params": r["params"], **{k: r[k] for k in goal.axes},
                          "pareto": r["number"] in front}
                         | ({"feasible": r["feasible"]} if "feasible" in r else {})
                         for r in rows if r["state"] == "COMPLETE"]}
    if cfg.capability_max_drop is not None:
        pareto["capability_max_drop"] = cfg.capability_max_drop
    write_atomic(out / "pareto.json", json.dumps(pareto, indent=2, ensure_ascii=False))
    summary = {"finished": sum(r["state"] in ("COMPLETE", "FAIL") for r in rows),
               "complete": sum(r["state"] == "COMPLETE" for r in rows),
               "failed": sum(r["state"] == "FAIL" for r in rows), "budget": cfg.trials,
               "infeasible": sum(r.get("feasible") is False for r in rows),
               "wall_seconds": sum(r.get("seconds") or 0.0 for r in rows), "chosen": chosen}
    if chosen is not None:
        hp = trial_hparams(METHODS.get(cfg.method), cfg.base_hparams, chosen["params"]).to_dict()
        write_atomic(out / "chosen.json", json.dumps({**summary, "method": cfg.method, "hparams": hp,
                                                       **floor_entry, "objective": goal.name,
                                                       **({} if goal == LIFELONG else
                                                          {"transfer_kind": cfg.transfer})},
                                                      indent=2, ensure_ascii=False))
        header = (lifelong.header if goal == LIFELONG else chosen_header)(record, cfg, summary)
        body = yaml.safe_dump(hp, sort_keys=False, allow_unicode=True)
        write_atomic(out / "chosen.yaml", "".join(f"# {line}\n" for line in header) + body)
    return {**record, "result": summary}


def chosen_header(record: dict, cfg: TuneConfig, summary: dict) -> list[str]:
    c = summary["chosen"]
    floor_note = (f"the best transfer with locality >= {cfg.locality_floor:g}" if c["meets_floor"] else
                  f"NO trial reached locality {cfg.locality_floor:g}: the trial of highest locality")
    langs = ", ".join(cfg.langs) if cfg.langs else "all"
    sampler = record["sampler"]
    settings = ", ".join(f"{k} {v}" for k, v in sampler.items() if k in ("n_startup_trials", "population_size"))
    other = f"{cfg.transfer} in the languages other than the edit language"
    return [
        f"polyedit tune: {cfg.method} on {cfg.model}, chosen on the dev split: {floor_note}",
        f"command: {record.get('command') or 'the Python API (polyedit.tune.study.run_tune)'}",
        f"split: dev ({cfg.dev_data}), the first {record.get('n_dev_cases', cfg.cases)} cases; probe languages: {langs}",
        f"budget: {cfg.trials} trials ({summary['finished']} finished: {summary['complete']} complete, "
        f"{summary['failed']} failed); sampler {sampler['name']} (seed {cfg.seed}; {settings})",
        f"wall time: {summary['wall_seconds']:.0f} s, the sum over trials (under whatever load the machine had)",
        f"chosen: trial {c['number']}; dev transfer ({other}, protocol answer, answer_em) {c['transfer']:.3f}; "
        f"dev locality (protocol answer_locality, answer_unchanged) {c['locality']:.3f}",
        "every field is listed: `--hparams chosen.yaml` runs exactly this configuration",
    ] + ([f"capability: among the trials whose edits lowered no task of {', '.join(cfg.capability)} by more than "
          f"{cfg.capability_max_drop:g} (headline metric, mean over the checked edits; {summary['infeasible']} "
          f"trials infeasible); this trial's drops: "
          + ", ".join(f"{t} {d['drop']:+.4f} ({d['metric']})" for t, d in c["capability_drop"].items())]
         if cfg.capability_max_drop is not None else [])
