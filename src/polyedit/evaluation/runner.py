"""The bench loop: for each case, evaluate, edit, evaluate, restore; one JSON line per finished case.

Lines are flushed and fsynced as each case (or batch) finishes, so a killed run loses at most the work in
progress; `resume=True` skips finished cases (a torn last line is dropped). Modes:
- `single`: every edit on the unedited model, restored after each;
- `batch`: groups of `edits_per_step` edits applied together, evaluated, restored;
- `sequential`: edits accumulate; after every `edits_per_step` edits all earlier cases are re-scored
  (written to `sequential.jsonl`), so drift and forgetting show.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from polyedit.data.cases import EditCase
from polyedit.data.registry import Dataset
from polyedit.errors import PolyeditError
from polyedit.evaluation.aggregate import summarize
from polyedit.evaluation.engine import Evaluation, evaluate
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
from polyedit.methods.base import EditHandle, EditMethod
from polyedit.models.backend import HFBackend
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import subject_span

MODES = ("single", "batch", "sequential")


@dataclass
class BenchConfig:
    model: str
    method: str
    data: str
    langs: list[str] | None = None
    protocols: list[str] | None = None  # None: the dataset's own protocols, else polyedit's defaults
    hparams: dict = field(default_factory=dict)
    seed: int = 0
    mode: str = "single"
    edits_per_step: int = 1
    limit: int | None = None
    eval_batch_size: int | str = 32  # or "auto": the size found is in summary.json's "evaluation"
    chat_template: bool = False
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolyeditError(f"unknown mode {self.mode!r} (known: {', '.join(MODES)})")
        if self.edits_per_step < 1:
            raise PolyeditError("edits per step must be at least 1")


class ResultsFile:
    """Append-only JSON lines with crash-safe appends and resume."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def finished(self) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().split(b"\n")
        good, records = 0, []
        for line in lines:
            if not line.strip():
                good += len(line) + 1
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn line from a killed run: drop it and everything after
            good += len(line) + 1
        size = self.path.stat().st_size
        if good < size:
            with open(self.path, "r+b") as f:
                f.truncate(min(good, size))
        return records

    def append(self, records: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _probe_records(pre: Evaluation, post: Evaluation, case: EditCase) -> list[dict]:
    pre_k, post_k = pre.by_key(), post.by_key()
    out = []
    for i, probe in enumerate(case.probes):
        a, b = pre_k[(case.case_id, i)], post_k[(case.case_id, i)]
        out.append({"index": i, "kind": probe.kind, "lang": probe.lang, "prompt": probe.prompt,
                    "answer": probe.answer, "pre": a.metrics, "post": b.metrics})
    return out


def _apply(method: EditMethod, lm: LoadedModel, cases: list[EditCase]) -> tuple[dict[str, EditHandle], list]:
    """Apply the cases' edits together; methods without batch support apply them one after another."""
    if method.supports_batch or len(cases) == 1:
        h = method.apply_cases(lm, cases)
        return {c.case_id: h for c in cases}, [h]
    handles = {c.case_id: method.apply_cases(lm, [c]) for c in cases}
    return handles, list(handles.values())


def _restore(handles: list[EditHandle]) -> None:
    for h in reversed(handles):  # last applied first, so each backup restores the state it saw
        h.restore()


def _evaluate_with(backend, cases, cfg, handles: dict[str, EditHandle] | None, reference=None) -> Evaluation:
    if handles is None:
        return evaluate(backend, cases, cfg.protocols, None, reference, cfg.max_new_tokens)
    results, unavailable = [], {}
    distinct = {id(h): h for h in handles.values()}
    for h in distinct.values():  # one engine call per distinct handle (one for batch-capable methods)
        mine = [c for c in cases if handles[c.case_id] is h]
        ev = evaluate(backend, mine, cfg.protocols, h, reference, cfg.max_new_tokens)
        results += ev.results
        unavailable.update(ev.unavailable)
    return Evaluation(results, unavailable)


def _subject_rule(lm: LoadedModel, case: EditCase) -> str | None:
    try:
        return subject_span(lm.tokenizer, case.edit.prompt, case.edit.subject).rule
    except Exception:  # tokenizers without offsets: not needed for evaluation
        return None


def run_bench(lm: LoadedModel, method: EditMethod, dataset: Dataset, out_dir: str | Path, cfg: BenchConfig,
              resume: bool = False, progress: bool = True, backend=None) -> dict:
    out = Path(out_dir)
    cases = dataset.cases if cfg.limit is None else dataset.cases[:cfg.limit]
    if cfg.langs:
        cases = [c.restrict(cfg.langs) for c in cases]
    if not cases:
        raise PolyeditError(f"dataset {cfg.data!r} has no cases")
    if cfg.protocols is None:
        cfg.protocols = list(dataset.protocols or DEFAULT_PROTOCOLS)
    run_meta = {"config": asdict(cfg), "hparams": method.resolved(lm).to_dict()}
    results = ResultsFile(out / "results.jsonl")
    run_file = out / "run.json"
    if run_file.exists() or results.path.exists():
        if not resume:
            raise PolyeditError(f"{out} already holds a run; pass --resume to continue it or choose a new --out")
        saved = json.loads(run_file.read_text("utf-8"))
        if saved.get("config") != run_meta["config"]:
            raise PolyeditError(f"{out} holds a run with a different configuration; cannot resume it")
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(run_meta, indent=2, ensure_ascii=False), "utf-8")

    backend = backend or HFBackend(lm, batch_size=cfg.eval_batch_size, chat_template=cfg.chat_template)
    position = {c.case_id: i for i, c in enumerate(cases)}  # seeds follow a case's place in the dataset
    done = results.finished()
    done_ids = {r["case_id"] for r in done}
    todo = [c for c in cases if c.case_id not in done_ids]
    step = cfg.edits_per_step if cfg.mode != "single" else 1
    bar = tqdm(total=len(cases), initial=len(cases) - len(todo), disable=not progress, desc=f"{cfg.method}",
               unit="case", dynamic_ncols=True)
    seq_handles: list[EditHandle] = []  # in the order applied, for restoring
    seq_map: dict[str, EditHandle] = {}  # case -> its handle, for re-scoring earlier cases
    seq_cases: list[EditCase] = []
    seq_pre: Evaluation | None = None
    if cfg.mode == "sequential":
        seq_pre = _evaluate_with(backend, cases, cfg, None)
        for c in [c for c in cases if c.case_id in done_ids]:  # resuming: replay the finished edits
            torch.manual_seed(cfg.seed + position[c.case_id])
            hmap, hs = _apply(method, lm, [c])
            seq_handles += hs
            seq_map.update(hmap)
            seq_cases.append(c)
    try:
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            torch.manual_seed(cfg.seed + position[chunk[0].case_id])
            pre = seq_pre if cfg.mode == "sequential" else _evaluate_with(backend, chunk, cfg, None)
            t0 = time.perf_counter()
            handles, applied = _apply(method, lm, chunk)
            t_edit = time.perf_counter() - t0
            post = _evaluate_with(backend, chunk, cfg, handles, reference=pre)
            records = []
            for c in chunk:
                records.append({"case_id": c.case_id, "method": cfg.method, "mode": cfg.mode,
                                "edit": asdict(c.edit), "subject_rule": _subject_rule(lm, c),
                                "seconds_per_edit": t_edit / len(chunk), "info": _jsonable(handles[c.case_id].info),
                                "unavailable": post.unavailable, "probes": _probe_records(pre, post, c)})
            if cfg.mode == "sequential":
                seq_handles += applied
                seq_map.update(handles)
                seq_cases += chunk
                _sequential_checkpoint(backend, cfg, seq_cases, seq_map, seq_pre, out)
            else:
                _restore(applied)
            results.append(records)
            bar.update(len(chunk))
    finally:
        _restore(seq_handles)
        bar.close()
    return write_summary(out, results.finished(), dataset, getattr(backend, "describe", dict)())


