"""A method's declared search space (`param(..., search=...)`) as Optuna distributions, for one model.

Ranges become `suggest_float` / `suggest_int`; choices and layer sets become `suggest_categorical` over
labels (Optuna's categories are scalars: a layer list is stored as its JSON text, `"[2, 3]"`), decoded
back to the field's value. Stored labels decode the same way, so a trial read back from the study's
storage (a resumed search) has exactly the hyperparameters it was sampled with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from polyedit.errors import PolyeditError
from polyedit.methods.base import EditMethod, HParams
from polyedit.methods.search import Choice, Layers, Range


@dataclass
class Dimension:
    name: str
    search: Range | Choice | Layers
    options: list[Any] | None  # decoded choices (None for a range)

    @property
    def labels(self) -> list:
        return [label(v) for v in self.options]

    def suggest(self, trial) -> Any:
        s = self.search
        if isinstance(s, Range):
            if s.integer:
                return trial.suggest_int(self.name, int(s.low), int(s.high), log=s.log)
            return trial.suggest_float(self.name, float(s.low), float(s.high), log=s.log)
        return self.decode(trial.suggest_categorical(self.name, self.labels))

    def decode(self, raw: Any) -> Any:
        if self.options is None:
            return int(raw) if self.search.integer else float(raw)
        by_label = dict(zip(self.labels, self.options))
        if raw not in by_label:
            raise PolyeditError(f"stored value {raw!r} of {self.name} is not one of its choices {self.labels}")
        return by_label[raw]

    def describe(self, n_layers: int) -> str:
        return self.search.describe(n_layers)


def label(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, tuple)) else value


def search_space(method: type[EditMethod], n_layers: int) -> list[Dimension]:
    """The method's dimensions on a model of `n_layers` layers; an empty space is an error (nothing to tune)."""
    declared = method.hparams_class.search_space()
    if not declared:
        raise PolyeditError(f"method {method.name} declares no search space (param(..., search=...))")
    dims = []
    for name, s in declared.items():
        options = None if isinstance(s, Range) else s.options(n_layers)
        dims.append(Dimension(name, s, options))
    return dims


def check_space(method: type[EditMethod], dims: list[Dimension], base: dict) -> None:
    """Every end of every range and every choice is a valid value of its field (so a trial never fails on a
    value its own space offered), and no fixed field from `--hparams` is also searched."""
    both = sorted(set(base) & {d.name for d in dims})
    if both:
        raise PolyeditError(f"--hparams fixes {', '.join(both)}, which {method.name} searches; leave them out")
    for d in dims:
        values = [d.search.low, d.search.high] if d.options is None else d.options
        for v in values:
            if d.options is None and d.search.integer:
                v = int(v)
            method.hparams_class.from_dict({**base, d.name: v}, where=f"{method.name}'s search space ({d.name})")


def trial_hparams(method: type[EditMethod], base: dict, params: dict) -> HParams:
    """The trial's hyperparameters: the class defaults, `base` (fixed fields) and the sampled `params`."""
    return method.hparams_class.from_dict({**base, **params}, where=f"{method.name} trial")


def space_record(dims: list[Dimension], n_layers: int) -> dict:
    return {d.name: d.describe(n_layers) for d in dims}
