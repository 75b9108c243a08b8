"""Parallel single edits (`--parallel-edits K`): K independent edits scored in one pass.

In single mode every edit is made on the unedited model, scored and undone, so on a GPU each edit's few
hundred probes leave most of the device idle. Here each of K edits is made as before (its own seed, on the
unedited model), its change read off the weights as low-rank factors (`row_deltas.factors`) and undone at
once; then the K edits' probes are scored together, every batch row computing with the unedited weights plus
its own edit's change (`row_deltas.RowDeltas`, a hook on each edited module), so nothing is written into the
weights while scoring. A method can do this only if it says its edit is a low-rank change of linear weights
and nothing else (`EditMethod.edits_as_row_deltas`); the others run one edit at a time, and the run's notes
say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from polyedit.data.cases import EditCase
from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle, EditMethod, apply_in_turn
from polyedit.models.load import LoadedModel
from polyedit.models.row_deltas import RowDeltas, factors, factors_out_in


def one_at_a_time(method: EditMethod, cfg) -> str | None:
    """Why a run asking for `--parallel-edits` runs its edits one at a time (None: it need not)."""
    if cfg.parallel_edits == 1:
        return None
    if cfg.mode != "single":
        why = f"mode {cfg.mode} applies its edits together"
    elif not method.edits_as_row_deltas:
        why = f"{method.name}'s edit is not a low-rank change of linear weights alone"
    elif cfg.capability:
        why = "--capability runs lm-eval on the edited weights"
    else:
        return None
    return f"--parallel-edits {cfg.parallel_edits}: edits made and scored one at a time ({why})"


@dataclass
class ParallelEdit:
    """One edit made and undone: its handle (restored; its `info` is the record's), its wall and CPU seconds,
    its change."""

    handle: EditHandle
    seconds: float
    cpu_seconds: float
    change: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module name -> (B, A)


def make_edits(method: EditMethod, lm: LoadedModel, cases: list[EditCase], seeds: list[int]) -> list[ParallelEdit]:
    """The edit of each case on the unedited model, as single mode makes it (seeded by its seed): all at once
    where the method can (`EditMethod.independent_changes`: ROME optimises the v* together), else one by one,
    each read off the weights and undone. The model is left bit-identical."""
    torch.manual_seed(seeds[0])
    t0, cpu0 = time.perf_counter(), time.process_time()
    together = method.independent_changes(lm, cases) if len(cases) > 1 else None
    if together is None:
        return [make_edit(method, lm, c, seed) for c, seed in zip(cases, seeds)]
    seconds = (time.perf_counter() - t0) / len(cases)
    cpu_seconds = (time.process_time() - cpu0) / len(cases)
    for handle, change in together:  # what `apply`'s finite check refuses, refused here too
        if not all(bool(torch.isfinite(d).all()) for d in change.values()):
            raise PolyeditError(f"{method.name}: an edit's update is not finite; try a smaller learning rate or "
                                f"--dtype float32")
    return [ParallelEdit(h, seconds, cpu_seconds, {m: factors_out_in(d) for m, d in change.items()})
            for h, change in together]


def make_edit(method: EditMethod, lm: LoadedModel, case: EditCase, seed: int) -> ParallelEdit:
    """The edit of `case` made in the weights (seeded by `seed`), read off and undone."""
    torch.manual_seed(seed)
    t0, cpu0 = time.perf_counter(), time.process_time()
    handle = apply_in_turn(method, lm, [case])[case.case_id]
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    try:
        change = {}
        for name, d in handle.weight_changes().items():
            module = name.removesuffix(".weight")
            if module == name or d.dim() != 2:
                raise PolyeditError(f"{method.name} changed {name}, which is not a linear module's weight: "
                                    f"--parallel-edits cannot carry it (its class should not set "
                                    f"edits_as_row_deltas)")
            change[module] = factors(lm.model.get_submodule(module), d)
    finally:
        handle.restore()
    return ParallelEdit(handle, seconds, cpu_seconds, change)


def evaluate_edits(backend, lm: LoadedModel, cases: list[EditCase], edits: list[ParallelEdit], cfg, reference):
    """The edited models' evaluation of `cases` (case i under edit i), in one engine call."""
    from polyedit.evaluation.engine import evaluate

    deltas = RowDeltas(lm.model, [e.change for e in edits])
    backend.row_deltas = deltas
    try:
        with deltas.active():
            return evaluate(backend, cases, cfg.protocols, None, reference, cfg.max_new_tokens,
                            edit_of={c.case_id: i for i, c in enumerate(cases)})
    finally:
        backend.row_deltas = None
