"""`--write-lifelong FILE`: the settings a lifelong search chose, with their provenance, in a file of lifelong
settings (`lifelong: {model: {method: {hparams, provenance}}}`), one entry per model and method. The single-edit
settings (world/editing.yaml, a search's chosen.yaml) are never written: a file holding anything beside the
`lifelong` section is refused, and an entry replaces only the same model and method's earlier entry."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml

import polyedit
from polyedit.data.jsonio import read_json, read_yaml
from polyedit.errors import PolyeditError
from polyedit.evaluation.store import write_atomic
from polyedit.methods.settings_file import SECTION
from polyedit.tune.config import LIFELONG, TuneConfig
from polyedit.tune.evaluate import read_chosen
from polyedit.tune.lifelong import FORMULA

HEADER = ("# Lifelong editing settings chosen by `polyedit tune --objective lifelong`, one entry per model and method\n"
          "# (each with its provenance); beside, never instead of, the single-edit settings (world/editing.yaml).\n"
          "# `polyedit bench --hparams THIS_FILE` runs the entry of its --model and --method.\n")


def read_settings(path: Path) -> dict:
    """The file's `lifelong` section ({} for a new file); anything else in it is refused."""
    if not path.exists():
        return {}
    data = read_yaml(path) or {}
    if not isinstance(data, dict) or set(data) - {SECTION} or not isinstance(data.get(SECTION, {}), dict):
        raise PolyeditError(f"{path}: not a file of lifelong settings (it must hold only a `{SECTION}:` mapping); "
                            f"name a new file")
    return data.get(SECTION) or {}


def last_command(record: dict) -> str | None:
    """The command of the search's last budget (a search continued with more trials records each)."""
    budgets = [b for b in record.get("budgets") or [] if b.get("command")]
    return budgets[-1]["command"] if budgets else record.get("command")


def provenance(cfg: TuneConfig, out: Path, chosen: dict, record: dict) -> dict:
    c = chosen["chosen"]
    return {"objective": FORMULA, "sequence_length": cfg.sequence_length, "edits_per_step": cfg.edits_per_step,
            "trials": cfg.trials,
            "complete": chosen["complete"], "failed": chosen["failed"], "data": cfg.dev_data, "split": "dev",
            "langs": cfg.langs or "all", "recall_sample": cfg.recall_sample, "retention_sample": cfg.retention_sample,
            "seed": cfg.seed, "sampler": cfg.sampler, "date": datetime.date.today().isoformat(),
            "polyedit_version": polyedit.__version__, "command": last_command(record), "search": str(out),
            "chosen_trial": c["number"], "meets_floor": c["meets_floor"], "recall_floor": cfg.recall_floor,
            "unedited_recall": record.get("unedited_recall"), "score": c["score"], "retention": c["retention"],
            "recall": c["recall"],
            "wall_seconds": round(chosen["wall_seconds"], 1)}


def write_lifelong_entry(cfg: TuneConfig, out: str | Path, path: str | Path) -> Path:
    """Set `path`'s entry for (cfg.model, cfg.method) to the finished search's chosen settings."""
    out, path = Path(out), Path(path)
    if cfg.goal != LIFELONG:
        raise PolyeditError("--write-lifelong needs --objective lifelong")
    settings = read_settings(path)  # a wrong file is refused before anything else is read
    chosen = read_chosen(out)
    if chosen["finished"] < cfg.trials:
        raise PolyeditError(f"{out}: the search has finished {chosen['finished']} of {cfg.trials} trials; "
                            f"finish it before writing its settings")
    record = read_json(out / "tune.json")
    entry = {"hparams": chosen["hparams"], "provenance": provenance(cfg, out, chosen, record)}
    settings.setdefault(cfg.model, {})[cfg.method] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({SECTION: settings}, sort_keys=False, allow_unicode=True, width=120)
    write_atomic(path, HEADER + body)
    return path
