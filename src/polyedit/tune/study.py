"""The search loop: Optuna asks, a bench run on the first N dev cases scores, Optuna is told; resumable.

Determinism: trial n is sampled by a sampler made afresh for it, seeded from (seed, n). Its draw then
depends only on the seed, n and the trials before it, which the study's SQLite file holds, so a search
stopped and continued proposes exactly the trials an uninterrupted one does (no sampler state lives only
in memory). A trial cut short (a kill, Ctrl-C) stays RUNNING in the storage with the hyperparameters it
was sampled with; the next start scores it first, continuing its bench run (`resume=True`), and tells the
study, so its number and values are those of an uninterrupted run too.

Capability constraint (`--capability TASKS --capability-max-drop X`): each trial's run also checks the
lm-eval tasks before and after its edits (`bench --capability`); a trial whose edits lowered a task's
headline metric by more than X is infeasible: recorded as such in trial.json and told to Optuna through the
trial's constraint (`Trial.set_constraint`, which the samplers and `best_trials` honour), and never chosen.

Budget: `trials` is the number of trials finished, complete or failed. A trial fails when the method
refuses or breaks on its hyperparameters (a `PolyeditError`, e.g. an update that left non-finite
weights); it is recorded with its error, counts against the budget, and the search goes on.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from polyedit.errors import PolyeditError
from polyedit.evaluation.store import write_atomic
from polyedit.methods.base import METHODS
from polyedit.tune import lifelong
from polyedit.tune.config import LIFELONG, PROTOCOLS, TuneConfig, capability_constraint, objectives, read_config
from polyedit.tune.results import write_outputs
from polyedit.tune.space import check_space, search_space, space_record, trial_hparams

TUNE_FILE = "tune.json"
STUDY_FILE = "study.db"
STUDY_NAME = "polyedit-tune"
TRIALS_DIR = "trials"
LOCK_NAME = ".polyedit-tune.lock"
#: the values Optuna maximises, in this order
DIRECTIONS = ["maximize", "maximize"]


def trial_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def startup_trials(trials: int) -> int:
    """TPE's random start: a quarter of the budget, 1 to 10 trials (Optuna's default is 10)."""
    return max(1, min(10, trials // 4))


def population(trials: int) -> int:
    """NSGA-II's population: a quarter of the budget, 2 to 50 (Optuna's default is 50), so that a small
    budget still runs several generations."""
    return max(2, min(50, trials // 4))


def sampler_record(cfg: TuneConfig) -> dict:
    import optuna

    rec = {"name": cfg.sampler, "seed": cfg.seed, "optuna": optuna.__version__,
           "per_trial_seed": "SeedSequence([seed, trial number])"}
    if cfg.sampler == "tpe":
        rec |= {"class": "TPESampler", "multivariate": True, "n_startup_trials": startup_trials(cfg.trials)}
    else:
        rec |= {"class": "NSGAIISampler", "population_size": population(cfg.trials)}
    if cfg.capability_max_drop is not None:
        rec["constraint"] = (f"capability drop <= {cfg.capability_max_drop:g} on {', '.join(cfg.capability)} "
                             f"(Trial.set_constraint('capability', largest drop - bound))")
    return rec


def make_sampler(sampler: dict, number: int):
    """A sampler for trial `number` alone, from the search's recorded sampler settings (those of its first
    budget: growing the budget later does not change how earlier trials were drawn)."""
    import optuna

    seed = trial_seed(sampler["seed"], number)
    if sampler["name"] == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=sampler["population_size"], seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=sampler["n_startup_trials"],
                                      multivariate=sampler["multivariate"])


@contextmanager
def _locked(out: Path):
    from filelock import FileLock, Timeout

    path = out / LOCK_NAME
    made = not path.exists()
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise PolyeditError(f"{out} is in use by another polyedit tune; wait for it or choose another --out") from None
    refused = True
    try:
        yield
        refused = False
    finally:
        lock.release()
        if refused and made and not (out / TUNE_FILE).exists():
            path.unlink(missing_ok=True)  # refused before the search began: the user's folder is as it was


def _open_record(out: Path, cfg: TuneConfig, command: str | None) -> dict:
    """tune.json: a new search's record, or the saved one (which must describe the same search)."""
    path = out / TUNE_FILE
    if path.exists():
        saved = read_config(path)
        if saved.get("identity") != cfg.identity():
            diff = sorted(k for k in set(cfg.identity()) | set(saved.get("identity") or {})
                          if cfg.identity().get(k) != (saved.get("identity") or {}).get(k))
            raise PolyeditError(f"{out} holds a different search (differs in: {', '.join(diff) or '?'}); "
                                f"choose another --out")
        return saved
    if any(p.name != LOCK_NAME for p in out.iterdir()):
        raise PolyeditError(f"{out} is not empty and holds no {TUNE_FILE}; choose a new --out")
    lifelong_run = cfg.goal == LIFELONG
    return {"command": command, "config": cfg.model_dump(mode="json"), "identity": cfg.identity(), "sampler": sampler_record(cfg),
            "objectives": cfg.goal.axes, "values_order": cfg.goal.values,
            "protocols": lifelong.PROTOCOLS if lifelong_run else PROTOCOLS, "split": "dev",
            **({"objective": lifelong.FORMULA} if lifelong_run else {}),
            "dev_data": cfg.dev_data, "budgets": [], "sessions": []}


