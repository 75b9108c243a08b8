"""SWEEP.yaml: the grid of runs, validated as a whole before anything runs.

    models: [world:small]
    methods: [ft-m, {name: lora, hparams: lora_fast.yaml}]
    datasets: [world:small, {spec: "bmike53:zsre", langs: [en, de]}]
    langs: [en, de, fr]              # probe languages of every dataset that names none
    modes: [single, {mode: batch, edits_per_step: 2},
            {mode: sequential, checkpoints: [3, 6], retention_sample: 4, recall_sample: 5}]
    limit: 6                         # first N cases of each dataset
    seed: 0
    shard_size: 2                    # cases handed to a worker at a time
    resources: {workers: 2, cpus_per_worker: 1, gpus_per_worker: 0}
    capability: {tasks: [xnli, pawsx], limit: 200, sample: 5}   # bench's --capability* (one shard per cell)

Every combination of model x method x dataset x mode is one grid cell, one run folder, as `bench` writes it.
A bad key or value is one line naming it: `SWEEP.yaml: methods[1].hparams: no such file 'x.yaml'`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from polyedit.data.jsonio import read_yaml

from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation.spec import MODES, RunSpec

TOP_KEYS = {"models", "methods", "datasets", "langs", "modes", "limit", "seed", "shard_size", "resources", "out",
            "capability", "cost"}
#: the `capability` entry's keys, by the run's spec's field each sets
CAPABILITY_KEYS = {"capability": "tasks", "capability_limit": "limit", "capability_sample": "sample"}
COST_KEYS = {"gpu", "seconds_per_case"}
RESOURCE_KEYS = {"workers", "cpus_per_worker", "gpus_per_worker", "threads_per_worker"}
#: a mode entry's keys: the run's spec's fields of the mode and its lifelong checkpoints, under their own names
LIFELONG_KEYS = ("checkpoints", "retention_sample", "recall_sample")
MODE_KEYS = ("mode", "edits_per_step", *LIFELONG_KEYS)


@dataclass(frozen=True)
class Cell:
    """One grid cell: the fields of the run's spec a sweep varies (`spec()` is the cell's whole run)."""

    model: str
    method: str
    data: str
    langs: tuple[str, ...] | None
    hparams: str | None  # a YAML path, or None for the defaults
    mode: str
    edits_per_step: int
    limit: int | None
    seed: int
    checkpoints: tuple[int, ...] | None = None  # lifelong checkpoints of a sequential cell (bench --checkpoints)
    retention_sample: int | None = None  # with checkpoints: bench's --retention-sample (None: its bound per segment)
    recall_sample: int | None = None  # with checkpoints: bench's --recall-sample (its default when not given)
    capability: tuple[str, ...] | None = None  # lm-eval tasks checked before and after editing (bench --capability)
    capability_limit: int | None = None
    capability_sample: int | None = None

    @property
    def name(self) -> str:
        hp = f"__{Path(self.hparams).stem}" if self.hparams else ""
        langs = f"__{'-'.join(self.langs)}" if self.langs else ""
        mode = self.mode if self.mode == "single" else f"{self.mode}{self.edits_per_step}"
        if self.checkpoints:
            mode += (f"_ck{'-'.join(map(str, self.checkpoints))}_ret{self.retention_sample or 'default'}"
                     f"_rec{self.recall_sample}")
        raw = f"{self.model}__{self.method}{hp}__{self.data}{langs}__{mode}"
        return re.sub(r"[^A-Za-z0-9._=-]+", "_", raw)[:150]

    def lifelong(self) -> dict:
        """The cell's lifelong settings as `bench` takes them; none for a cell without checkpoints."""
        if not self.checkpoints:
            return {}
        return {"checkpoints": list(self.checkpoints), "retention_sample": self.retention_sample,
                "recall_sample": self.recall_sample}

    def capability_settings(self) -> dict:
        """The cell's capability checks as `bench` takes them; none for a cell without."""
        if not self.capability:
            return {}
        return {"capability": list(self.capability), "capability_limit": self.capability_limit,
                "capability_sample": self.capability_sample}

    def to_dict(self) -> dict:
        # a cell without checkpoints is recorded as before they existed, so a sweep folder written then resumes
        return {"model": self.model, "method": self.method, "data": self.data,
                "langs": list(self.langs) if self.langs else None, "hparams": self.hparams, "mode": self.mode,
                "edits_per_step": self.edits_per_step, "limit": self.limit, "seed": self.seed, **self.lifelong(),
                **self.capability_settings()}

    def spec(self) -> RunSpec:
        """The run this cell is: the sweep's settings with this cell's model, method, data and mode."""
        d = {k: v for k, v in self.to_dict().items() if v is not None}
        return RunSpec(**d)

    def identity(self) -> dict:
        """What makes two cells the same run: the hyperparameters' values, wherever their file lies."""
        d = self.to_dict()
        d["hparams"] = read_yaml(Path(self.hparams)) if self.hparams else None
        return d


