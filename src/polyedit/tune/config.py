"""What one search is (`TuneConfig`), checked before anything loads, and the two objectives it maximises.

The objectives, both read from the summary `bench` writes for the trial (so a trial is scored exactly as a
bench run is), both higher-is-better:

- `transfer`: the edit's reliability in the languages other than the edit language (the edit prompt asked
  in each of them), the mean over those languages, under the headline protocol `answer` (`answer_em` of the
  generated answer). Reliability, not generality: it isolates the crossing of languages from paraphrasing,
  which the edit-language generality probes measure on their own. `--transfer generality` picks the
  other-language paraphrases instead.
- `locality`: the share of locality probes whose generated answer the edit left unchanged (protocol
  `answer_locality`, `answer_unchanged`), the mean over all probe languages.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from polyedit.data.cases import GENERALITY, LOCALITY, RELIABILITY
from polyedit.data.dataset import DatasetSpec
from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.seeds import check_seed

#: the protocols every trial (and the test evaluation) is scored by: the generated-answer headline ones
PROTOCOLS = ["answer", "answer_locality"]
TRANSFER_KINDS = (RELIABILITY, GENERALITY)
SAMPLERS = ("tpe", "nsga2")
#: x, then y, as the report's pareto.json lists them
OBJECTIVES = ["locality", "transfer"]
CAPABILITY_FIELDS = ("capability", "capability_max_drop", "capability_limit", "capability_sample")


@dataclass
class TuneConfig:
    model: str
    method: str
    data: str  # as given; `dev_data` is what the trials read
    trials: int
    cases: int | None = 20  # the first N dev cases, the same in every trial
    locality_floor: float = 0.95
    seed: int = 0
    sampler: str = "tpe"
    transfer: str = RELIABILITY
    langs: list[str] | None = None  # probe languages (None: all)
    base_hparams: dict = field(default_factory=dict)  # fixed fields (--hparams); the class defaults fill the rest
    test_cases: int | None = None  # --evaluate-test: the first N test cases (None: all)
    #: the capability constraint (`--capability TASKS --capability-max-drop X`): a trial whose edits lowered
    #: any task's headline metric by more than X (on its own scale, the mean over the checked edits) is
    #: infeasible; None: no constraint
    capability: list[str] | None = None
    capability_max_drop: float | None = None
    capability_limit: int | None = None  # examples per task and language
    capability_sample: int | None = None  # edits checked per trial (seeded; None: every edit)

    def __post_init__(self) -> None:
        for name, minimum in (("trials", 1), ("cases", 1), ("test_cases", 1)):
            v = getattr(self, name)
            if v is None and name != "trials":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise PolyeditError(f"--{name.replace('_', '-')} must be a whole number of at least {minimum}, got {v!r}")
        check_seed(self.seed, "--seed")
        f = self.locality_floor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or not 0 <= f <= 1:
            raise PolyeditError(f"--locality-floor must be a number in [0, 1], got {f!r}")
        if self.sampler not in SAMPLERS:
            raise PolyeditError(f"unknown sampler {self.sampler!r} (known: {', '.join(SAMPLERS)})")
        if self.transfer not in TRANSFER_KINDS:
            raise PolyeditError(f"--transfer must be one of {', '.join(TRANSFER_KINDS)}, got {self.transfer!r}")
        split_spec(self.data, "dev")  # a spec asking for another split fails here
        self._check_capability()

    def _check_capability(self) -> None:
        from polyedit.evaluation.capability.checks import check_settings

        drop = self.capability_max_drop
        if (self.capability is None) != (drop is None):
            raise PolyeditError("--capability and --capability-max-drop go together: the tasks, and how far "
                                "their headline metric may fall")
        if drop is not None and (isinstance(drop, bool) or not isinstance(drop, (int, float))
                                 or not math.isfinite(drop) or drop < 0):
            raise PolyeditError(f"--capability-max-drop must be a number of at least 0, got {drop!r}")
        tasks = check_settings(self.capability, self.capability_limit, self.capability_sample, "single")
        self.capability = tasks

    @property
    def dev_data(self) -> str:
        return split_spec(self.data, "dev")

    @property
    def test_data(self) -> str:
        return split_spec(self.data, "test")

    def identity(self) -> dict:
        """What must match for a folder to be resumed: everything but the budget (which may grow) and the
        test evaluation's size."""
        d = asdict(self)
        d.pop("trials")
        d.pop("test_cases")
        if self.capability is None:  # a search without the constraint keeps the identity it had before it
            for key in CAPABILITY_FIELDS:
                d.pop(key)
        return json.loads(json.dumps(d))


def split_spec(spec: str, split: str) -> str:
    """`spec` on `split`: `:split=dev` added where absent; a spec naming another split is refused for dev."""
    parsed = DatasetSpec.parse(spec)
    given = parsed.options.get("split")
    if split == "dev" and given is not None and given.strip().lower() != "dev":
        raise PolyeditError(f"polyedit tune searches on the dev split, but {spec!r} asks for split={given}; "
                            f"drop the split option (dev is added) or give split=dev")
    options = {k: v for k, v in parsed.options.items() if k != "split"} | {"split": split}
    return ":".join([parsed.name] + ([parsed.arg] if parsed.arg else []) + [f"{k}={v}" for k, v in options.items()])


def objectives(summary: dict, transfer_kind: str) -> dict[str, float | None]:
    """transfer, locality and the edit-language value of `transfer_kind` from a bench summary, each checked
    to come from the headline protocol it is named after (a summary scored otherwise is an error)."""
    others = summary.get("mean_excluding_edit_language") or {}
    if transfer_kind not in others:
        raise PolyeditError(f"no {transfer_kind} probes in a language other than the edit language: transfer "
                            f"cannot be measured (give probe languages beyond the edit language)")
    t, loc = others[transfer_kind], (summary.get("mean") or {}).get(LOCALITY)
    if loc is None:
        raise PolyeditError("no locality probes: locality cannot be measured")
    for entry, metric, protocol in ((t, "answer_em", "answer"), (loc, "answer_unchanged", "answer_locality")):
        got = (entry.get("protocol") or {}).get("name")
        if entry.get("metric") != metric or got != protocol:
            raise PolyeditError(f"expected {metric} from protocol {protocol}, got {entry.get('metric')} from {got}")
    matrix = (summary.get("cross_lingual") or {}).get(transfer_kind) or {}
    diagonal = [row[el] for el, row in matrix.items() if el in row]
    return {"transfer": t["post"], "locality": loc["post"],
            f"edit_language_{transfer_kind}": sum(diagonal) / len(diagonal) if diagonal else None,
            "transfer_pre": t.get("pre")}


def read_config(path: Path) -> dict:
    record = read_json(path)
    if not isinstance(record, dict):
        raise PolyeditError(f"{path}: the search's record must be a JSON object")
    return record


def capability_constraint(summary: dict, max_drop: float) -> dict:
    """A trial's capability drop per task (`compare.drops`) and whether every one is within `max_drop`;
    `excess` is the constraint value Optuna reads (the largest drop minus the bound: feasible at <= 0)."""
    from polyedit.evaluation.capability.compare import drops

    found = drops(summary.get("capability") or {})
    if not found:
        raise PolyeditError("the trial's run has no capability check after its edits: the constraint cannot be "
                            "measured")
    excess = max(d["drop"] for d in found.values()) - max_drop
    return {"capability_drop": found, "capability_excess": excess, "feasible": excess <= 0}
