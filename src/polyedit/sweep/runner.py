"""Run a sweep: plan every cell's shards, run them here or on Ray, assemble each cell when its shards are done.

Restarting a sweep on the same folder continues it: finished cells and shards are skipped, a shard cut
short resumes at its first unfinished case."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from polyedit.data.jsonio import read_json
from polyedit.sweep.spec import Cell, Sweep
from polyedit.sweep.store import Shard, assemble_cell, claim_cell, plan_shards


@dataclass
class Plan:
    out: Path
    cells: list[tuple[Cell, Path, list[Shard]]]
    datasets: dict  # spec -> loaded Dataset, read once by the driver

    @property
    def todo(self) -> list[Shard]:
        return [s for _, _, shards in self.cells for s in shards if not s.done]

    @property
    def n_cases(self) -> int:
        return sum(s.n_cases for _, _, shards in self.cells for s in shards)


def plan(sweep: Sweep, out: str | Path) -> Plan:
    from polyedit.data.registry import load_dataset
    from polyedit.errors import PolyeditError

    out = Path(out)
    datasets = {}
    for cell in sweep.cells:  # every dataset is read before anything runs: bad data fails here
        if cell.data not in datasets:
            datasets[cell.data] = load_dataset(cell.data)
    sizes = {}
    for cell in sweep.cells:  # a folder holding another grid, or a cell bench would refuse, before any is written
        claim_cell(cell, out / cell.name, write=False)
        cases = datasets[cell.data].cases
        sizes[cell] = n = len(cases) if cell.limit is None else min(cell.limit, len(cases))
        if n == 0:
            raise PolyeditError(f"dataset {cell.data!r} has no cases")
        if cell.checkpoints:
            _check_lifelong(cell, cases, n, f"{sweep.source}: {cell.name}: ")
    cells = []
    for cell in sweep.cells:
        cell_dir = out / cell.name
        claim_cell(cell, cell_dir)
        cells.append((cell, cell_dir, plan_shards(cell, cell_dir, sizes[cell], sweep.shard_size)))
    out.mkdir(parents=True, exist_ok=True)
    index = {"source": sweep.source, "cells": [{"dir": d.name, **c.to_dict()} for c, d, _ in cells]}
    (out / "sweep.json").write_text(json.dumps(index, indent=2, ensure_ascii=False), "utf-8")
    return Plan(out, cells, datasets)


def _check_lifelong(cell: Cell, cases: list, n: int, where: str) -> None:
    """What `bench` checks once it has the cases: checkpoints within the `n` edits, cases left unedited."""
    from polyedit.errors import PolyeditError, SpecError
    from polyedit.evaluation import lifelong

    try:
        lifelong.check_checkpoints(list(cell.checkpoints), cell.edits_per_step, n)
        lifelong.untouched_cases(cases, cases[:n], cell.recall_sample, cell.seed, None)
    except SpecError as e:  # named as the sweep file names the setting
        raise PolyeditError(e.render(where=where)) from None


def finish(p: Plan) -> dict[str, dict]:
    """Assemble every cell whose shards are all done (idempotent); returns cell name -> summary."""
    summaries = {}
    for cell, cell_dir, shards in p.cells:
        if (cell_dir / "summary.md").exists() and (cell_dir / "summary.json").exists():
            summaries[cell.name] = read_json(cell_dir / "summary.json")
        elif all(s.done for s in shards):
            summaries[cell.name] = assemble_cell(cell, cell_dir, shards, p.datasets[cell.data])
    return summaries


def progress_bar(p: Plan, progress: bool) -> tqdm:
    done = p.n_cases - sum(s.n_cases for s in p.todo)
    return tqdm(total=p.n_cases, initial=done, disable=not progress, unit="case", dynamic_ncols=True,
                desc=f"sweep: {len(p.cells)} cells")


def run_local(sweep: Sweep, out: str | Path, progress: bool = True, device: str = "cpu") -> dict[str, dict]:
    """Every shard in this process, in grid order, on one model loaded at a time."""
    import torch

    from polyedit.sweep.worker import ShardWorker

    p = plan(sweep, out)
    threads = torch.get_num_threads()
    worker = ShardWorker(sweep.resources.threads_per_worker, device)
    bar = progress_bar(p, progress)
    try:
        for shard in p.todo:
            worker._datasets.setdefault(shard.cell.data, p.datasets[shard.cell.data])
            bar.update(worker.run(shard)[1])
            finish(p)  # a cell is assembled as soon as its last shard is in
    finally:
        bar.close()
        torch.set_num_threads(threads)
    return finish(p)