@dataclass
class Resources:
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    threads_per_worker: int = 1  # torch threads per worker; the same locally, so numbers match bit for bit


@dataclass
class Sweep:
    cells: list[Cell]
    shard_size: int = 4
    resources: Resources = field(default_factory=Resources)
    out: str | None = None
    source: str = ""
    #: the file's own cost assumptions for `--dry-run`'s estimate: {gpu: NAME, seconds_per_case: {method: s}}
    cost: dict = field(default_factory=dict)


def _fail(where: str, msg: str) -> PolyeditError:
    return PolyeditError(f"{where}: {msg}")


def _list(doc: dict, key: str, where: str, required: bool = True) -> list:
    if key not in doc:
        if required:
            raise _fail(where, f"missing key {key!r}")
        return []
    v = doc[key]
    if isinstance(v, (str, dict)):
        v = [v]
    if not isinstance(v, list) or not v:
        raise _fail(f"{where}: {key}", "must be a non-empty list")
    return v


def _int(v, where: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum or (maximum is not None and v > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise _fail(where, f"must be an integer {bound}, got {v!r}")
    return v


def _models(doc: dict, where: str, resolve: bool = True) -> list[str]:
    """The model specs, each resolvable now (a local folder with its files, a world model, a hub id that is
    cached or reachable), so a sweep never writes its folders for a model it cannot load. `resolve=False`
    (a plan, `--dry-run`): named only, as a recipe for a hub model is planned where its weights are not."""
    from polyedit.models.hub import local_only
    from polyedit.models.load import resolve_model_path

    models = _list(doc, "models", where)
    for i, m in enumerate(models):
        if not isinstance(m, str) or not m:
            raise _fail(f"{where}: models[{i}]", f"must be a model name or path, got {m!r}")
        if not resolve:
            continue
        try:
            path = resolve_model_path(m)
            if not path.startswith("world:") and not Path(path).exists():
                local_only(path)
        except PolyeditError as e:
            raise _fail(f"{where}: models[{i}]", str(e)) from None
    return models


def _langs(v, prefix: str) -> tuple[str, ...] | None:
    """Probe languages as the run's spec reads them (a list, or a comma-separated string); `prefix` names
    where they are given (`SWEEP.yaml: ` or `SWEEP.yaml: datasets[0].`)."""
    return None if v is None else tuple(_checked(prefix, langs=v).langs)


def _keys(entry: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        name = f"{where} {extra[0]}" if where.endswith(":") else f"{where}.{extra[0]}"
        raise PolyeditError(f"{name}: unknown key (known: {', '.join(sorted(allowed))})")


def _entry(item, where: str, key: str, allowed: set[str], shape: str) -> dict:
    """A list item given as a bare string (its `key`) or as a mapping with `key` and only `allowed` keys."""
    if isinstance(item, str):
        item = {key: item}
    if not isinstance(item, dict) or not isinstance(item.get(key), str):
        raise _fail(where, f"must be {shape}, got {item!r}")
    _keys(item, allowed, where)
    return item


def _methods(doc: dict, where: str, base: Path) -> list[tuple[str, str | None]]:
    from polyedit.methods.base import get_method, method_names

    out = []
    for i, m in enumerate(_list(doc, "methods", where)):
        w = f"{where}: methods[{i}]"
        m = _entry(m, w, "name", {"name", "hparams"}, "a method name or {name: ..., hparams: FILE}")
        if m["name"] not in method_names():
            raise _fail(f"{w}.name", f"unknown method {m['name']!r} (known: {', '.join(method_names())})")
        hp = m.get("hparams")
        if hp is not None:
            path = Path(hp) if Path(hp).is_absolute() else base / hp
            if not path.is_file():
                raise _fail(f"{w}.hparams", f"no such file {hp!r}")
            hp = str(path)
            try:
                get_method(m["name"], hp)  # the method's own dataclass validates every field
            except PolyeditError as e:
                raise _fail(f"{w}.hparams", str(e)) from None
        out.append((m["name"], hp))
    return out


def _datasets(doc: dict, where: str, default_langs) -> list[tuple[str, tuple[str, ...] | None]]:
    from polyedit.data.registry import DatasetSpec, dataset_names
    from polyedit.sweep.datasets import cases

    out = []
    for i, d in enumerate(_list(doc, "datasets", where)):
        w = f"{where}: datasets[{i}]"
        d = _entry(d, w, "spec", {"spec", "langs"}, "a dataset spec or {spec: ..., langs: [...]}")
        d["spec"] = _expand(d["spec"], f"{w}.spec")
        try:
            parsed = DatasetSpec.parse(d["spec"])
        except PolyeditError as e:
            raise _fail(f"{w}.spec", str(e)) from None
        if parsed.name not in dataset_names():
            raise _fail(f"{w}.spec", f"unknown dataset {parsed.name!r} (known: {', '.join(sorted(dataset_names()))})")
        try:
            cases(d["spec"])  # its files exist and load: a run would stop here after writing its folder
        except PolyeditError as e:
            raise _fail(f"{w}.spec", str(e)) from None
        langs = _langs(d["langs"], f"{w}.") if "langs" in d else default_langs
        out.append((d["spec"], langs))
    return out


def _expand(spec: str, where: str) -> str:
    """`${NAME}` in a dataset spec is the environment variable NAME, so a shared recipe names where the
    data lies on each machine without editing the file; an unset one is an error, not an empty path."""
    def value(m: re.Match) -> str:
        if m.group(1) not in os.environ:
            raise _fail(where, f"environment variable {m.group(1)} is not set (it names a data folder: {spec!r})")
        return os.environ[m.group(1)]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value, spec)


def _cost(doc: dict, where: str, methods: list[tuple[str, str | None]]) -> dict:
    c = doc.get("cost") or {}
    if not isinstance(c, dict):
        raise _fail(f"{where}: cost", f"must be a mapping, got {c!r}")
    _keys(c, COST_KEYS, f"{where}: cost")
    if "gpu" in c and not isinstance(c["gpu"], str):
        raise _fail(f"{where}: cost.gpu", f"must be the name of a GPU, got {c['gpu']!r}")
    per_case = c.get("seconds_per_case") or {}
    if not isinstance(per_case, dict):
        raise _fail(f"{where}: cost.seconds_per_case", f"must be a mapping of method to seconds, got {per_case!r}")
    named = {m for m, _ in methods}
    for m, s in per_case.items():
        if m not in named:
            raise _fail(f"{where}: cost.seconds_per_case.{m}", f"not a method of this sweep ({', '.join(sorted(named))})")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0 or s != s or s == float("inf"):
            raise _fail(f"{where}: cost.seconds_per_case.{m}", f"must be a number of seconds > 0, got {s!r}")
    return {**c, "seconds_per_case": dict(per_case)}


def _checked(where: str, names=lambda field: field, **settings) -> RunSpec:
    """`settings` as a run's spec (a sweep checks them as `bench` does), a bad one named as the file names it."""
    try:
        return RunSpec(**{"model": "-", "method": "-", "data": "-", **settings})
    except SpecError as e:
        raise PolyeditError(e.render(names, where)) from None


def _modes(doc: dict, where: str, limit: int | None) -> list[dict]:
    """Each mode entry as Cell fields, checked as the run's spec checks them."""
    recall_default = RunSpec.model_fields["recall_sample"].default
    out = []
    for i, m in enumerate(_list(doc, "modes", where, required=False) or ["single"]):
        w = f"{where}: modes[{i}]"
        if isinstance(m, str):
            m = {"mode": m}
        if not isinstance(m, dict) or m.get("mode") not in MODES:
            raise _fail(w, f"must be one of {', '.join(MODES)} or {{mode: ..., edits_per_step: k}}, got {m!r}")
        _keys(m, set(MODE_KEYS), w)
        if m.get("checkpoints") is None:
            given = next((key for key in LIFELONG_KEYS[1:] if key in m), None)
            if given:  # a sample size without checkpoints would measure nothing: a typo, not a setting
                raise _fail(f"{w}.{given}", "needs checkpoints (it sizes what a checkpoint measures)")
        spec = _checked(f"{w}.", limit=limit, **{"recall_sample": recall_default, **m})
        entry = {"mode": spec.mode, "edits_per_step": spec.edits_per_step}
        if spec.checkpoints:
            entry |= {"checkpoints": tuple(spec.checkpoints), "retention_sample": spec.retention_sample,
                      "recall_sample": spec.recall_sample}
        out.append(entry)
    return out


def _checks_of(checks: dict, mode: dict) -> dict:
    """A cell's capability fields: a sequential cell is checked at its checkpoints, so it takes no sample."""
    return {**checks, "capability_sample": None} if checks and mode["mode"] == "sequential" else checks


def _capability(doc: dict, where: str) -> dict:
    """The `capability` entry as Cell fields, checked as the run's spec checks them (the sample: single and
    batch cells only)."""
    c = doc.get("capability")
    if c is None:
        return {}
    w = f"{where}: capability"
    if not isinstance(c, dict):
        raise _fail(w, f"must be a mapping {{tasks: [...], limit: N, sample: K}}, got {c!r}")
    _keys(c, set(CAPABILITY_KEYS.values()), w)
    tasks = c.get("tasks")
    tasks = [tasks] if isinstance(tasks, str) else tasks
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise _fail(f"{w}.tasks", f"must be a list of lm-eval task names or task files, got {tasks!r}")
    spec = _checked(f"{w}: ", CAPABILITY_KEYS.get, **{field: c.get(key) for field, key in CAPABILITY_KEYS.items()})
    return {"capability": tuple(spec.capability), "capability_limit": spec.capability_limit,
            "capability_sample": spec.capability_sample}


def _resources(doc: dict, where: str) -> Resources:
    r = doc.get("resources") or {}
    if not isinstance(r, dict):
        raise _fail(f"{where}: resources", f"must be a mapping, got {r!r}")
    _keys(r, RESOURCE_KEYS, f"{where}: resources")
    res = Resources()
    res.workers = _int(r.get("workers", 1), f"{where}: resources.workers", 1)
    res.threads_per_worker = _int(r.get("threads_per_worker", 1), f"{where}: resources.threads_per_worker", 1)
    for key in ("cpus_per_worker", "gpus_per_worker"):
        v = r.get(key, getattr(res, key))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise _fail(f"{where}: resources.{key}", f"must be a number >= 0, got {v!r}")
        setattr(res, key, float(v))
    return res


def parse_sweep(doc, where: str = "sweep", base: Path = Path("."), resolve_models: bool = True) -> Sweep:
    """Validate a whole sweep document and expand it into its grid cells."""
    if not isinstance(doc, dict):
        raise _fail(where, "must be a mapping of keys (models, methods, datasets, ...)")
    _keys(doc, TOP_KEYS, f"{where}:")
    models = _models(doc, where, resolve_models)
    default_langs = _langs(doc.get("langs"), f"{where}: ")
    methods = _methods(doc, where, base)
    datasets = _datasets(doc, where, default_langs)
    shared = _checked(f"{where}: ", limit=doc.get("limit"), seed=doc.get("seed", 0))  # every cell's
    limit, seed = shared.limit, shared.seed
    modes = _modes(doc, where, limit)
    shard_size = _int(doc.get("shard_size", 4), f"{where}: shard_size", 1)
    out = doc.get("out")
    if out is not None and not isinstance(out, str):
        raise _fail(f"{where}: out", f"must be a folder path, got {out!r}")
    checks = _capability(doc, where)
    cells = [Cell(model, method, data, langs, hp, limit=limit, seed=seed, **mode, **_checks_of(checks, mode))
             for model in models for method, hp in methods for data, langs in datasets for mode in modes]
    names = [c.name for c in cells]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail(where, f"two grid cells would share the folder {dup!r} "
                           f"(a model, method, dataset or mode listed twice?)")
    return Sweep(cells, shard_size, _resources(doc, where), out, where, _cost(doc, where, methods))


def load_sweep(path: str | Path, resolve_models: bool = True) -> Sweep:
    p = Path(path)
    if not p.is_file():
        raise PolyeditError(f"no such sweep file {str(p)!r}")
    return parse_sweep(read_yaml(p), str(p), p.parent, resolve_models)
