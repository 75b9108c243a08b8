"""What a method is: typed hyperparameters, an `apply` that edits, and a handle that undoes the edit.

A method is one folder under `polyedit/methods/` that calls `@register_method` on import; the runner
looks methods up by name and never branches on them.
"""

from __future__ import annotations

import os
import threading
import typing
from abc import ABC, abstractmethod
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from polyedit.data.cases import Edit, EditCase, Probe
from polyedit.errors import PolyeditError, shorten
from polyedit.methods.search import Choice, Layers, Range, Search, search_from_json
from polyedit.models.context import check_fits, edit_text, probe_text
from polyedit.models.load import LoadedModel
from polyedit.registry import Registry, import_submodules
from polyedit.seeds import SEED_MAX, SEED_MIN


def param(default: Any, help: str, *, gt: float | None = None, ge: float | None = None,
          lt: float | None = None, le: float | None = None, search: Search | None = None) -> Any:
    """A hyperparameter field: pydantic's `Field` with its meaning (`description`), its limits
    (`gt`/`ge`/`lt`/`le`, checked by pydantic) and the range `polyedit tune` searches (`search`,
    `polyedit.methods.search`), kept in the field's JSON schema beside its limits. A string field with a
    fixed set of values is typed `Literal[...]`; layer indices need the model (`layer_choice`)."""
    if search is not None and not isinstance(search, (Range, Choice, Layers)):
        raise TypeError(f"search must be a Range, Choice or Layers declaration, got {search!r}")
    extra = {"search": search.to_json()} if search is not None else None
    return Field(default, description=help, gt=gt, ge=ge, lt=lt, le=le, json_schema_extra=extra)


MAX_INT = 2**63 - 1  # the largest integer a hyperparameter may hold (torch's int64)


class HParams(BaseModel):
    """Base of every method's hyperparameters: a pydantic model, strict (a string is not a number, a number
    not a list), closed (an unknown field is refused) and finite. Fields left `None` are derived from the
    model in `resolve`. Checks across fields are `model_validator(mode="after")`s of the subclass.
    Every refusal is one line naming the field (`PolyeditError`), whether built from a file or directly."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_assignment=True)

    seed: int = param(0, "random seed of the method's own sampling and initialisation", ge=SEED_MIN, le=SEED_MAX)

    @field_validator("*", mode="after")
    @classmethod
    def _int64(cls, value: Any, info: ValidationInfo) -> Any:
        """No count, seed or size is larger than torch's int64: a longer integer is a typo, not a setting."""
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
                raise PolyeditError(f"{_WHERE.get() or cls.__name__}: {info.field_name}: a {len(str(abs(v)))}-digit "
                                    f"integer is out of range (at most {MAX_INT})")
        return value

    def __init__(self, **values: Any) -> None:
        # pydantic's validation of a model with its own __init__ runs it (from_dict's too): one place says it
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise _one_line(e, type(self), _WHERE.get() or type(self).__name__) from None

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> meaning, limits and search range, read from the JSON schema (`polyedit methods`)."""
        return {name: describe_field(prop) for name, prop in cls.model_json_schema()["properties"].items()}

    @classmethod
    def search_space(cls) -> dict[str, Search]:
        """Field name -> its declared search range (`param(..., search=...)`): what `polyedit tune` varies."""
        return {name: search_from_json(prop["search"])
                for name, prop in cls.model_json_schema()["properties"].items() if "search" in prop}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "hyperparameters") -> HParams:
        odd = [k for k in values if not isinstance(k, str)]
        if odd:
            raise PolyeditError(f"{where}: hyperparameter names must be strings, got {odd[0]!r}")
        token = _WHERE.set(where)
        try:
            return cls.model_validate(values)
        except ValidationError as e:  # the one line __init__ made, wrapped by pydantic
            raise _one_line(e, cls, where) from None
        finally:
            _WHERE.reset(token)

    @classmethod
    def from_yaml(cls, path: str | Path) -> HParams:
        return cls.from_dict(cls.read_yaml(path), where=str(path))

    @staticmethod
    def read_yaml(path: str | Path) -> dict[str, Any]:
        """The mapping a hyperparameter file sets (only the fields it names)."""
        from polyedit.data.jsonio import read_yaml

        p = Path(path)
        if not p.is_file():
            raise PolyeditError(f"hyperparameter file {p} does not exist")
        data = read_yaml(p) or {}
        if not isinstance(data, dict):
            raise PolyeditError(f"{p}: expected a mapping of hyperparameters")
        return data

    def resolve(self, lm: LoadedModel) -> HParams:
        """Fill model-derived defaults (which layers, ...). Subclasses override; returns a new object."""
        return self.model_copy()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


#: where the hyperparameters being validated come from (a file, a method's name), for the error line
_WHERE: ContextVar[str | None] = ContextVar("hparams_where", default=None)


def describe_field(prop: dict[str, Any]) -> str:
    """A field's JSON schema as one line: its meaning, then its limits, then the range tune searches."""
    bounds = {k: v for alt in (prop, *prop.get("anyOf", ())) for k, v in alt.items()}  # `int | None`: in anyOf
    limits = [f"{op} {_number(bounds[key])}" for key, op in (("exclusiveMinimum", ">"), ("minimum", ">="),
                                                               ("exclusiveMaximum", "<"), ("maximum", "<="))
              if key in bounds]
    choices = bounds["enum"] if "enum" in bounds else [bounds["const"]] if "const" in bounds else None
    if choices:
        limits.append("one of " + ", ".join(map(str, choices)))
    text = prop.get("description", "") + (f" ({'; '.join(limits)})" if limits else "")
    if "search" in prop:
        text += f" [tuned: {search_from_json(prop['search']).describe()}]"
    return text


