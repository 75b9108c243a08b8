"""What a run folder holds, written down as types (as lm-evaluation-harness's `result_schema.py`): run.json,
results.jsonl, samples.jsonl, sequential.jsonl, checkpoints.jsonl and summary.json, each field described.

run.json and summary.json carry `format_version`. Version 1 is every run written before the version was
recorded (no `format_version` key): its records have the same fields, but a method's `info` could change
shape with the number of edits and `generation`'s token F1 was named `token_f1`. Readers take versions
1-2 (`check_version`); resuming takes only the current one, and a newer version is refused in one line.

Models allow fields they do not name (a later polyedit may add one; a reader of this version ignores it),
but every named field must have its type.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polyedit.errors import PolyeditError

#: the record format this polyedit writes
FORMAT_VERSION = 2
#: versions it reads (reports, summaries); resume needs FORMAT_VERSION
READABLE = (1, 2)


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProtocolLabel(_Record):
    """Where one number came from: written beside every metric, after an edit as before it."""

    name: str = Field(description="the registered protocol that produced the metric")
    kind: str | None = Field(description="generated, teacher-forced or judged")
    version: str | None = Field(description="the protocol's version: numbers of two versions are not comparable")
    chat_template: bool = Field(description="whether its prompts went through the model's chat template")


class ProbeRecord(_Record):
    """One probe of a case in results.jsonl: its metrics before and after the edit."""

    index: int = Field(description="position of the probe in its case")
    kind: str = Field(description="reliability, generality, locality or portability")
    lang: str = Field(description="the probe's language code")
    prompt: str = Field(description="the probe's prompt as the data gives it (samples.jsonl has it as sent)")
    answer: str = Field(description="the expected answer")
    pre: dict[str, float | None] = Field(description="metric -> value on the unedited model")
    post: dict[str, float | None] = Field(description="metric -> value with the edit applied")
    protocol: dict[str, ProtocolLabel] = Field(description="metric -> the label of the protocol that produced it")


class MethodInfo(_Record):
    """What a method recorded about its edit (`EditHandle.info`). One shape per method whatever the number of
    edits: fields that differ per edit sit in a per-edit list (`edits`, or a method's own such as MEMLA's
    `training`), one entry per edit in the order applied."""

    hparams: dict[str, Any] | None = Field(None, description="the hyperparameters the edit ran with")
    notes: list[str] | None = Field(None, description="fallbacks taken, said aloud in the summary")
    edits: list[dict[str, Any]] | None = Field(None, description="per-edit fields, one entry per edit")


class ResultRecord(_Record):
    """One line of results.jsonl: one edited case."""

    case_id: str = Field(description="the case's id, unique in its dataset")
    method: str = Field(description="the registered method that edited")
    mode: str = Field(description="single, batch or sequential")
    chunk: int = Field(description="the chunk of edits_per_step cases this case was applied in")
    edit: dict[str, Any] = Field(description="the edit request (lang, subject, prompt, target_new, ...)")
    subject_rule: str | None = Field(description="how the subject was found in the prompt's tokens")
    seconds_per_edit: float = Field(description="wall time of applying the chunk, divided by its cases")
    # the process's CPU time: on shared cores the wall time measures the neighbours too
    cpu_seconds_per_edit: float | None = Field(None, description="CPU time of applying the chunk, divided by its cases")
    info: MethodInfo = Field(description="what the method recorded (shared by the cases of one handle)")
    unavailable: dict[str, str] = Field(description="protocol -> why the backend could not run it")
    meta: dict[str, Any] = Field(description="the case's own fields (EditCase.meta)")
    protocols: dict[str, dict[str, Any]] = Field(description="protocol -> its full descriptor, for every one run")
    probes: list[ProbeRecord] = Field(description="every probe of the case")


class SampleStage(_Record):
    prompt: str = Field(description="the prompt exactly as sent (after an in-context method's rewrite)")
    generated: dict[str, list[str]] = Field(description="protocol -> the texts it generated")
    metrics: dict[str, float | None] = Field(description="metric -> value")


class SampleRecord(_Record):
    """One line of samples.jsonl: one probe of a finished case, as sent and as answered."""

    case_id: str = Field(description="the probe's case")
    index: int = Field(description="position of the probe in its case")
    method: str = Field(description="the method of the run")
    kind: str = Field(description="the probe kind")
    lang: str = Field(description="the probe's language")
    gold: str = Field(description="the expected answer")
    aliases: list[str] = Field(description="other accepted answers")
    gold_true: str | None = Field(description="the answer before the edit, where the data gives it")
    protocol: dict[str, str] = Field(description="metric -> the protocol that produced it")
    pre: SampleStage = Field(description="before the edit")
    post: SampleStage = Field(description="after the edit")


class SequentialProbe(_Record):
    index: int = Field(description="position of the probe in its case")
    kind: str = Field(description="the probe kind")
    lang: str = Field(description="the probe's language")
    post: dict[str, float | None] = Field(description="metric -> value with every edit so far applied")
    protocol: dict[str, ProtocolLabel] = Field(description="metric -> the label of the protocol that produced it")


class SequentialRecord(_Record):
    """One line of sequential.jsonl: an earlier case re-scored after `after_edits` edits."""

    after_edits: int = Field(description="edits applied when the case was re-scored")
    case_id: str = Field(description="the re-scored case")
    probes: list[SequentialProbe] = Field(description="its probes")


class CheckpointRecord(_Record):
    """One line of checkpoints.jsonl (lifelong.py): the measures at one edit count."""

    after_edits: int = Field(description="edits applied at this checkpoint")
    retention: list[tuple[str, str, float | None]] = Field(description="(case, language, answer_em) of edits so far")
    recall: list[tuple[str, str, float | None]] = Field(description="(case, language, answer_em) of untouched facts")
    locality: list[tuple[str, str, float | None]] = Field(
        description="(case, language, answer_unchanged) of untouched facts")
    protocols: dict[str, dict[str, Any]] = Field(description="protocol -> its full descriptor")
    protocol: dict[str, ProtocolLabel] = Field(description="measure -> the label of the protocol behind it")
    # the cost of the sequence so far (lifelong.checkpoint_cost): per window, so a cost that grows with the
    # edits shows as growing, not averaged away over the cheap early edits
    window: tuple[int, int] | None = Field(
        None, description="[first, last] edit of the window since the previous checkpoint (1-based, inclusive)")
    seconds_per_edit: float | None = Field(None, description="mean seconds per edit over the window's edits")
    cpu_seconds_per_edit: float | None = Field(None, description="mean CPU seconds per edit over the window's edits")
    state_bytes: int | None = Field(
        None, description="bytes the method keeps beside the weights here (EditMethod.state_bytes; 0: weights only)")


class RunFile(_Record):
    """run.json: what was run and on what, written before the first record."""

    format_version: int = Field(description="the record format (FORMAT_VERSION when written)")
    config: dict[str, Any] = Field(description="the run's specification (evaluation/spec.py RunSpec.config): the "
                                   "fields that make two runs the same run; resume compares them")
    access: dict[str, Any] | None = Field(None, description="the rest of the spec (RunSpec.access): how the model "
                                          "was reached (device, dtype, endpoint, caches); not compared on resume "
                                          "(absent from runs written before it was recorded)")
    hparams: dict[str, Any] = Field(description="the method's resolved hyperparameters")
    cases: list[str] = Field(description="the ids of the cases the run edits, in order")
    context: dict[str, Any] = Field(description="the model's context length, the rule, cases skipped as too long")
    environment: dict[str, Any] = Field(description="versions, commit, device, dtype, date, backend")
    lifelong: dict[str, Any] | None = Field(None, description="checkpoint settings and the untouched cases drawn")
    resumed: list[Any] | None = Field(None, description="the environment of every resume")


class Summary(_Record):
    """summary.json: the tables of a run (aggregate.summarize plus the runner's additions)."""

    format_version: int = Field(description="the record format (FORMAT_VERSION when written)")
    n_cases: int = Field(description="cases summarised")
    headline: dict[str, str] = Field(description="probe kind -> its headline metric (aggregate.headline_rule)")
    headline_protocols: dict[str, str] = Field(description="probe kind -> the protocol of its headline")
    headline_rule: dict[str, str] = Field(description="probe kind -> the declared headline metric")
    no_headline: dict[str, str] = Field(description="probe kind -> why it has no headline in this run")
    protocol_roles: dict[str, str] = Field(description="protocol -> headline, the paper's protocol or diagnostic")
    ci_method: str = Field(description="how the 95% intervals were computed")
    protocols: dict[str, dict[str, Any]] = Field(description="protocol -> descriptor, for every protocol run")
    mean: dict[str, dict[str, Any]] = Field(description="probe kind -> headline mean over languages")
    mean_excluding_edit_language: dict[str, dict[str, Any]] = Field(
        description="probe kind -> headline mean over the languages other than the edits'")
    per_language: dict[str, dict[str, dict[str, dict[str, Any]]]] = Field(
        description="language -> kind -> metric -> mean entry")
    groups: dict[str, dict[str, dict[str, dict[str, Any]]]] = Field(
        description="grouping -> group -> kind -> headline mean entry")
    diagnostics: dict[str, dict[str, dict[str, Any]]] = Field(
        description="kind -> metric -> mean entry with its role, for every non-headline metric")
    cross_lingual: dict[str, dict[str, dict[str, float]]] = Field(
        description="kind -> edit language -> probe language -> mean post-edit headline")
    skipped: dict[str, int] = Field(description="what the loader (or the context check) dropped, and why")
    empty_gold: dict[str, Any] | None = Field(None, description="probes without a gold answer: how many, by kind, "
                                              "the protocols that scored them and those that omitted them")
    notes: list[str] = Field(description="fallbacks taken and edits that changed nothing")


#: file name -> (model, one record per line?)
FILES: dict[str, tuple[type[BaseModel], bool]] = {
    "run.json": (RunFile, False), "summary.json": (Summary, False), "results.jsonl": (ResultRecord, True),
    "samples.jsonl": (SampleRecord, True), "sequential.jsonl": (SequentialRecord, True),
    "checkpoints.jsonl": (CheckpointRecord, True)}


def version_of(data: dict) -> int:
    """A record's format version; a run.json or summary.json without one was written as version 1."""
    return data.get("format_version", 1) if isinstance(data, dict) else 1


def check_version(data: dict, where: str, resume: bool = False) -> int:
    """The version, if this polyedit can read it (resume: only the one it writes); else one line naming it."""
    v = version_of(data)
    if resume and v != FORMAT_VERSION:
        raise PolyeditError(f"{where} was written in record format version {v}; this polyedit writes version "
                            f"{FORMAT_VERSION} and resumes only that (its reports still read it); choose a new --out")
    if v not in READABLE:
        raise PolyeditError(f"{where} was written in record format version {v}; this polyedit reads versions "
                            f"{', '.join(map(str, READABLE))}")
    return v


def validate(name: str, data: dict, where: str) -> BaseModel:
    """`data` as the model of file `name`; a record of the wrong shape is one line naming the field."""
    model = FILES[name][0]
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise PolyeditError(f"{where}: {name} field {field or '(record)'}: {err['msg']}") from None
