"""What a report calls each run: the method, then the settings in which the run differs from the others of
the report (model, backend, hyperparameters, judge, mode, dtype, ...), so that two IKE runs on different
models read "ike (world:small)" and "ike (world:medium)" in every table, legend and title. Runs that still
share a name within a dataset and edit language get their number of cases, else their folder's (the dataset
heads every table, so it is left out); `--label FOLDER=NAME` names a run by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from polyedit.errors import PolyeditError
from polyedit.reports.collect import Run, edit_languages_of, environment


def _hparams(run: Run):
    """A sweep cell's hyperparameter file by name, else a short digest of the resolved hyperparameters."""
    hp = ((run.extra.get("sweep") or {}).get("cell") or {}).get("hparams")
    if hp:
        return Path(hp).stem
    given = run.config.get("hparams") or run.extra.get("hparams") or {}
    return hashlib.sha1(json.dumps(given, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _mode(run: Run) -> str:
    mode = run.config.get("mode", "single")
    return mode if mode == "single" else f"{mode}×{run.config.get('edits_per_step', 1)}"


#: (field, how a run records it, how the label writes it); `within`: the field is compared only between
#: runs that agree on these fields (a model's recommended hyperparameters differ from another model's)
FIELDS = (
    {"name": "model", "get": lambda r: r.config.get("model"), "show": "{}"},
    {"name": "backend", "get": lambda r: environment(r).get("backend", "hf"), "show": "backend {}"},
    {"name": "hparams", "get": _hparams, "show": "hparams {}", "within": ("method", "model")},
    {"name": "judge", "get": lambda r: r.config.get("judge_model") or r.config.get("judge_url") or "exact match",
     "show": "judge {}"},
    {"name": "mode", "get": _mode, "show": "{}"},
    {"name": "dtype", "get": lambda r: environment(r).get("dtype"), "show": "{}"},
    {"name": "chat template", "get": lambda r: r.config.get("chat_template") or False, "show": "chat template {}"},
    {"name": "probe languages", "get": lambda r: ",".join(r.config.get("langs") or []) or "all",
     "show": "probes {}", "within": ("family",)},  # datasets differ in their languages anyway
    {"name": "seed", "get": lambda r: r.config.get("seed"), "show": "seed {}"},
)
_KEYS = {f["name"]: f["get"] for f in FIELDS} | {"method": lambda r: r.method, "family": lambda r: r.family}


def differing_fields(runs: list[Run]) -> list[str]:
    """The fields in which some run differs from another (within its `within` group)."""
    out = []
    for f in FIELDS:
        groups: dict = {}
        for r in runs:
            key = tuple(str(_KEYS[w](r)) for w in f.get("within", ()))
            groups.setdefault(key, set()).add(str(f["get"](r)))
        if any(len(v) > 1 for v in groups.values()):
            out.append(f["name"])
    return out


def name_runs(runs: list[Run], by_hand: dict[str, str] | None = None) -> None:
    """Set every run's `given_label`: by hand where `by_hand` names its folder, else what differs."""
    names = differing_fields(runs)
    shown = [f for f in FIELDS if f["name"] in names]
    for r in runs:
        r.given_label = None
        extra = [f["show"].format(f["get"](r)) for f in shown]
        r.given_label = r.method + (f" ({', '.join(extra)})" if extra else "")
    taken: dict[tuple, list[Run]] = {}
    for r in runs:
        r.cache["base_label"] = r.given_label  # an edit-language sweep's runs share it (one matrix per method)
        taken.setdefault((r.given_label, r.family, tuple(edit_languages_of(r))), []).append(r)  # tables are per dataset
    for twins in taken.values():
        if len(twins) > 1:
            for r in twins:
                r.given_label += f" [{_twin_tag(r, twins)}]"
    for r in runs:
        if (hand := _by_hand(r, by_hand or {})) is not None:
            r.given_label = hand


def _twin_tag(run: Run, twins: list[Run]) -> str:
    """What tells runs of one name apart: their number of cases, else their folder."""
    if len({r.summary.get("n_cases") for r in twins}) == len(twins):
        return f"n={run.summary.get('n_cases')}"
    return run.dir.name


def _by_hand(run: Run, by_hand: dict[str, str]) -> str | None:
    for folder, name in by_hand.items():
        p = Path(folder)
        if run.dir.name == folder or (p.exists() and p.resolve() == run.dir.resolve()):
            return name
    return None


def parse_labels(pairs: tuple[str, ...] | list[str], runs: list[Run]) -> dict[str, str]:
    """`--label FOLDER=NAME` options; a folder that is no run of the report is an error."""
    out = {}
    for pair in pairs:
        folder, sep, name = pair.partition("=")
        if not sep or not folder or not name.strip():
            raise PolyeditError(f"--label {pair!r}: expected FOLDER=NAME")
        if not any(_by_hand(r, {folder: name}) for r in runs):
            raise PolyeditError(f"--label {pair!r}: {folder!r} is not one of the report's run folders")
        out[folder] = name.strip()
    return out