def choices_of(cls: type[HParams], name: str) -> tuple | None:
    """The values a `Literal` field allows (also inside `Optional`), else None."""
    hint = cls.model_fields[name].annotation
    for h in (hint, *typing.get_args(hint)):
        if typing.get_origin(h) is typing.Literal:
            return typing.get_args(h)
    return None


def _one_line(error: ValidationError, cls: type[HParams], where: str) -> PolyeditError:
    """pydantic's report as one line naming the file or method (`where`) and the field: the first problem,
    or every unknown field at once."""
    problems = error.errors(include_url=False)
    unknown = [str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        return PolyeditError(f"{where}: unknown hyperparameter(s) {', '.join(sorted(unknown))} for "
                             f"{cls.__name__} (known: {', '.join(cls.model_fields)})")
    p = problems[0]
    if p["type"] == "value_error" and isinstance(p.get("ctx", {}).get("error"), PolyeditError):
        return p["ctx"]["error"]  # a check across fields already said it in one line
    name = str(p["loc"][0]) if p["loc"] else "hyperparameters"
    value, ctx = p.get("input"), p.get("ctx", {})
    bound = {"greater_than": ("greater than", "gt"), "greater_than_equal": ("at least", "ge"),
             "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}.get(p["type"])
    if bound:
        return PolyeditError(f"{where}: {name} must be {bound[0]} {_number(ctx[bound[1]])}, got {_number(value)}")
    if p["type"] == "finite_number":
        return PolyeditError(f"{where}: {name} must be a finite number, got {value}")
    if p["type"] == "literal_error" and name in cls.model_fields:
        known = ", ".join(map(str, choices_of(cls, name) or ()))
        return PolyeditError(f"{where}: unknown {name} {shorten(value)} (known: {known})")
    return PolyeditError(f"{where}: {name}: {p['msg'][0].lower()}{p['msg'][1:]}, got {shorten(value)}")


def _number(v: Any) -> str:
    """A number as an error message shows it: an integer in full (`:g` rounds 2**32 - 1 and cannot format one
    beyond float range), a float in `:g`."""
    return f"{v:g}" if isinstance(v, float) else str(v)



_OPEN = threading.local()  # per thread: the handles created inside each open `undo_on_error` block


def _open_blocks() -> list[list[EditHandle]]:
    if not hasattr(_OPEN, "blocks"):
        _OPEN.blocks = []
    return _OPEN.blocks


@contextmanager
def undo_on_error():
    """Every EditHandle created inside the block is remembered; if the block raises (an error in mid-edit,
    Ctrl-C, a diverged optimisation), they are restored, last first, so a half-applied edit never stays in
    the model. Every method's `apply` runs inside one (`EditMethod.__init_subclass__`), so a method need
    not guard itself; blocks nest, and a block that ends normally hands its handles to the one around it,
    so an edit applied in a chain is undone with the chain."""
    blocks = _open_blocks()
    made: list[EditHandle] = []
    blocks.append(made)
    try:
        yield
    except BaseException:
        for h in reversed(made):
            if not h.restored:
                h.restore()
        raise
    finally:
        del blocks[max(i for i, b in enumerate(blocks) if b is made)]  # by identity: empty blocks are equal
    if blocks:
        blocks[-1].extend(made)


def check_save_target(path: str | Path) -> Path:
    """`path` as a folder an edited model or adapter may be written to: new or empty (a model's files are
    never mixed with, or written over, others), and writable. Checked before an edit is computed."""
    out = Path(path)
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise PolyeditError(f"cannot save to {out}: {existing} is not a folder")
    if existing == out and any(out.iterdir()):
        raise PolyeditError(f"cannot save to {out}: the folder is not empty (choose a new or empty one)")
    if not os.access(existing, os.W_OK):
        raise PolyeditError(f"cannot save to {out}: {existing} is not writable")
    return out


class EditHandle:
    """The result of applying a method. `restore()` undoes it exactly (bit-identical weights).

    Weight-editing methods back up the tensors they will touch; context methods (in-context editing)
    change nothing in the model and instead rewrite each probe's prompt through `transform_prompt`.
    """

    def __init__(self, lm: LoadedModel | None, param_names: list[str] = (), info: dict | None = None) -> None:
        self.lm = lm  # None for in-context methods on a remote endpoint: nothing local to restore
        params = dict(lm.model.named_parameters()) if param_names else {}
        self._backup = {n: params[n].detach().clone() for n in param_names}
        # What the method records (results.jsonl's `info`, evaluation/schema.py `MethodInfo`): one shape
        # however many edits the handle holds, so a field that differs per edit goes into a per-edit list
        # (`info["edits"]`, one dict per edit in the order applied), never flat for one edit and nested for two.
        self.info: dict[str, Any] = dict(info or {})
        self.restored = False
        if _open_blocks():
            _open_blocks()[-1].append(self)

    def touched(self) -> list[str]:
        """Names of the parameters this edit may have changed (those it backed up)."""
        return list(self._backup)

    def weight_changes(self) -> dict[str, torch.Tensor]:
        """Parameter name -> (edited − unedited), read before `restore()` (the subtraction of two close floats
        is exact: this is the change the model computes with)."""
        params = dict(self.lm.model.named_parameters()) if self._backup else {}
        return {n: params[n].detach().float() - saved.float() for n, saved in self._backup.items()}

    def restore(self) -> None:
        params = dict(self.lm.model.named_parameters()) if self._backup else {}
        with torch.no_grad():
            for n, saved in self._backup.items():
                params[n].copy_(saved)
                params[n].grad = None  # a gradient of the edit is not part of the unedited model
        self.restored = True

    def __enter__(self) -> EditHandle:
        return self

    def __exit__(self, *exc) -> None:
        """`with method.apply(lm, edits) as handle:` restores the model however the block ends."""
        self.restore()
    def save(self, path: str | Path) -> Path:
        """Write the edited model where `from_pretrained` reads it: weights as safetensors (`save_pretrained`),
        config and tokenizer. Adapter methods override this to write their adapter instead."""
        if not self._backup:
            raise PolyeditError("this edit changed no weight: there is no edited model to save")
        out = check_save_target(path)
        out.mkdir(parents=True, exist_ok=True)
        self.lm.model.save_pretrained(str(out), safe_serialization=True)
        self.lm.tokenizer.save_pretrained(str(out))
        return out

    def transform_prompt(self, probe: Probe) -> str:
        return probe.prompt

    def stop_strings(self) -> tuple[str, ...]:
        return ()


class EditMethod(ABC):
    """A knowledge-editing method. Subclasses set `name`, `hparams_class` and implement `apply`."""

    name: ClassVar[str]
    hparams_class: ClassVar[type[HParams]] = HParams
    description: ClassVar[str] = ""
    #: whether several edits can be applied in one call (batch editing) rather than one after another
    supports_batch: ClassVar[bool] = False
    #: changes no weight (the edit lives in the prompt), so it also runs on remote endpoints
    edits_in_context: ClassVar[bool] = False
    #: a control of another method (MEMLA with random neurons, ...): that method's name; reports put it beside
    control_of: ClassVar[str | None] = None
    #: one edit is a low-rank change of the weights of linear modules and nothing else (no hook, no prompt
    #: rewrite), so `--parallel-edits` can score many independent edits in one batch, each row carrying its
    #: own change (`polyedit.models.row_deltas`)
    edits_as_row_deltas: ClassVar[bool] = False

    def __init__(self, hparams: HParams | None = None) -> None:
        self.hparams = hparams if hparams is not None else self.hparams_class()
        #: the fields the caller set; the model's recommended hyperparameters fill the others at apply time.
        #: None: `hparams` was given as an object and is used exactly as it is.
        self.given: dict[str, Any] | None = {} if hparams is None else None
        self.last_resolved: HParams | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        """Every `apply`/`apply_cases` a method defines refuses an edit longer than the model's context
        (one line, before anything changes: `polyedit.models.context`'s rule), hands back only finite
        weights (a non-finite one, an update overflowing float16 or a diverged optimiser, restores the model
        and raises), is undone if it ends early (`undo_on_error`), and its handle records the hyperparameters
        it ran with (`info["hparams"]`)."""
        super().__init_subclass__(**kwargs)
        for name in ("apply", "apply_cases"):
            if name in vars(cls) and not getattr(vars(cls)[name], "_checks_finite", False):
                setattr(cls, name, _finite_checked(_recording(vars(cls)[name])))

    def for_model(self, lm: LoadedModel | None) -> HParams:
        """The hyperparameters as given, with the model's recommended ones (its `editing.yaml`, read into
        `lm.meta["editing_hparams"]` at load) under every field the caller did not set."""
        if self.given is None:
            return self.hparams
        fill = {k: v for k, v in recommended_hparams(lm, self.name).items() if k not in self.given}
        if not fill:
            return self.hparams
        checked = self.hparams_class.from_dict(fill, where=f"{lm.name}'s editing.yaml ({self.name})")
        return self.hparams.model_copy(update={k: getattr(checked, k) for k in fill})

    def resolved(self, lm: LoadedModel | None) -> HParams:
        """What the method runs with on `lm`: `for_model`, then the model-derived defaults (`resolve`)."""
        self.last_resolved = self.for_model(lm).resolve(lm)
        return self.last_resolved

    @abstractmethod
    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        """Edit the model so that each edit's prompt is answered with its target_new."""

    def apply_cases(self, lm: LoadedModel, cases: list[EditCase]) -> EditHandle:
        """What the runner calls. Methods that use more of a case than its edit (MEMLA reads the edit's
        prompts in other languages to find language-independent neurons) override this; the edit-only
        default keeps `apply` the one thing most methods implement."""
        return self.apply(lm, [c.edit for c in cases])

    def independent_changes(self, lm: LoadedModel, cases: list[EditCase]) -> list[tuple[EditHandle, dict]] | None:
        """Each case's edit made alone on the unedited model, all at once and without writing any weight:
        per case (a handle holding its record and nothing to restore, {module name: ΔW in the (out, in)
        view}), as its `apply_cases` alone would change the weights. None (the default): the runner makes
        such edits one at a time in the weights, reads each change off and restores (`--parallel-edits`)."""
        return None

    def state_bytes(self, handle: EditHandle) -> int:
        """Bytes of what the method keeps beside the model's weights with `handle`'s edits (and every edit
        before it) in place: a codebook, a side memory, running statistics. A method that only writes
        weights keeps nothing (0); one that keeps state overrides this. Read at lifelong checkpoints."""
        return 0

    def texts_read(self, lm: LoadedModel | None, case: EditCase) -> list[str]:
        """Every text the model reads for `case` under this method, each prompt with its longest answer:
        what the context rule (`polyedit.models.context`) measures. Weight methods leave prompts as they
        are; a method that rewrites them (in-context editing) returns the rewritten ones."""
        return [edit_text(case.edit)] + [probe_text(p.prompt, p) for p in case.probes]


def _finite_checked(fn):
    import functools

    from polyedit.methods.precision import check_finite

    @functools.wraps(fn)
    def checked(self, lm, edits, *args, **kwargs):
        if lm is not None:  # the context rule, for callers that skip the runner (which drops such cases first)
            check_fits(lm, [edit_text(e if isinstance(e, Edit) else e.edit) for e in edits], "edit")
        with undo_on_error():  # however the edit ends early, nothing of it stays in the model
            handle = fn(self, lm, edits, *args, **kwargs)
            check_finite(handle, self.name)
        return handle

    checked._checks_finite = True
    return checked


def _recording(fn):
    import functools

    @functools.wraps(fn)
    def apply(self, *args, **kwargs):
        handle = fn(self, *args, **kwargs)
        hp = self.last_resolved if self.last_resolved is not None else self.hparams
        handle.info.setdefault("hparams", hp.to_dict())
        return handle

    return apply


class ChainedHandle(EditHandle):
    """Edits applied one after another (methods without batch editing); restored last first."""

    def __init__(self, lm: LoadedModel | None, handles: list[EditHandle]) -> None:
        super().__init__(lm, (), {"edits": [h.info for h in handles]})
        self.handles = handles

    def restore(self) -> None:
        for h in reversed(self.handles):
            h.restore()
        self.restored = True


def apply_in_turn(method: EditMethod, lm: LoadedModel | None, cases: list[EditCase]) -> dict[str, EditHandle]:
    """Case id -> the handle that holds its edit: all cases in one `apply_cases` where the method edits in
    batches (or there is one case), else one after another. If any of them fails or is interrupted, the ones
    already applied are undone too: the model is left with all the edits or none."""
    with undo_on_error():
        if method.supports_batch or len(cases) == 1:
            h = method.apply_cases(lm, cases)
            return {c.case_id: h for c in cases}
        return {c.case_id: method.apply_cases(lm, [c]) for c in cases}


def recommended_hparams(lm: LoadedModel | None, method: str) -> dict[str, Any]:
    """The model's recommended hyperparameters for `method` ({} without a model or an `editing.yaml`)."""
    return dict((lm.meta.get("editing_hparams") or {}).get(method, {})) if lm is not None else {}


#: every method folder under polyedit/methods/ registers its class on import
METHODS: Registry[type[EditMethod]] = Registry("method", import_submodules("polyedit.methods", lambda m: m.ispkg))


def register_method(cls: type[EditMethod]) -> type[EditMethod]:
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} has no name")
    return METHODS.register(cls.name, cls, cls.description)


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str, hparams: HParams | dict | str | Path | None = None,
               lm: LoadedModel | None = None) -> EditMethod:
    """A method instance by registered name; hparams as an object, a dict, or a YAML path.

    The model's recommended hyperparameters for this method (its folder's `editing.yaml`) fill every field
    a dict or YAML file leaves out, at apply time from the model edited (`EditMethod.for_model`), so every
    caller gets them; with `lm` they are filled in `method.hparams` at once too. An `HParams` object is used
    exactly as given. Class defaults fill the rest.
    """
    cls = METHODS.get(name)
    if isinstance(hparams, HParams):
        return cls(hparams)
    user = HParams.read_yaml(hparams) if isinstance(hparams, (str, Path)) else dict(hparams or {})
    where = f"{hparams} ({name})" if isinstance(hparams, (str, Path)) else f"{name} hyperparameters"
    # from_dict reports the user's own mistakes against their file, before any recommendation is merged
    method = cls(cls.hparams_class.from_dict(user, where=where))
    method.given = user
    method.hparams = method.for_model(lm)
    return method
