"""A sweep's plan without running it (`polyedit sweep --dry-run`): every cell with the cases and probe
languages its dataset resolves to, and the GPU time the sweep file's own `cost` table estimates.

Models are named, not loaded: a recipe for an 8B hub model is planned on a machine that has neither the
weights nor a GPU. Datasets are loaded, so a spec that does not resolve against the files fails here, in
one line, before a GPU hour is spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyedit.sweep import datasets
from polyedit.sweep.spec import Cell, Sweep


@dataclass(frozen=True)
class CellPlan:
    cell: Cell
    cases: int  # after the cell's --limit
    probes: int  # every probe of those cases, in the cell's probe languages
    edit_langs: tuple[str, ...]
    probe_langs: tuple[str, ...]
    gpu_hours: float | None  # cases x the cost table's seconds per case of this method; None without one


def plan_cell(cell: Cell, seconds_per_case: dict[str, float]) -> CellPlan:
    spec = cell.data if not cell.langs else _with_langs(cell.data, cell.langs)
    cases = datasets.cases(spec, cell.limit)
    per_case = seconds_per_case.get(cell.method)
    return CellPlan(
        cell, len(cases), sum(len(c.probes) for c in cases),
        tuple(sorted({c.edit.lang for c in cases})),
        tuple(sorted({p.lang for c in cases for p in c.probes})),
        None if per_case is None else len(cases) * per_case / 3600)


def _with_langs(spec: str, langs: tuple[str, ...]) -> str:
    # the cell's langs as the dataset option every loader takes, unless the spec already names its own
    return spec if ":langs=" in spec else f"{spec}:langs={','.join(langs)}"


def plan(sweep: Sweep) -> list[CellPlan]:
    with datasets.kept():  # the methods and models of a grid share their datasets: each is loaded once
        return [plan_cell(c, sweep.cost.get("seconds_per_case", {})) for c in sweep.cells]


def _few(langs: tuple[str, ...], most: int = 12) -> str:
    return ",".join(langs) if len(langs) <= most else f"{','.join(langs[:most])},... +{len(langs) - most}"


def describe(sweep: Sweep, plans: list[CellPlan]) -> list[str]:
    """The plan as the lines `--dry-run` prints: one per cell, then the totals."""
    models = sorted({p.cell.model for p in plans})
    lines = [f"{len(plans)} grid cells (nothing is run; the models are named, not loaded or looked up: "
             f"{', '.join(models)}):"]
    for p in plans:
        hours = "" if p.gpu_hours is None else f", ~{p.gpu_hours:.2f} GPU h"
        lines.append(f"  {p.cell.name}: {p.cases} cases, {p.probes} probes, edit {_few(p.edit_langs)} -> "
                     f"{len(p.probe_langs)} probe languages ({_few(p.probe_langs)}){hours}")
    known = [p.gpu_hours for p in plans if p.gpu_hours is not None]
    total = f"{sum(p.cases for p in plans)} cases in all"
    if known:
        gpu = sweep.cost.get("gpu", "the GPU named in the sweep file's cost table")
        total += (f"; estimated {sum(known):.1f} GPU hours on {gpu} for {len(known)} of {len(plans)} cells "
                  f"(an estimate from the file's seconds_per_case, not a measurement)")
    lines.append(total)
    return lines
