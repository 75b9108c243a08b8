"""`--write-editing-yaml SIZE`: the chosen configuration as world:SIZE's recommended settings for the method
(world/editing.yaml), with a comment recording the command, budget, split and the chosen trial's results."""

from __future__ import annotations

from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.tune.config import TuneConfig
from polyedit.tune.evaluate import read_chosen
from polyedit.world.editing_yaml import refresh_builtin_copy, set_entry, shipped_path


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


def write_editing_entry(cfg: TuneConfig, out: str | Path, size: str, path: str | Path | None = None) -> Path:
    """Set world/editing.yaml's `size`/`method` entry to the searched fields of the chosen trial (and the
    fixed ones from `--hparams`); every other field is the class default, as in the trials."""
    out = Path(out)
    if cfg.model != f"world:{size}":
        raise PolyeditError(f"--write-editing-yaml {size}: the search tuned {cfg.model}, not world:{size}")
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
    written = set_entry(path or shipped_path(), size, cfg.method, values, entry_comment(record, cfg, chosen, test))
    refresh_builtin_copy(written, size)  # the shipped file changed: so does the built-in model's own copy
    return written
