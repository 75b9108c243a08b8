"""The runs a report covers, read from their folders (what `bench`, `sweep`, `demo` and `tune` write).

A run folder holds run.json and summary.json; sequential.jsonl, samples.jsonl, checkpoints.jsonl (a lifelong
run's per-probe rows, which paired differences between runs need) and pareto.json are read when present. Fields that older runs lack (protocol, ci95) stay None and are shown as "n/a". A folder given on
the command line may be a run, or hold runs at any depth (a sweep, the demo); a run's own sub-folders
(a sweep cell's shards) are never taken for runs of their own.

`pareto.json` (written by a tuning search, or by hand) is one object:

    {"objectives": ["locality", "reliability"],          # x, then y; both higher-is-better
     "trials": [{"params": {"lr": 0.01}, "locality": 0.93, "reliability": 0.81, "pareto": true}, ...]}

`pareto` marks the trials on the front; when it is absent the report computes the front itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polyedit.data.jsonio import parse_json, read_json, read_text
from polyedit.data.registry import DatasetSpec
from polyedit.errors import PolyeditError
from polyedit.evaluation.lifelong import edit_languages, with_edit_language
from polyedit.evaluation.schema import check_version


@dataclass
class Run:
    dir: Path
    config: dict
    summary: dict
    sequential: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    pareto: dict | None = None
    extra: dict = field(default_factory=dict)  # the rest of run.json (a sweep cell's identity, hparams)
    checkpoints: list[dict] = field(default_factory=list)  # checkpoints.jsonl of a lifelong run
    given_label: str | None = None  # the report's name for the run (`reports.labels`: what differs, or --label)
    cache: dict = field(default_factory=dict, repr=False)  # read or computed once per report (results.jsonl ...)

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def data(self) -> str:
        return str(self.config.get("data", "?"))

    @property
    def edit_lang(self) -> str | None:
        try:
            return DatasetSpec.parse(self.data).options.get("edit_lang")
        except PolyeditError:
            return None

    @property
    def family(self) -> str:
        """The dataset with its edit language left out: runs differing only there share tables and heatmaps."""
        try:
            spec = DatasetSpec.parse(self.data)
        except PolyeditError:
            return self.data
        opts = [f"{k}={v}" for k, v in spec.options.items() if k != "edit_lang"]
        return ":".join([spec.name] + ([spec.arg] if spec.arg else []) + opts)

    @property
    def label(self) -> str:
        """The report's name (`given_label`); alone, method, then hyperparameter file and mode."""
        if self.given_label:
            return self.given_label
        parts = [self.method]
        hp = ((self.extra.get("sweep") or {}).get("cell") or {}).get("hparams")
        if hp:
            parts.append(f"({Path(hp).stem})")
        mode = self.config.get("mode", "single")
        if mode != "single":
            parts.append(f"{mode}×{self.config.get('edits_per_step', 1)}")
        return " ".join(parts)