def _sequential_checkpoint(backend, cfg, seq_cases, seq_map, pre, out: Path) -> None:
    """Re-score every case edited so far, with all edits in place (forgetting and drift)."""
    ev = _evaluate_with(backend, seq_cases, cfg, seq_map, reference=pre)
    by_case: dict[str, dict] = {}
    for r in ev.results:
        rec = by_case.setdefault(r.case_id, {"after_edits": len(seq_cases), "case_id": r.case_id, "probes": []})
        rec["probes"].append({"index": r.index, "kind": r.probe.kind, "lang": r.probe.lang, "post": r.metrics})
    ResultsFile(out / "sequential.jsonl").append(list(by_case.values()))


def _jsonable(info: dict) -> dict:
    return json.loads(json.dumps(info, default=lambda o: float(o) if hasattr(o, "__float__") else str(o)))


def write_summary(out: Path, records: list[dict], dataset: Dataset | None = None, evaluation: dict | None = None
                  ) -> dict:
    """summary.json beside the results (the Markdown table is written by the report layer). `evaluation`:
    how the backend ran (device, dtype, batch size actually used, chat template)."""
    summary = summarize(records)
    if evaluation:
        summary["evaluation"] = evaluation
    summary["skipped"] = dict(dataset.skipped) if dataset is not None else {}
    summary["seconds_per_edit"] = (sum(r["seconds_per_edit"] for r in records) / len(records)) if records else None
    summary["subject_rules"] = _count(r.get("subject_rule") for r in records)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), "utf-8")
    return summary


def _count(values) -> dict:
    out: dict = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out
