"""A file of settings chosen per model and method (`lifelong: {model: {method: {hparams, provenance}}}`, what
`polyedit tune --objective lifelong --write-lifelong FILE` writes): a run given such a file as `--hparams` takes
its entry for the run's model and method, so a lifelong row's command names the file the search wrote, not a
hand-made copy of one entry."""

from __future__ import annotations

from pathlib import Path

from polyedit.data.jsonio import read_yaml
from polyedit.errors import PolyeditError

SECTION = "lifelong"


def entry_hparams(path: str | Path, model: str, method: str) -> dict | None:
    """The hyperparameters of `path`'s entry for (`model`, `method`), or None when `path` is not such a file
    (a plain hyperparameter file); a missing entry is an error naming those the file has (a run never falls
    back to other settings)."""
    p = Path(path)
    data = read_yaml(p) if p.is_file() else None
    if not isinstance(data, dict) or set(data) != {SECTION}:
        return None
    section = data[SECTION] or {}
    entry = (section.get(model) or {}).get(method)
    if not isinstance(entry, dict) or not isinstance(entry.get("hparams"), dict):
        have = ", ".join(f"{mo}/{me}" for mo, methods in section.items() for me in (methods or {})) or "none"
        raise PolyeditError(f"{path} has no {SECTION} settings for {method} on {model} (it has: {have})")
    return dict(entry["hparams"])


def resolve(hparams, model: str, method: str):
    """`hparams` as given, or, when it names a file of settings per model and method, that file's entry for
    (`model`, `method`): what every command taking `--hparams` runs."""
    entry = entry_hparams(hparams, model, method) if isinstance(hparams, (str, Path)) else None
    return hparams if entry is None else entry  # an entry of no fields is the class defaults, not the file