def run_tune(cfg: TuneConfig, out: str | Path, command: str | None = None, progress: bool = True,
             lm=None, device: str = "auto", after_trial=None) -> dict:
    """Run (or continue) the search into `out`; returns the record with the chosen trial. `lm`: a loaded
    model to use instead of loading `cfg.model`; `after_trial(number)`: called after each trial is told."""
    method = METHODS.get(cfg.method)
    trial_hparams(method, cfg.base_hparams, {})  # a bad --hparams file fails before anything loads
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(cfg, out, command, progress, lm, device, after_trial, method)
    except BaseException:
        if created and all(p.name == LOCK_NAME for p in out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)  # refused before anything was written: leave nothing behind
        raise


def _run(cfg: TuneConfig, out: Path, command, progress, lm, device, after_trial, method) -> dict:
    import optuna

    from polyedit.data.registry import load_dataset
    from polyedit.models.load import load_model

    with _locked(out):
        record = _open_record(out, cfg, command)
        dataset = load_dataset(cfg.dev_data)  # bad data fails before the model loads
        lm = lm if lm is not None else load_model(cfg.model, device=device)
        dims = search_space(method, lm.arch.n_layers)
        check_space(method, dims, cfg.base_hparams)
        record["space"] = space_record(dims, lm.arch.n_layers)
        record["n_dev_cases"] = min(len(dataset.cases), cfg.cases or len(dataset.cases))
        if cfg.goal == LIFELONG:
            lifelong.check_length(cfg, len(dataset.cases))
            record["n_dev_cases"] = cfg.sequence_length
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(storage=f"sqlite:///{out / STUDY_FILE}", study_name=STUDY_NAME,
                                    directions=DIRECTIONS, load_if_exists=True)
        finished = [t for t in study.trials if t.state.is_finished()]
        if len(finished) > cfg.trials:
            raise PolyeditError(f"{out} already holds {len(finished)} finished trials; --trials must be at least that")
        if not record["budgets"] or record["budgets"][-1]["trials"] != cfg.trials:
            record["budgets"].append({"trials": cfg.trials, "command": command})
        session = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": 0.0, "trials": 0}
        record["sessions"].append(session)
        t_session = time.perf_counter()
        save = lambda: write_atomic(out / TUNE_FILE, json.dumps(record, indent=2, ensure_ascii=False))  # noqa: E731
        save()  # before the first trial: a search killed at once (SIGKILL runs no `finally`) is still resumable

        def score(trial, params: dict) -> None:
            number = trial.number
            folder = out / TRIALS_DIR / f"{number:04d}"
            result = {"number": number, "params": params, "folder": str(folder.relative_to(out))}
            t0 = time.perf_counter()
            try:
                summary = _bench(lm, cfg, trial_hparams(method, cfg.base_hparams, params), folder, dataset)
                result |= (lifelong.values(summary, cfg.sequence_length) if cfg.goal == LIFELONG
                           else objectives(summary, cfg.transfer))
                if cfg.capability_max_drop is not None:
                    result |= capability_constraint(summary, cfg.capability_max_drop)
                result["seconds_per_edit"] = summary.get("seconds_per_edit")
            except PolyeditError as e:
                result["error"] = str(e)
            result["seconds"] = time.perf_counter() - t0
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / "trial.json", json.dumps(result, indent=2, ensure_ascii=False))
            if "capability_excess" in result:  # feasible at <= 0: what Optuna's samplers and best_trials read
                trial.set_constraint("capability", result["capability_excess"])
            if "error" in result:
                study.tell(number, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(number, [result[k] for k in cfg.goal.values])
            if cfg.goal == LIFELONG and "unedited_recall" not in record:  # recall₀, once, from the first run
                r0 = lifelong.unedited_recall(lm, cfg, dataset, folder)
                if r0 is not None:
                    record["unedited_recall"] = r0
            session["trials"] += 1
            session["seconds"] = time.perf_counter() - t_session
            save()
            write_outputs(out, study, record, cfg)
            bar.update(1)
            bar.set_postfix_str(_postfix(result, cfg.goal), refresh=True)
            if after_trial is not None:
                after_trial(number)

        bar = tqdm(total=cfg.trials, initial=len(finished), disable=not progress, unit="trial", dynamic_ncols=True,
                   desc=f"tune {cfg.method}")
        try:
            for stale in [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]:
                params = {d.name: d.decode(stale.params[d.name]) for d in dims}
                score(optuna.trial.Trial(study, stale._trial_id), params)  # a Trial, to set its constraint
            while sum(t.state.is_finished() for t in study.trials) < cfg.trials:
                study.sampler = make_sampler(record["sampler"], len(study.trials))
                trial = study.ask()
                score(trial, {d.name: d.suggest(trial) for d in dims})
        finally:
            bar.close()
            session["seconds"] = time.perf_counter() - t_session
            save()
        return write_outputs(out, study, record, cfg)


def _bench(lm, cfg: TuneConfig, hp, folder: Path, dataset) -> dict:
    from polyedit.api import bench

    if cfg.goal == LIFELONG:
        return lifelong.bench_sequence(lm, cfg, hp, folder, dataset)
    return bench(lm, spec=cfg.run_spec(hp.to_dict()), out=folder, resume=True, progress=False, dataset=dataset)


def _postfix(result: dict, goal) -> str:
    if "error" in result:
        return f"trial {result['number']} failed"
    a, b = goal.values
    return f"trial {result['number']}: {a} {result[a]:.3f}, {b} {result[b]:.3f}"
