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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polyedit.data.cases import GENERALITY, LOCALITY, RELIABILITY
from polyedit.data.dataset import DatasetSpec
from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation.spec import RunSpec, Whole, spec_error
from polyedit.seeds import SEED_MAX, SEED_MIN

#: the protocols every trial (and the test evaluation) is scored by: the generated-answer headline ones
PROTOCOLS = ["answer", "answer_locality"]
#: x, then y, as the report's pareto.json lists them
OBJECTIVES = ["locality", "transfer"]
CAPABILITY_FIELDS = ("capability", "capability_max_drop", "capability_limit", "capability_sample")


@dataclass(frozen=True)
class Objective:
    """What a search maximises: the chosen trial is the best `maximised` among the trials whose `floored`
    reaches the floor; both are Optuna's objectives (the Pareto front is over the two)."""

    name: str
    maximised: str
    floored: str

    @property
    def values(self) -> list[str]:
        """The order the study is told the values in."""
        return [self.maximised, self.floored]

    @property
    def axes(self) -> list[str]:
        """x, then y, as pareto.json lists them."""
        return [self.floored, self.maximised]


SINGLE = Objective("single", "transfer", "locality")
#: `tune.lifelong`: a sequence's edit-language retention at its end, at a floor on the recall of untouched facts
LIFELONG = Objective("lifelong", "retention", "recall")
OBJECTIVE_KINDS = {o.name: o for o in (SINGLE, LIFELONG)}
#: the lifelong settings and their defaults (each refused with the single-edit objective)
LIFELONG_DEFAULTS = {"sequence_length": 200, "edits_per_step": 1, "recall_floor": 0.9, "recall_sample": 50,
                     "retention_sample": None}


