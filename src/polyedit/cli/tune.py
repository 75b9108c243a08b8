"""`polyedit tune`: equal-budget multi-objective hyperparameter search on the dev split (Optuna), then,
optionally, the chosen configuration on the test split and into world/editing.yaml."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from polyedit.cli.common import device_option, hparams_option, method_option, model_option, split_langs


def canonical_command(**kw) -> str:
    """The command with every setting spelt out (defaults included), as recorded in the outputs."""
    parts = ["polyedit", "tune", "--model", kw["model"], "--method", kw["method"], "--data", kw["data"],
             "--trials", str(kw["trials"])]
    if kw.get("objective", "single") == "single":  # the single-edit objective's own settings
        parts += ["--cases", str(kw["cases"]), "--locality-floor", f"{kw['floor']:g}"]
    parts += ["--seed", str(kw["seed"]), "--sampler", kw["sampler"]]
    if kw.get("objective", "single") == "single":
        parts += ["--transfer", kw["transfer"]]
    if kw["langs"]:
        parts += ["--langs", ",".join(kw["langs"])]
    if kw["hparams"]:
        parts += ["--hparams", kw["hparams"]]
    if kw.get("objective", "single") != "single":
        parts += ["--objective", kw["objective"]]
        for key, value in kw["lifelong"].items():
            if value is not None:
                parts += ["--" + key.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
    if kw.get("capability"):
        parts += ["--capability", ",".join(kw["capability"]), "--capability-max-drop", f"{kw['max_drop']:g}"]
        parts += [x for flag, key in (("--capability-limit", "capability_limit"),
                                      ("--capability-sample", "capability_sample"))
                  if kw.get(key) is not None for x in (flag, str(kw[key]))]
    return shlex.join(parts + ["--out", kw["out"]])


@click.command("tune")
@model_option
@method_option
@click.option("--data", required=True, help="dataset spec; the search reads its dev split (split=dev is added)")
@click.option("--trials", type=int, required=True, help="the budget: trials finished, complete or failed")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="the search's folder (study.db, trials/, pareto.json, chosen.yaml); rerun to continue it")
@click.option("--cases", type=int, default=20, show_default=True, help="the first N dev cases, the same in every trial")
@click.option("--locality-floor", "floor", type=float, default=0.95, show_default=True,
              help="chosen: the best transfer among trials with at least this locality")
@click.option("--seed", type=int, default=0, show_default=True, help="the sampler's seed (and every trial's run seed)")
@click.option("--sampler", type=click.Choice(["tpe", "nsga2"]), default="tpe", show_default=True,
              help="Optuna's multi-objective TPE, or NSGA-II")
@click.option("--transfer", type=click.Choice(["reliability", "generality"]), default="reliability",
              show_default=True, help="the transfer objective: this probe kind in the languages other than the edit's")
@click.option("--langs", default=None, help="probe languages, comma-separated (default: all in the data)")
@hparams_option
@click.option("--evaluate-test", is_flag=True, help="then run the chosen configuration on the test split (OUT/test)")
@click.option("--test-cases", type=int, default=None, help="with --evaluate-test: the first N test cases (default: all)")
@click.option("--write-editing-yaml", "editing_path", default=None, metavar="PATH",
              help="then write the chosen settings as the method's entry in PATH: a model folder's editing.yaml, "
                   "or a file of world sizes (world/editing.yaml's layout; the entry of the tuned world:SIZE)")
@click.option("--objective", type=click.Choice(["single", "lifelong"]), default="single", show_default=True,
              help="single: each trial edits one case at a time; lifelong: each trial is a sequence of "
                   "--sequence-length edits, scored at its end (edit-language retention, discounted below a recall floor)")
@click.option("--sequence-length", type=int, default=None,
              help="lifelong: N, the first N dev cases edited in turn in every trial [default: 200]")
@click.option("--edits-per-step", type=int, default=None,
              help="lifelong: edits applied together at each step of a trial's sequence (a batch editor's batch, "
                   "as its lifelong runs edit) [default: 1]")
@click.option("--recall-floor", type=float, default=None,
              help="lifelong: the share of the unedited model's recall of untouched facts below which a trial's "
                   "retention is discounted in proportion [default: 0.9]")
@click.option("--recall-sample", type=int, default=None,
              help="lifelong: untouched dev cases whose facts recall asks, in every language [default: 50]")
@click.option("--retention-sample", type=int, default=None,
              help="lifelong: a seeded sample of the N edits re-scored at the end [default: all N]")
@click.option("--write-lifelong", "lifelong_path", default=None, type=click.Path(dir_okay=False),
              help="lifelong: then write the chosen settings, with their provenance, as MODEL's METHOD entry of "
                   "this file of lifelong settings (e.g. configs/tuned-lifelong/world-medium.yaml)")
@click.option("--capability", default=None,
              help="lm-eval tasks (names or task YAML files, comma-separated) checked before and after each "
                   "trial's edits, with --capability-max-drop (needs polyedit[capability])")
@click.option("--capability-max-drop", "max_drop", type=float, default=None,
              help="a trial whose edits lowered a task's headline metric (its own scale, mean over the checked "
                   "edits) by more than this is infeasible: recorded, never chosen")
@click.option("--capability-limit", type=int, default=None, help="with --capability: examples per task and language")
@click.option("--capability-sample", type=int, default=None,
              help="with --capability: edits checked per trial, seeded (default all)")
@device_option
def command(model, method, data, trials, out, cases, floor, seed, sampler, transfer, langs, hparams,
            evaluate_test, test_cases, editing_path, objective, sequence_length, edits_per_step, recall_floor,
            recall_sample, retention_sample, lifelong_path, capability, max_drop, capability_limit,
            capability_sample, device):
    """Search METHOD's declared hyperparameter space for the best trade-off of other-language transfer and
    locality on DATA's dev split; write the Pareto front and the configuration chosen at the locality floor."""
    from polyedit.errors import PolyeditError
    from polyedit.methods.base import HParams, METHODS
    from polyedit.tune.config import TuneConfig
    from polyedit.tune.study import run_tune

    METHODS.get(method)
    langs = split_langs(langs)
    base = HParams.read_yaml(hparams) if hparams else {}
    if test_cases is not None and not evaluate_test:
        raise PolyeditError("--test-cases needs --evaluate-test")
    if objective == "lifelong" and (evaluate_test or editing_path):
        raise PolyeditError(f"{'--evaluate-test' if evaluate_test else '--write-editing-yaml'} is for the single-edit "
                            f"objective; a lifelong search writes its settings with --write-lifelong FILE")
    if lifelong_path and objective != "lifelong":
        raise PolyeditError("--write-lifelong needs --objective lifelong")
    extra = dict(sequence_length=sequence_length, edits_per_step=edits_per_step, recall_floor=recall_floor,
                 recall_sample=recall_sample,
                 retention_sample=retention_sample)
    cfg = TuneConfig(model=model, method=method, data=data, trials=trials, cases=cases, locality_floor=floor,
                     seed=seed, sampler=sampler, transfer=transfer, langs=langs, base_hparams=base,
                     test_cases=test_cases, objective=objective, **extra,
                     capability=capability.split(",") if capability is not None else None,
                     capability_max_drop=max_drop, capability_limit=capability_limit,
                     capability_sample=capability_sample)
    if editing_path:
        from polyedit.tune.editing import check_target

        check_target(model, editing_path)  # before the search: a target it would refuse is said at once
    if lifelong_path:
        from polyedit.tune.lifelong_settings import read_settings

        read_settings(Path(lifelong_path))  # a file that is not one of lifelong settings, before any trial
    cmd = canonical_command(model=model, method=method, data=data, trials=trials, cases=cases, floor=floor,
                            seed=seed, sampler=sampler, transfer=transfer, langs=langs, hparams=hparams, out=out,
                            objective=objective, lifelong={k: getattr(cfg, k) for k in extra},
                            capability=cfg.capability, max_drop=max_drop, capability_limit=capability_limit,
                            capability_sample=capability_sample)
    record = run_tune(cfg, out, command=cmd, device=device)
    res = record["result"]
    click.echo(f"{res['finished']} of {res['budget']} trials ({res['complete']} complete, {res['failed']} failed) "
               f"in {out}; {res['wall_seconds']:.0f} s in trials")
    c = res["chosen"]
    if c is None:
        if res.get("infeasible"):
            raise PolyeditError(f"no trial met the capability constraint (drop <= {max_drop:g}; {res['infeasible']} "
                                f"infeasible): nothing to choose (see trials.json for each trial's drops)")
        raise PolyeditError("no trial completed: nothing to choose (see trials.json for the errors)")
    if objective == "lifelong":
        _report_lifelong(cfg, record, out, lifelong_path)
        return
    floor_note = "" if c["meets_floor"] else f" (NO trial reached locality {floor:g}: highest locality shown)"
    click.echo(f"chosen trial {c['number']}{floor_note}: dev {transfer} in the other languages "
               f"{100 * c['transfer']:.1f}% (protocol answer, answer_em), locality {100 * c['locality']:.1f}% "
               f"(protocol answer_locality, answer_unchanged); {out}/chosen.yaml")
    if evaluate_test:
        from polyedit.tune.evaluate import evaluate_test as run_test

        t = run_test(cfg, out, device=device)
        lo, hi = t["transfer_ci95"]
        llo, lhi = t["locality_ci95"]
        click.echo(f"test split ({t['n_cases']} cases): {transfer} in the other languages {100 * t['transfer']:.1f}% "
                   f"[{100 * lo:.1f}, {100 * hi:.1f}] (answer), locality {100 * t['locality']:.1f}% "
                   f"[{100 * llo:.1f}, {100 * lhi:.1f}] (answer_locality); 95% bootstrap intervals; {out}/test")
    if editing_path:
        from polyedit.tune.editing import write_editing_entry

        click.echo(f"wrote the {method} entry in {write_editing_entry(cfg, out, editing_path)}")
    click.echo(f"report: polyedit report {out} --out {out}/report")


def _report_lifelong(cfg, record: dict, out: str, path: str | None) -> None:
    c = record["result"]["chosen"]
    r0 = record.get("unedited_recall")
    floor_note = ("" if c["meets_floor"] else f" (it does NOT keep {cfg.recall_floor:g} of the unedited recall)")
    click.echo(f"chosen trial {c['number']}{floor_note}: S {c['score']:.3f}; after {cfg.sequence_length} edits, "
               f"retention in the edit "
               f"language {100 * c['retention']:.1f}%, recall of untouched facts {100 * c['recall']:.1f}% (unedited "
               f"{100 * r0:.1f}%; protocol answer, answer_em); {out}/chosen.yaml")
    if path:
        from polyedit.tune.lifelong_settings import write_lifelong_entry

        written = write_lifelong_entry(cfg, out, path)
        click.echo(f"wrote {cfg.model}'s {cfg.method} lifelong entry in {written}")
