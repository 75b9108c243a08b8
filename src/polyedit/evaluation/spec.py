"""A run's specification: every setting of one `bench` run, declared once, with its type, bound and meaning.

Every front end is built from it: the `bench` command's options are generated from these fields
(`polyedit.cli.run_options`), `api.bench` takes a `RunSpec` (or keywords that make one), a sweep cell is a
spec with fields varied, a tune trial a spec with hyperparameters drawn. `run.json` records it: its
`config` holds the fields that make two runs the same run (a resume compares them, naming the fields that
differ), its `access` how the model was reached (device, endpoint; a run may resume on another device).

Adding a setting is one field here; its CLI option, its documentation row and its place in `run.json` follow.
A bad value is a `SpecError` naming the field; each front end spells the field its own way (a flag, a key).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from polyedit.errors import PolyeditError, SpecError, shorten
from polyedit.methods.adapter import DEFAULT_MAX_ERROR
from polyedit.seeds import SEED_MAX, SEED_MIN

#: a whole number, never a float or a bool (`seed=1e23` is an error, not a rounding)
Whole = Annotated[int, Strict()]
MODES = ("single", "batch", "sequential")

_ACCESS = {"access": True}  # how the model is reached: recorded, not compared on resume


def _access(default: Any, description: str, **kw) -> Any:
    return Field(default, description=description, json_schema_extra=_ACCESS, **kw)


class RunSpec(BaseModel):
    """One `bench` run. Fields in the order `polyedit bench --help` lists them."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_default=False)

    # what is edited and on what
    model: str = Field(description="hub id, local path, or world:small")
    method: str = Field(description="registered method name (see `polyedit methods`)")
    data: str = Field(description="dataset spec, e.g. world:small, bmike53:zsre:langs=de,ja, jsonl:FILE")
    hparams: dict | str | None = Field(None, description="YAML file of the method's hyperparameters (in Python, a "
                                       "mapping too); run.json records the values resolved")
    langs: list[str] | None = Field(None, description="probe languages, comma-separated (default: all in the data)")
    limit: Whole | None = Field(None, ge=1, description="first N cases only")
    filter: Literal["known"] | None = Field(None, description="known: only the cases whose old answer the unedited "
                                            "model generates (counted in the summary)")
    seed: Whole = Field(0, ge=SEED_MIN, le=SEED_MAX, description="seeds the edits (case i: seed + i) and samples")
    # how it is scored
    protocols: list[str] | None = Field(None, description="comma-separated protocols (default: the headline ones, "
                                        "then the dataset's own)")
    max_new_tokens: Whole | None = Field(None, ge=1, description="tokens a generated answer may have (default: "
                                         "each protocol's own)")
    log_samples: bool = Field(True, description="write OUT/samples.jsonl: every prompt as sent, the generated text, "
                              "gold, aliases, metrics")
    # how edits are applied
    mode: Literal["single", "batch", "sequential"] = Field("single", description="single: each edit alone on the "
                                                           "unedited model; batch: edits_per_step together; "
                                                           "sequential: edits accumulate")
    edits_per_step: Whole = Field(1, ge=1, description="batch size (batch mode) or re-scoring interval "
                                  "(sequential mode)")
    parallel_edits: Annotated[int, Strict(), Field(ge=1)] | Literal["auto"] = Field(
        1, description="single mode: make this many independent edits and score them in one pass, each batch row "
        "under its own edit (methods whose edit is a low-rank weight change), or auto: the most that fit")
    edit_probes: Literal["all", "edit"] = Field("all", description="what each edit is scored on right after it is "
                                                "made: all: every probe of its case; edit: its edit prompt only, so "
                                                "a long lifelong run costs the edits and its checkpoints (which ask "
                                                "every language), not ~100 probes per edit before and after")
    # lifelong editing (evaluation/lifelong.py)
    checkpoints: list[Whole] | None = Field(None, description="sequential mode: edit counts, e.g. 100,500,1000, at "
                                          "which retention of earlier edits, recall of untouched facts and locality "
                                          "drift are measured (checkpoints.jsonl; replaces the re-scoring of every "
                                          "case after every step)")
    retention_sample: Whole | None = Field(None, ge=1, description="with checkpoints: re-score this many of the "
                                           "edits so far (seeded sample; default all)")
    recall_sample: Whole = Field(50, ge=1, description="with checkpoints: cases the run does not edit whose facts "
                                 "measure recall and locality")
    # capability checks (evaluation/capability)
    capability: list[str] | None = Field(None, description="lm-eval tasks (names or task YAML files, "
                                         "comma-separated) run on the model before and after editing, e.g. "
                                         "world_knowledge,world_fluency (needs polyedit[capability])")
    capability_limit: Whole | None = Field(None, ge=1, description="with capability: examples per task")
    capability_sample: Whole | None = Field(None, ge=1, description="with capability, single/batch mode: check "
                                            "after this many edits (batches), seeded (default all)")
    # the judge (evaluation/judge.py)
    judge_url: str | None = Field(None, description="an OpenAI-compatible endpoint that judges each generated "
                                  "answer (YES/NO; junk or unreachable = unscored), e.g. http://127.0.0.1:8001/v1")
    judge_model: str | None = Field(None, description="the model name the judge endpoint serves")
    judge_api: Literal["chat", "completions"] = Field("chat", description="the judge endpoint's route")
    # how the model is run: compared on resume (they change the prompts or the numbers' batching)
    eval_batch_size: Annotated[int, Strict(), Field(ge=1)] | Literal["auto"] = Field(
        32, description="evaluation batch size, or auto: the largest that fits (halved on out-of-memory)")
    chat_template: bool | Literal["all"] = Field(False, description="wrap prompts in the tokenizer's chat template "
                                                 "(instruction-tuned models): alone or `generated`, the prompts of "
                                                 "generation protocols (in-context edits included); `all`, "
                                                 "teacher-forced prompts too")
    # how the model is reached: recorded in run.json's `access`, not compared on resume
    backend: Literal["hf", "openai", "openai-chat"] = _access(
        "hf", "hf: load MODEL here; openai: an OpenAI-compatible /v1/completions endpoint; openai-chat: its "
        "/v1/chat/completions (in-context methods; generation protocols only)")
    base_url: str | None = _access(None, "endpoint URL for backend openai/openai-chat, e.g. http://127.0.0.1:8000/v1")
    model_name: str | None = _access(None, "model name the endpoint serves (default: model)")
    api_key_env: str = _access("OPENAI_API_KEY", "environment variable holding the endpoint's API key (never "
                               "written anywhere)")
    concurrency: Whole = _access(4, "requests in flight (remote)", ge=1)
    chat_protocol: str = _access(
        "user_prompt", "how backend openai-chat turns the method's prompt into messages: user_prompt or "
        "demo_turns (see `polyedit.models.openai_backend_chat`)")
    api_cache: str | None = _access(None, "response cache of remote requests (default: $POLYEDIT_API_CACHE_DIR or "
                                    "~/.cache/polyedit/api)")
    cache: bool = _access(True, "read from and add to the caches shared by runs: remote responses, and a local "
                          "unedited model's results (off: send every request and score afresh; the numbers are "
                          "the same)")
    max_api_tokens: Whole | None = _access(None, "refuse to start when the run's estimated prompt + completion "
                                           "tokens exceed this", ge=1)
    device: str = _access("auto", "cpu, cuda, cuda:1, mps, or auto (CUDA, then MPS, then CPU)")
    dtype: str = _access("auto", "float32, bfloat16, float16, or auto (the checkpoint's; bfloat16 on GPUs that "
                         "have it)")
    device_map: str | dict | None = _access(None, "auto: spread a model too large for one device over all of them "
                                     "(accelerate)")
    modules: dict[str, str] | None = _access(None, "the MLP projections every method edits, {layer} standing for "
                                             "the layer index (e.g. mlp_out=model.layers.{layer}.mlp.down_proj), "
                                             "instead of those found from the model's structure")
    trust_remote_code: bool = _access(False, "allow the model's own code from the hub (off by default)")
    # edits written as peft LoRA adapters (methods/adapter.py, evaluation/adapters.py): they change where the
    # edits go and who scores them, not the numbers (a served adapter's table equals the local one, tested)
    save_edits: str | None = _access(None, "write each edit (each batch in batch mode) as a peft LoRA adapter in a "
                                     "folder of its own here")
    edits_as_adapters: bool = _access(False, "with backend openai: make the edits here on MODEL and score each "
                                      "through the endpoint as a LoRA adapter it loads at run time (vLLM with "
                                      "--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or polyedit serve); "
                                      "the unedited model is the endpoint's")
    adapter_rank: Whole | None = _access(None, "truncate each adapter to this rank (default: each change's "
                                         "numerical rank)", ge=1)
    adapter_max_error: float = _access(DEFAULT_MAX_ERROR, "refuse an adapter whose relative Frobenius error (a truncated SVD) "
                                       "is above this", ge=0, le=1, allow_inf_nan=False)

    def __init__(self, **settings) -> None:
        try:
            super().__init__(**settings)
        except ValidationError as e:
            raise spec_error(type(self), e) from None

    # -- values given as text (a flag, a YAML string) become what the field holds ----------------------------
    @field_validator("hparams", mode="before")
    @classmethod
    def _hparams(cls, value):
        from pathlib import Path

        from polyedit.methods.base import HParams

        if isinstance(value, HParams):  # a method's hyperparameters object: its values
            return value.to_dict()
        return str(value) if isinstance(value, Path) else value

    @field_validator("save_edits", "api_cache", mode="before")
    @classmethod
    def _folder(cls, value):
        from pathlib import Path

        return str(value) if isinstance(value, Path) else value  # a folder given as a Path, in Python

    @field_validator("langs", mode="before")
    @classmethod
    def _langs(cls, value):
        from polyedit.data.languages import normalize_code

        if value is None:
            return None
        codes = [normalize_code(x) for x in _items(value)]
        if not codes:
            raise SpecError("langs", f"{shorten(value)} names no language")
        return list(dict.fromkeys(codes))  # repeats would break resume

    @field_validator("protocols", mode="before")
    @classmethod
    def _protocols(cls, value):
        from polyedit.evaluation.protocols import get_protocol

        if value is None:
            return None
        names = list(dict.fromkeys(_items(value)))
        if not names:
            raise SpecError("protocols", "names no protocol")
        for name in names:
            get_protocol(name)
        return names

    @field_validator("capability", mode="before")
    @classmethod
    def _capability(cls, value):
        return None if value is None else list(dict.fromkeys(t.strip() for t in _items(value) if t.strip()))

    @field_validator("checkpoints", mode="before")
    @classmethod
    def _checkpoints(cls, value):
        if not isinstance(value, str):
            return value
        try:
            return [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise SpecError("checkpoints", f"expected comma-separated edit counts such as 100,500,1000, "
                                           f"got {value!r}") from None

    @field_validator("eval_batch_size", "parallel_edits", mode="before")
    @classmethod
    def _batch_size(cls, value, info):
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return "auto"
            if not text.lstrip("-").isdigit() or int(text) < 1:
                raise SpecError(info.field_name, f"{value!r}: expected a positive integer or auto")
            return int(text)
        return value

    @field_validator("chat_template", mode="before")
    @classmethod
    def _chat_template(cls, value):
        from polyedit.models.chat import chat_scope

        return chat_scope(value)

    @field_validator("chat_protocol")
    @classmethod
    def _chat_protocol(cls, value):
        from polyedit.models.openai_backend_chat import CHAT_PROTOCOLS

        if value not in CHAT_PROTOCOLS:
            raise PolyeditError(f"unknown chat protocol {value!r} (known: {', '.join(CHAT_PROTOCOLS)})")
        return value

    @field_validator("modules", mode="before")
    @classmethod
    def _modules(cls, value):
        from polyedit.models.arch import OVERRIDE_KEYS, modules_from_text

        if not isinstance(value, str):
            return value
        out = modules_from_text(value)
        if out is None:
            raise SpecError("modules", f"{value!r}: expected {'=NAME, '.join(OVERRIDE_KEYS)}=NAME, comma-separated")
        return out

    # -- settings that depend on each other ------------------------------------------------------------------
    @model_validator(mode="after")
    def _together(self) -> RunSpec:
        from polyedit.evaluation import lifelong
        from polyedit.evaluation.capability.checks import check_settings
        from polyedit.methods.settings_file import resolve

        if isinstance(self.hparams, str):  # a file of settings per model and method: this run's entry
            try:
                self.hparams = resolve(self.hparams, self.model, self.method)
            except PolyeditError as e:
                raise SpecError("hparams", str(e)) from None
        self.checkpoints = lifelong.check_settings(self.mode, self.edits_per_step, self.checkpoints,
                                                   self.retention_sample, self.limit)
        self.capability = check_settings(self.capability, self.capability_limit, self.capability_sample, self.mode)
        return self

    # -- what run.json records -------------------------------------------------------------------------------
    def config(self) -> dict:
        """The fields that make two runs the same run: run.json's `config`, compared on resume."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in access_fields()}

    def access(self) -> dict:
        """How the model was reached (run.json's `access`): a run may be resumed with other values."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k in access_fields()}

    def replace(self, **changes) -> RunSpec:
        """This spec with `changes`, checked as a new one is."""
        return type(self)(**{**self.model_dump(), **changes})


def access_fields() -> frozenset[str]:
    return frozenset(name for name, f in RunSpec.model_fields.items() if (f.json_schema_extra or {}).get("access"))


def _items(value) -> list[str]:
    """A comma-separated string (as a flag gives it) or a list of strings."""
    if isinstance(value, str):
        return [x for x in value.replace(" ", ",").split(",") if x]
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return list(value)
    raise PolyeditError(f"expected a list of names, got {shorten(value)}")


def spec_error(cls, e: ValidationError) -> PolyeditError:
    """The first problem pydantic found, as one line naming the field (a front end renames it)."""
    err = e.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else None
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, SpecError):
        return cause
    if isinstance(cause, PolyeditError):
        return SpecError(field, str(cause)) if field else cause
    return SpecError(field, _message(cls, field, err))


def _message(cls, field: str | None, err: dict) -> str:
    kind, given, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown setting (known: {', '.join(cls.model_fields)})"
    if kind in ("greater_than_equal", "less_than_equal"):
        bounds = {k: getattr(m, k) for m in cls.model_fields[field].metadata for k in ("ge", "le") if hasattr(m, k)}
        if len(bounds) == 2:
            return f"must be between {bounds['ge']} and {bounds['le']}, got {given}"
        return f"must be at least {ctx['ge']}, got {given}" if "ge" in ctx else f"must be at most {ctx['le']}"
    if kind == "literal_error":
        return f"{given!r}: expected one of {ctx['expected']}"
    if kind.startswith("int"):
        return f"must be a whole number, got {shorten(given)}"
    if kind.startswith("bool"):
        return f"must be true or false, got {shorten(given)}"
    return f"{err['msg'][0].lower()}{err['msg'][1:]}, got {shorten(given)}"
