"""Registered metrics, as lm-evaluation-harness registers them (`lm_eval/api/metrics.py`): each metric name
is registered once, by the protocol that produces it, with its aggregation, its direction and the probe
kinds it can head. A second, different registration of a name is refused (`polyedit.registry`), so two
protocols can never write one name and overwrite each other's numbers in a record; the engine refuses a
protocol that emits a metric it did not register.

Which metric *is* the headline of each probe kind is decided once, in `aggregate.headline_rule`; `heads`
only says which kinds a metric may stand for (a teacher-forced diagnostic may stand for none).
"""

from __future__ import annotations

from dataclasses import dataclass

from polyedit.data.cases import PROBE_KINDS
from polyedit.registry import Registry, import_submodules

AGGREGATIONS = ("mean",)  # per language over probes, then over languages (aggregate.py); no other is used


@dataclass(frozen=True)
class Metric:
    name: str
    protocol: str  # the protocol that produces it (the judge's metric: "judge")
    help: str = ""
    aggregation: str = "mean"
    higher_is_better: bool = True
    heads: tuple[str, ...] = ()  # probe kinds it may stand for in a summary's headline


#: importing the protocol modules (`protocols.py`, `protocols_*.py`) and the judge registers their metrics
METRICS: Registry[Metric] = Registry(
    "metric", import_submodules("polyedit.evaluation", lambda m: m.name.startswith("protocols") or m.name == "judge"))


def register_metric(name: str, protocol: str, help: str = "", *, aggregation: str = "mean",
                    higher_is_better: bool = True, heads: tuple[str, ...] = ()) -> Metric:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"metric {name}: aggregation {aggregation!r} is not one of {AGGREGATIONS}")
    unknown = [k for k in heads if k not in PROBE_KINDS]
    if unknown:
        raise ValueError(f"metric {name}: {', '.join(unknown)} is not a probe kind ({', '.join(PROBE_KINDS)})")
    return METRICS.register(name, Metric(name, protocol, help, aggregation, higher_is_better, tuple(heads)), help)


def get_metric(name: str) -> Metric:
    return METRICS.get(name)
