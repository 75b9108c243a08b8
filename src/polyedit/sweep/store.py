"""One grid cell's store, assembled from shards so that any worker may run any shard.

A cell folder is what `bench` writes (run.json, results.jsonl, summary.json, summary.md, and samples.jsonl,
sequential.jsonl or checkpoints.jsonl when the runner writes them). Its cases are cut into shards; each shard is an ordinary
resumable `bench` store under `CELL/shards/NNNN/`, seeded so that case i of the cell gets the seed a
single `bench` gives it (cfg.seed + i). A shard is finished when its summary.json exists; a worker killed
mid-shard leaves a partial results.jsonl that the retry resumes (a torn last line is dropped, finished
cases are skipped), so no case is lost or doubled. When every shard is finished the cell's files are the
shards' files concatenated in case order and summarised once: the same bytes whichever worker ran what.
A sequential cell is one shard (edits accumulate); with lifelong checkpoints that shard is one `bench` over
the whole dataset with the cell's limit, as recall is measured on the cases after it. So is a cell with
capability checks: one check of the unedited model, and the sample drawn over all the cell's edits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.evaluation.capability import compare
from polyedit.evaluation.capability.checks import RECORDS, SAMPLES
from polyedit.sweep.spec import Cell

#: per-case files a run folder may hold; concatenated shard by shard (summary.json is recomputed)
PART_FILES = ("results.jsonl", "samples.jsonl", "sequential.jsonl")
#: a capability cell's checks (evaluation/capability), from its only shard
CAPABILITY_FILES = (RECORDS, SAMPLES)


@dataclass(frozen=True)
class Shard:
    cell: Cell
    cell_dir: str
    index: int
    start: int  # first case, as an index into the cell's cases
    stop: int

    @property
    def dir(self) -> Path:
        return Path(self.cell_dir) / "shards" / f"{self.index:04d}"

    @property
    def done(self) -> bool:
        return (self.dir / "summary.json").exists()

    @property
    def n_cases(self) -> int:
        return self.stop - self.start


def plan_shards(cell: Cell, cell_dir: Path, n_cases: int, shard_size: int) -> list[Shard]:
    """Sequential runs accumulate edits, so a cell is one shard; batch shards hold whole batches."""
    if cell.mode == "sequential" or cell.capability:  # capability: one `before`, a sample over the cell's edits
        size = n_cases
    elif cell.mode == "batch":
        size = max(1, -(-shard_size // cell.edits_per_step)) * cell.edits_per_step
    else:
        size = shard_size
    return [Shard(cell, str(cell_dir), i, start, min(start + size, n_cases))
            for i, start in enumerate(range(0, n_cases, max(size, 1)))]


def claim_cell(cell: Cell, cell_dir: Path, write: bool = True) -> None:
    """Check (and with `write`, record) the cell's identity, so a restarted sweep never mixes two configurations."""
    marker = cell_dir / "cell.json"
    if marker.exists():
        saved = read_json(marker)
        if saved != cell.identity():
            raise PolyeditError(f"{cell_dir} holds a grid cell with a different configuration; choose a new --out")
        return
    if not write:
        return
    cell_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(marker, json.dumps(cell.identity(), indent=2, ensure_ascii=False))


def run_shard(lm, shard: Shard, dataset) -> int:
    """Run (or resume) one shard on a loaded model through `bench`; returns the shard's case count."""
    from polyedit.api import bench

    cell = shard.cell
    if cell.checkpoints or cell.capability:  # the only shard; recall and world tasks ask facts it does not edit
        part, limit = dataset, cell.limit
    else:
        part, limit = replace(dataset, cases=dataset.cases[shard.start:shard.stop]), None
    spec = cell.spec().replace(seed=cell.seed + shard.start, limit=limit)  # case i keeps the seed a bench gives it
    bench(lm, spec=spec, out=shard.dir, resume=True, progress=False, dataset=part)
    return shard.n_cases


def assemble_cell(cell: Cell, cell_dir: Path, shards: list[Shard], dataset) -> dict:
    """The cell's run folder from its finished shards, in case order."""
    from polyedit.evaluation import lifelong
    from polyedit.evaluation.runner import write_summary
    from polyedit.reports.markdown import summary_markdown
    from polyedit.reports.specs import display_spec

    missing = [s.index for s in shards if not s.done]
    if missing:
        raise PolyeditError(f"{cell_dir}: shards {missing} are not finished")
    # checkpoints.jsonl counts the edits of its shard: only a cell of one shard (sequential) has one
    for name in PART_FILES[1:] + ("checkpoints.jsonl",) + CAPABILITY_FILES:  # results.jsonl below
        parts = [s.dir / name for s in shards if (s.dir / name).exists()]
        if parts:
            _atomic_write(cell_dir / name, "".join(p.read_text("utf-8") for p in parts))
    # a result's `chunk` counts the shard's own chunks: renumber it as one `bench` over the cell counts them
    # (shards start at whole chunks: batch shards hold whole batches, sequential cells are one shard)
    step = cell.edits_per_step if cell.mode != "single" else 1
    lines = []
    for s in shards:
        for line in (s.dir / "results.jsonl").read_text("utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                if isinstance(rec.get("chunk"), int):
                    rec["chunk"] += s.start // step
                lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    _atomic_write(cell_dir / "results.jsonl", "".join(lines))
    run = json.loads((shards[0].dir / "run.json").read_text("utf-8"))
    run["config"].update(seed=cell.seed, limit=cell.limit)  # what one `bench` over the whole cell records
    run["sweep"] = {"cell": cell.to_dict(), "shards": [[s.start, s.stop] for s in shards]}
    _atomic_write(cell_dir / "run.json", json.dumps(run, indent=2, ensure_ascii=False))
    records = _lines(cell_dir / "results.jsonl")
    shard_summary = json.loads((shards[0].dir / "summary.json").read_text("utf-8"))
    life = None
    if "lifelong" in run:  # summarised as `bench` summarises it, from the settings it recorded
        life = lifelong.summarize_checkpoints(_lines(cell_dir / "checkpoints.jsonl"), run["lifelong"],
                                              lifelong.edit_languages(records), lifelong.segments_of(records))
    checks = _lines(cell_dir / CAPABILITY_FILES[0]) if (cell_dir / CAPABILITY_FILES[0]).exists() else None
    summary = write_summary(cell_dir, records, dataset, shard_summary.get("evaluation"), life,
                            compare.summarize_records(checks) if checks else None)
    _atomic_write(cell_dir / "summary.md", summary_markdown(summary, f"{cell.method} on {display_spec(cell.data)}"))
    return summary


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