class TuneConfig(BaseModel):
    """One search: its budget and objective, and the fields of the run every trial is (`run_spec`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="hub id, local path, or world:small")
    method: str = Field(description="registered method name")
    data: str = Field(description="dataset spec as given; `dev_data` is what the trials read")
    trials: Whole = Field(ge=1, description="the budget: trials finished, complete or failed")
    cases: Whole | None = Field(20, ge=1, description="the first N dev cases, the same in every trial")
    locality_floor: float = Field(0.95, ge=0, le=1, allow_inf_nan=False,
                                  description="chosen: the best transfer among trials with at least this locality")
    seed: Whole = Field(0, ge=SEED_MIN, le=SEED_MAX, description="the sampler's seed and every trial's run seed")
    sampler: Literal["tpe", "nsga2"] = Field("tpe", description="Optuna's multi-objective TPE, or NSGA-II")
    transfer: Literal["reliability", "generality"] = Field(RELIABILITY,
                                                           description="the transfer objective's probe kind")
    langs: list[str] | None = Field(None, description="probe languages (None: all)")
    base_hparams: dict = Field(default_factory=dict, description="fixed fields (--hparams); the class defaults "
                               "fill the rest")
    test_cases: Whole | None = Field(None, ge=1, description="--evaluate-test: the first N test cases (None: all)")
    objective: Literal["single", "lifelong"] = Field(SINGLE.name, description="single: one edit at a time; "
                                                     "lifelong: a sequence of N edits (`tune.lifelong`)")
    sequence_length: Whole | None = Field(None, ge=1, description="lifelong: N, the edits of each trial's "
                                          "sequence (the first N dev cases; default 200)")
    edits_per_step: Whole | None = Field(None, ge=1, description="lifelong: edits applied together at each step "
                                         "of the sequence (a batch editor's batch, as its lifelong runs edit; "
                                         "default 1); N is a multiple of it")
    recall_floor: float | None = Field(None, ge=0, le=1, allow_inf_nan=False, description="lifelong: the share "
                                       "of the unedited model's recall a chosen trial keeps (default 0.9)")
    recall_sample: Whole | None = Field(None, ge=1, description="lifelong: untouched dev cases whose facts "
                                        "recall asks (default 50)")
    retention_sample: Whole | None = Field(None, ge=1, description="lifelong: edits re-scored at the end "
                                           "(default all N)")
    capability: list[str] | None = Field(None, description="the capability constraint: lm-eval tasks checked "
                                         "before and after each trial's edits (None: no constraint)")
    capability_max_drop: float | None = Field(None, ge=0, allow_inf_nan=False, description="a trial whose edits "
                                              "lowered any task's headline metric (on its own scale, the mean over "
                                              "the checked edits) by more than this is infeasible")
    capability_limit: Whole | None = Field(None, ge=1, description="examples per task and language")
    capability_sample: Whole | None = Field(None, ge=1, description="edits checked per trial (seeded; None: "
                                            "every edit)")

    def __init__(self, **settings) -> None:
        try:
            super().__init__(**settings)
        except ValidationError as e:
            raise spec_error(type(self), e) from None
        split_spec(self.data, "dev")  # a spec asking for another split fails here
        self._lifelong_defaults()
        self._check_capability()

    def _check_capability(self) -> None:
        """The capability constraint: the tasks and the bound go together; the tasks are checked as a run's."""
        from polyedit.evaluation.capability.checks import check_settings

        if (self.capability is None) != (self.capability_max_drop is None):
            raise SpecError("capability", "and {capability_max_drop} go together: the tasks, and how far their "
                                          "headline metric may fall", ("capability_max_drop",))
        if self.capability is not None and self.objective == LIFELONG.name:
            raise SpecError("capability", "constrains the single-edit objective; a lifelong search scores its "
                                          "sequences by retention and recall")
        tasks = check_settings(self.capability, self.capability_limit, self.capability_sample, "single")
        object.__setattr__(self, "capability", tasks)

    def _lifelong_defaults(self) -> None:
        """The lifelong settings: refused with the single-edit objective, defaulted with the lifelong one."""
        for name, default in LIFELONG_DEFAULTS.items():
            value = getattr(self, name)
            if self.objective != LIFELONG.name:
                if value is not None:
                    raise SpecError(name, "needs objective lifelong")
            elif value is None and default is not None:
                object.__setattr__(self, name, default)
        if self.objective == LIFELONG.name and self.sequence_length % self.edits_per_step:
            raise SpecError("sequence_length", f"{self.sequence_length} is not a multiple of edits_per_step "
                                               f"{self.edits_per_step} (the sequence is scored after its last step)",
                            ("edits_per_step",))

    @property
    def goal(self) -> Objective:
        return OBJECTIVE_KINDS[self.objective]

    @property
    def dev_data(self) -> str:
        return split_spec(self.data, "dev")

    @property
    def test_data(self) -> str:
        return split_spec(self.data, "test")

    def run_spec(self, hparams: dict, test: bool = False) -> RunSpec:
        """The run a trial is (`test`: the chosen configuration's run on the test split): the search's fields
        with the hyperparameters drawn, scored by the headline protocols."""
        return RunSpec(model=self.model, method=self.method, data=self.test_data if test else self.dev_data,
                       langs=self.langs, protocols=PROTOCOLS, hparams=hparams, seed=self.seed,
                       limit=self.test_cases if test else self.cases, log_samples=test,
                       **({} if test else {"capability": self.capability, "capability_limit": self.capability_limit,
                                           "capability_sample": self.capability_sample}))

    def identity(self) -> dict:
        """What must match for a folder to be resumed: everything but the budget (which may grow) and the
        test evaluation's size."""
        exclude = {"trials", "test_cases"}
        if self.objective == SINGLE.name:  # as a search from before the lifelong objective records itself
            exclude |= {"objective", *LIFELONG_DEFAULTS}
        if self.objective == LIFELONG.name and self.edits_per_step == 1:  # as searches from before it record
            exclude.add("edits_per_step")
        if self.capability is None:  # a search without the constraint keeps the identity it had before it
            exclude |= set(CAPABILITY_FIELDS)
        return json.loads(json.dumps(self.model_dump(exclude=exclude)))


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
