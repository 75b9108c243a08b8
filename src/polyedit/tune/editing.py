"""`--write-editing-yaml PATH`: the chosen configuration as recommended settings for the method, with a comment
recording the command, budget, split and the chosen trial's results. PATH is a model folder (its editing.yaml,
method -> fields, which `load_model` reads) or a file of world sizes (size -> method -> fields, the layout of
world/editing.yaml; the entry of the tuned world:SIZE). Only what the user names is written, never polyedit's
own installed files."""

from __future__ import annotations

from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.tune.config import TuneConfig
from polyedit.tune.evaluate import read_chosen
from polyedit.world.editing_yaml import set_entry, set_model_entry


def entry_comment(record: dict, cfg: TuneConfig, chosen: dict, test: dict | None) -> list[str]:
    c = chosen["chosen"]
    lines = [f"tuned: `{record.get('command') or 'polyedit.tune.study.run_tune'}`",
             f"dev split ({cfg.dev_data}), first {record.get('n_dev_cases', cfg.cases)} cases; budget "
             f"{cfg.trials} trials ({chosen['complete']} complete, {chosen['failed']} failed), sampler "
             f"{cfg.sampler} seed {cfg.seed}, {chosen['wall_seconds']:.0f} s",
             f"chosen trial {c['number']}, best transfer at locality >= {cfg.locality_floor:g}: dev {cfg.transfer} "
             f"in the other languages {100 * c['transfer']:.1f}% (answer), locality {c['locality']:.3f} "
             f"(answer_locality)"]
    if test is not None:
        lo, hi = test.get("transfer_ci95") or [None, None]
        ci = f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else ""
        lines.append(f"test split, {test['n_cases']} cases: other-language {cfg.transfer} {100 * test['transfer']:.1f}%"
                     f"{ci}, locality {test['locality']:.3f}")
    return lines


def check_target(model: str, path: str | Path) -> str | None:
    """Refuse, before the search starts, a target inside polyedit's installed files or a file of world sizes
    for a model that is no world:SIZE; the world size of a file target (None for a model folder)."""
    import polyedit

    target, package = Path(path).resolve(), Path(polyedit.__file__).resolve().parent
    if target == package or package in target.parents:
        raise PolyeditError(f"--write-editing-yaml {path}: inside polyedit's installed files ({package}); "
                            f"name a copy, or the model's folder")
    if target.is_dir():
        return None
    if not model.startswith("world:"):
        raise PolyeditError(f"--write-editing-yaml {path}: a file holds entries by world size, and {model} is "
                            f"no world:SIZE model; name the model's folder to write its editing.yaml")
    return model.removeprefix("world:")


def write_editing_entry(cfg: TuneConfig, out: str | Path, path: str | Path) -> Path:
    """Set the method's entry in `path` (a model folder's editing.yaml, or a file's world:SIZE block) to the
    searched fields of the chosen trial (and the fixed ones from `--hparams`); every other field is the class
    default, as in the trials."""
    out = Path(out)
    size = check_target(cfg.model, path)
    chosen = read_chosen(out)
    if chosen["finished"] < cfg.trials:
        raise PolyeditError(f"{out}: the search has finished {chosen['finished']} of {cfg.trials} trials; "
                            f"finish it before writing its settings")
    if not chosen["chosen"]["meets_floor"]:
        raise PolyeditError(f"{out}: no trial reached locality {cfg.locality_floor:g}; nothing written "
                            f"(lower --locality-floor or search further)")
    record = read_json(out / "tune.json")
    test = read_json(out / "test.json") if (out / "test.json").exists() else None
    values = {**cfg.base_hparams, **chosen["chosen"]["params"]}
    comment = entry_comment(record, cfg, chosen, test)
    if size is None:
        return set_model_entry(path, cfg.method, values, comment)
    return set_entry(path, size, cfg.method, values, comment)
