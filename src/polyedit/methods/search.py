"""Search spaces, declared beside the hyperparameters they range over: `param(..., search=log_range(1e-4, 1e-1))`.

A declaration is data, read by `polyedit tune` (which turns it into an Optuna distribution; nothing here
imports Optuna): a number range, linear or logarithmic, integer or real; a fixed set of choices; or a set
of layers that depends on the model's depth (`one_layer`, `layer_sets`), since the same method edits
4-layer world models and 48-layer ones. Each is kept as JSON in its field's schema (`to_json`);
`HParams.search_space()` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """A number in [low, high]; `log`: sampled uniformly in log space; `integer`: whole numbers."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"search range needs low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log search range needs low > 0, got {self.low}")

    def to_json(self) -> dict[str, Any]:
        return {"range": [self.low, self.high], "log": self.log, "integer": self.integer}

    def describe(self, n_layers: int | None = None) -> str:
        kind = "integer" if self.integer else "real"
        return f"{kind} in [{self.low:g}, {self.high:g}]" + (", log scale" if self.log else "")


@dataclass(frozen=True)
class Choice:
    """One of a fixed tuple of values (strings, numbers, booleans or lists of them)."""

    values: tuple

    def __post_init__(self) -> None:
        if len(self.values) < 2:
            raise ValueError("a search choice needs at least two values")

    def options(self, n_layers: int | None = None) -> list[Any]:
        return [list(v) if isinstance(v, tuple) else v for v in self.values]

    def to_json(self) -> dict[str, Any]:
        return {"choices": self.options()}

    def describe(self, n_layers: int | None = None) -> str:
        return "one of " + ", ".join(map(str, self.options(n_layers)))


@dataclass(frozen=True)
class Layers:
    """Layers of the model at hand. `one`: a layer index (a field `layer: int`); `single`: a list holding one
    layer; `span`: a run of consecutive layers, 1 to `max_len` long (all runs when `max_len` is None)."""

    shape: str
    max_len: int | None = None

    def __post_init__(self) -> None:
        if self.shape not in ("one", "single", "span"):
            raise ValueError(f"unknown layer search shape {self.shape!r} (known: one, single, span)")

    def to_json(self) -> dict[str, Any]:
        return {"layers": self.shape, "max_len": self.max_len}

    def options(self, n_layers: int | None) -> list[Any]:
        if not n_layers:
            raise ValueError("a layer search needs the model's number of layers")
        if self.shape == "one":
            return list(range(n_layers))
        if self.shape == "single":
            return [[i] for i in range(n_layers)]
        longest = min(self.max_len or n_layers, n_layers)
        return [list(range(start, start + k)) for k in range(1, longest + 1) for start in range(n_layers - k + 1)]

    def describe(self, n_layers: int | None = None) -> str:
        what = {"one": "a layer index", "single": "one layer",
                "span": f"consecutive layers (1 to {self.max_len or 'all'})"}[self.shape]
        return what + (f" of {n_layers}" if n_layers else "")


Search = Range | Choice | Layers


def search_from_json(d: dict[str, Any]) -> Search:
    """The declaration a field's JSON schema holds under `search` (`to_json`), back as an object."""
    if "range" in d:
        return Range(*d["range"], log=d["log"], integer=d["integer"])
    if "choices" in d:
        return choice(*d["choices"])
    return Layers(d["layers"], d["max_len"])


def log_range(low: float, high: float) -> Range:
    return Range(low, high, log=True)


def real_range(low: float, high: float) -> Range:
    return Range(low, high)


def int_range(low: int, high: int, log: bool = False) -> Range:
    return Range(low, high, log=log, integer=True)


def choice(*values) -> Choice:
    return Choice(tuple(tuple(v) if isinstance(v, list) else v for v in values))


def one_layer() -> Layers:
    return Layers("one")


def single_layer() -> Layers:
    return Layers("single")


def layer_sets(max_len: int | None = None) -> Layers:
    return Layers("span", max_len)