def _read_object(path: Path) -> dict:
    value = read_json(path)
    if not isinstance(value, dict):
        raise PolyeditError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The objects of a JSONL log; a torn last line (a run still writing, or killed) ends it quietly."""
    if not path.exists():
        return []
    lines = read_text(path).split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if limit is not None and len(out) >= limit:
            break
        if not line.strip():
            continue
        try:
            value = parse_json(line, f"{path}:{number}")
        except PolyeditError:
            if number == len(lines):
                break  # the last line, without its newline: torn mid-write
            raise
        if not isinstance(value, dict):
            raise PolyeditError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        out.append(value)
    return out


def _read_pareto(path: Path) -> dict | None:
    if not path.exists():
        return None
    pareto = _read_object(path)
    objectives, trials = pareto.get("objectives"), pareto.get("trials")
    if not isinstance(objectives, list) or len(objectives) != 2 or not isinstance(trials, list) \
            or not all(isinstance(t, dict) for t in trials):
        raise PolyeditError(f"{path}: needs 'objectives' (two names) and a 'trials' list of objects")
    return pareto


def read_run(folder: Path, n_samples: int = 200) -> Run:
    """One run folder, every file read strictly (`polyedit.data.jsonio`); damage is a PolyeditError naming
    the file, line and field."""
    for name in ("run.json", "summary.json"):
        if not (folder / name).is_file():
            raise PolyeditError(f"{folder}: not a finished run (no {name})")
    run, summary = _read_object(folder / "run.json"), _read_object(folder / "summary.json")
    if not isinstance(run.get("config", {}), dict):
        raise PolyeditError(f"{folder / 'run.json'}: field config: expected an object")
    check_version(run, str(folder / "run.json"))  # a newer polyedit's run: refused in one line
    pareto = _read_pareto(folder / "pareto.json")
    samples = _read_jsonl(folder / "samples.jsonl", n_samples)
    if not samples:  # runs from before the per-sample log: the probes of results.jsonl, without generated text
        samples = [{"case_id": r.get("case_id"), **p, "gold": p.get("answer")}
                   for r in _read_jsonl(folder / "results.jsonl", n_samples) for p in r.get("probes", [])
                   if isinstance(p, dict)][:n_samples]
    checkpoints = _read_jsonl(folder / "checkpoints.jsonl")
    if checkpoints:  # each edit's own language, for retention there (lifelong.with_edit_language)
        checkpoints = with_edit_language(checkpoints, edit_languages(_read_jsonl(folder / "results.jsonl")))
    return Run(folder, run.get("config", {}), summary, _read_jsonl(folder / "sequential.jsonl"), samples, pareto,
               {k: v for k, v in run.items() if k != "config"}, checkpoints)


def find_runs(paths: list[str | Path], n_samples: int = 200, allow_none: bool = False,
              damaged: list[str] | None = None) -> list[Run]:
    """Every finished run at or under `paths`, in path order. The trial runs of a tuning search
    (`reports.tuning`) are left out: its Pareto front stands for them. `allow_none`: finding none is no error
    (the paths hold tuning searches only). `damaged`: a damaged run's one-line reason is added to it and
    the others are read (without it, the first damaged run raises)."""
    from polyedit.reports.tuning import inside_trials

    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise PolyeditError(f"no such run or sweep folder {str(p)!r}")
        candidates = sorted({q.parent for q in p.rglob("summary.json")} | ({p} if (p / "summary.json").exists() else set()))
        runs = [c for c in candidates if (c / "run.json").exists() and not inside_trials(c)]
        found += [r for r in runs if not any(o != r and o in r.parents for o in runs)]
    if not found and not allow_none:
        raise PolyeditError(f"no finished runs (run.json + summary.json) under {', '.join(map(str, paths))}")
    out = []
    for folder in dict.fromkeys(found):
        try:
            out.append(read_run(folder, n_samples))
        except PolyeditError as e:
            if damaged is None:
                raise
            damaged.append(str(e))
    if found and not out and not allow_none:
        raise PolyeditError(f"no readable runs under {', '.join(map(str, paths))} ({len(damaged)} damaged)")
    return out


# Accessors: what the report reads from a run's files, in one place, so a change of the record schema is
# adapted here and not in every table.

def records(run: Run) -> list[dict]:
    """Every case record of results.jsonl (paired differences and the sample browser need all of them)."""
    if "records" not in run.cache:
        run.cache["records"] = _read_jsonl(run.dir / "results.jsonl")
    return run.cache["records"]


def iter_samples(run: Run):
    """Every row of samples.jsonl (pre- and post-edit prompt, generated text and metrics per probe), one at a
    time (a large run's log need not fit in memory). A run made before the per-sample log: every probe of
    results.jsonl, without generated text."""
    path = run.dir / "samples.jsonl"
    if not path.exists():
        yield from ({"case_id": r["case_id"], **p, "gold": p.get("answer")} for r in records(run)
                    for p in r.get("probes", []))
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            try:
                row = parse_json(line, f"{path}:{number}")
            except PolyeditError:
                return  # a torn last line of an unfinished run
            if isinstance(row, dict):
                yield row


def headline_metric(run: Run, kind: str) -> str | None:
    return (run.summary.get("headline") or {}).get(kind)


def mean_entry(run: Run, kind: str, other_languages: bool = False) -> dict | None:
    """{post, pre, ci95, pre_ci95, ...} of the mean over probe languages (or over the languages other than
    the edit language)."""
    key = "mean_excluding_edit_language" if other_languages else "mean"
    return (run.summary.get(key) or {}).get(kind)


def language_entry(run: Run, lang: str, kind: str) -> dict | None:
    """The headline metric's entry for one probe language."""
    return ((run.summary.get("per_language") or {}).get(lang) or {}).get(kind, {}).get(headline_metric(run, kind))


def probe_languages(run: Run) -> list[str]:
    return list(run.summary.get("per_language") or {})


def edit_languages_of(run: Run) -> list[str]:
    """The languages the run's edits were made in (the rows of its cross-lingual matrix)."""
    matrix = run.summary.get("cross_lingual") or {}
    return sorted({el for rows in matrix.values() for el in rows}) or ([run.edit_lang] if run.edit_lang else [])


def lifelong_checkpoints(run: Run) -> list[dict]:
    return (run.summary.get("lifelong") or {}).get("checkpoints") or []


def environment(run: Run) -> dict:
    return run.extra.get("environment") or {}
