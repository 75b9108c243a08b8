"""What a method is: typed hyperparameters, an `apply` that edits, and a handle that undoes the edit.

A method is one folder under `polyedit/methods/` that calls `@register_method` on import; the runner
looks methods up by name and never branches on them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import typing
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from polyedit.data.cases import Edit, EditCase, Probe
from polyedit.errors import PolyeditError
from polyedit.methods.search import Choice, Layers, Range, Search
from polyedit.models.context import check_fits, edit_text, probe_text
from polyedit.models.load import LoadedModel
from polyedit.registry import Registry, import_submodules
from polyedit.seeds import SEED_MAX, SEED_MIN


def param(default: Any, help: str, *, gt: float | None = None, ge: float | None = None,
          lt: float | None = None, le: float | None = None, choices: tuple[str, ...] | None = None,
          search: Search | None = None) -> Any:
    """A hyperparameter field with its help text and limits (as peft's configs carry `metadata["help"]`).
    `gt`/`ge`/`lt`/`le` bound a number (each element of a list), `choices` a string. `HParams.validate` reads
    them: the one place hyperparameters are checked (layer indices need the model: `layer_choice`).
    `search`: the range `polyedit tune` searches (`polyedit.methods.search`); fields without one stay fixed."""
    if search is not None and not isinstance(search, (Range, Choice, Layers)):
        raise TypeError(f"search must be a Range, Choice or Layers declaration, got {search!r}")
    meta = {"help": help, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices, "search": search}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class HParams:
    """Base of every method's hyperparameters. Fields left `None` are derived from the model in `resolve`.

    Every instance is validated on creation (`validate`): numbers finite and within their field's limits,
    strings among their choices. A subclass with checks across fields calls `super().__post_init__()`."""

    seed: int = param(0, "random seed of the method's own sampling and initialisation", ge=SEED_MIN, le=SEED_MAX)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str | None = None) -> None:
        where = where or f"{type(self).__name__}"
        for f in dataclasses.fields(self):
            _check_field(getattr(self, f.name), f.metadata, where, f.name)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> help text, limits included (shown by `polyedit methods`)."""
        out = {}
        for f in dataclasses.fields(cls):
            m = f.metadata
            limits = [f"{op} {m[key]}" for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
                      if m.get(key) is not None]
            if m.get("choices"):
                limits.append("one of " + ", ".join(m["choices"]))
            out[f.name] = m.get("help", "") + (f" ({'; '.join(limits)})" if limits else "")
            if m.get("search") is not None:
                out[f.name] += f" [tuned: {m['search'].describe()}]"
        return out

    @classmethod
    def search_space(cls) -> dict[str, Search]:
        """Field name -> its declared search range (`param(..., search=...)`): what `polyedit tune` varies."""
        return {f.name: f.metadata["search"] for f in dataclasses.fields(cls) if f.metadata.get("search") is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "hyperparameters") -> HParams:
        known = {f.name: f for f in dataclasses.fields(cls)}
        odd = [k for k in values if not isinstance(k, str)]
        if odd:
            raise PolyeditError(f"{where}: hyperparameter names must be strings, got {odd[0]!r}")
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise PolyeditError(f"{where}: unknown hyperparameter(s) {', '.join(unknown)} for {cls.__name__} "
                                f"(known: {', '.join(known)})")
        hints = typing.get_type_hints(cls)
        clean = {}
        for k, v in values.items():
            clean[k] = _coerce(v, hints[k], f"{where}: {k}")
        return cls(**clean)

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
        return dataclasses.replace(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_field(value: Any, meta: Any, owner: str, name: str) -> None:
    where = f"{owner}: {name}"
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, float) and not math.isfinite(v):
            raise PolyeditError(f"{where} must be a finite number, got {v}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if meta.get("gt") is not None and not v > meta["gt"]:
                raise PolyeditError(f"{where} must be greater than {_number(meta['gt'])}, got {_number(v)}")
            if meta.get("ge") is not None and not v >= meta["ge"]:
                raise PolyeditError(f"{where} must be at least {_number(meta['ge'])}, got {_number(v)}")
            if meta.get("lt") is not None and not v < meta["lt"]:
                raise PolyeditError(f"{where} must be less than {_number(meta['lt'])}, got {_number(v)}")
            if meta.get("le") is not None and not v <= meta["le"]:
                raise PolyeditError(f"{where} must be at most {_number(meta['le'])}, got {_number(v)}")
        if isinstance(v, int) and abs(v) > MAX_INT:  # no count, seed or size is larger
            raise PolyeditError(f"{where}: a {len(str(abs(v)))}-digit integer is out of range (at most {MAX_INT})")
        if isinstance(v, str) and meta.get("choices") and v not in meta["choices"]:
            raise PolyeditError(f"{owner}: unknown {name} {v!r} (known: {', '.join(meta['choices'])})")


def _number(v: int | float) -> str:
    """A number as an error message shows it: an integer in full (`:g` rounds 2**32 - 1 and cannot format one
    beyond float range), a float in `:g`."""
    return str(v) if isinstance(v, int) else f"{v:g}"


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args or hint is type(None):
            return None
        raise PolyeditError(f"{where} may not be null")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except PolyeditError:
                continue
        raise PolyeditError(f"{where}: {value!r} does not fit {hint}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise PolyeditError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(v, inner, where) for v in value] if origin is list else tuple(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise PolyeditError(f"{where}: expected true/false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolyeditError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise PolyeditError(f"{where} must be a finite number, got {value}")
        if hint is float and isinstance(value, int) and abs(value) > MAX_INT:  # float() would overflow
            raise PolyeditError(f"{where}: a {len(str(abs(value)))}-digit integer is out of range (at most {MAX_INT})")
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise PolyeditError(f"{where}: expected an integer, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise PolyeditError(f"{where}: expected a string, got {value!r}")
        return value
    return value


MAX_INT = 2**63 - 1  # the largest integer a hyperparameter may hold (torch's int64)

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
        return dataclasses.replace(self.hparams, **{k: getattr(checked, k) for k in fill})

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
    where = str(hparams) if isinstance(hparams, (str, Path)) else f"{name} hyperparameters"
    # from_dict reports the user's own mistakes against their file, before any recommendation is merged
    method = cls(cls.hparams_class.from_dict(user, where=where))
    method.given = user
    method.hparams = method.for_model(lm)
    return method
