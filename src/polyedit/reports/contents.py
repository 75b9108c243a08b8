"""What a report shows, built once and written by every output (report.html, report.md, the CSV and LaTeX
tables, the figures): the runs table, the leaderboards, the matrices, the pre/post groups and the paired
differences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polyedit.reports import capability, leaderboard, paired
from polyedit.reports.collect import (Run, edit_languages_of, environment, headline_metric, language_entry,
                                      probe_languages)
from polyedit.reports.specs import display_spec
from polyedit.reports.tables import Table

MATRIX_KIND = "reliability"  # the kind a cross-lingual matrix shows (the edit's own question in every language)


def families(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.family, []).append(r)
    return out


def by_edit_language(runs: list[Run]) -> tuple[dict[str, list[Run]], list[Run]]:
    """Runs whose edits were all made in one language, by that language (their data spec does not choose
    the edit language: a method's main run), and the rest (runs of an edit-language sweep, or edited in
    several languages), which are shown as edit x probe matrices per method."""
    single: dict[str, list[Run]] = {}
    rest = []
    for r in runs:
        els = edit_languages_of(r)
        if len(els) == 1 and not r.edit_lang:
            single.setdefault(els[0], []).append(r)
        else:
            rest.append(r)
    return single, rest


@dataclass
class Matrix:
    title: str
    matrix: dict[str, dict[str, float]]
    rows_name: str
    edit_lang: str | None = None


def matrices(family: str, runs: list[Run]) -> list[Matrix]:
    """Per edit language, one methods x probe-language matrix; per method of an edit-language sweep (or a
    run edited in several languages), one edit x probe-language matrix."""
    single, rest = by_edit_language(runs)
    out = []
    for el, rs in single.items():
        rows = {r.label: {pl: e["post"] for pl in probe_languages(r) for e in [language_entry(r, pl, MATRIX_KIND)]
                          if e and e.get("post") is not None} for r in rs}
        rows = {k: v for k, v in rows.items() if v}
        if rows:
            metric = headline_metric(rs[0], MATRIX_KIND)
            out.append(Matrix(f"{display_spec(family)}, edits in {el}: {MATRIX_KIND} ({metric}), post-edit, "
                              "run × probe language", rows, "run", el))
    sweeps: dict[str, dict] = {}
    for r in rest:
        rel = (r.summary.get("cross_lingual") or {}).get(MATRIX_KIND)
        if rel:
            sweeps.setdefault(r.cache.get("base_label", r.label), {}).update(rel)
    for label, matrix in sweeps.items():
        out.append(Matrix(f"{label} on {display_spec(family)}: {MATRIX_KIND}, post-edit, edit language × probe "
                          "language", matrix, "edit language"))
    return out


def bar_groups(family: str, runs: list[Run]) -> list[tuple[str, list[Run]]]:
    """(title prefix, runs) for the pre/post bars: the runs of each edit language (sweeps' runs are in the
    matrices), or every run when the dataset has no other."""
    single, _ = by_edit_language(runs)
    if not single:
        return [(display_spec(family), runs)]
    return [(f"{display_spec(family)}, edits in {el}", rs) for el, rs in single.items()]


def matrix_table(m: Matrix, index: int) -> Table:
    cols = sorted({c for row in m.matrix.values() for c in row})
    header = [m.rows_name] + [f"{c} (edit)" if c == m.edit_lang else c for c in cols]
    rows = [[r] + [{"post": row[c]} if c in row else None for c in cols] for r, row in m.matrix.items()]
    return Table(f"matrix-{index}", m.title, header, rows, "Post-edit, %.")


def runs_table(runs: list[Run], root: Path | None) -> Table:
    rows = [[r.label, _rel(r.dir, root), str(r.config.get("model", "n/a")), environment(r).get("backend", "hf"),
             r.method, display_spec(r.data), str(r.config.get("mode", "n/a")), str(environment(r).get("dtype", "n/a")),
             str(r.config.get("judge_model") or "none"), ",".join(edit_languages_of(r)) or "n/a",
             str(r.summary.get("n_cases", "n/a"))] for r in runs]
    return Table("runs", "Runs", ["run", "folder", "model", "backend", "method", "data", "mode", "dtype", "judge",
                                  "edit language", "cases"], rows)


def _rel(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve())) if root else path.name
    except ValueError:
        return path.name  # outside the report's root: its name only, never a local absolute path


@dataclass
class Contents:
    runs: list[Run]
    families: dict[str, list[Run]]
    runs_table: Table
    leaderboards: list[Table]
    matrices: list[tuple[Matrix, Table]]
    pairs: list[dict]
    pair_tables: list[Table]
    unpaired: list[str]
    groups: list[Table] = field(default_factory=list)  # leaderboards by script, family, resource level
    tables: list[Table] = field(default_factory=list)  # every table, for the CSV and LaTeX files
    #: per lm-eval task some run checked ((task, headline metric, version), its per-language table)
    capability: list[tuple[tuple, Table]] = field(default_factory=list)
    capability_checkpoints: Table | None = None  # sequential runs' checks at each checkpoint


def build(runs: list[Run], root: Path | None = None) -> Contents:
    fams = families(runs)
    boards = leaderboard.tables(fams)
    mats = [m for fam, rs in fams.items() for m in matrices(fam, rs)]
    mats = [(m, matrix_table(m, i + 1)) for i, m in enumerate(mats)]
    found = paired.pairs(runs)
    pair_tables = ([paired.summary_table(found)] + [paired.pair_table(d, i + 1) for i, d in enumerate(found)]
                   if found else [])
    rt = runs_table(runs, root)
    groups = [t for i, (fam, rs) in enumerate(fams.items()) for t in leaderboard.group_tables(fam, rs, i + 1)]
    c = Contents(runs, fams, rt, boards, mats, found, pair_tables, paired.unpaired(runs, found), groups)
    tasks = capability.tasks_of([r.summary for r in runs])
    c.capability = [(t, capability.language_table(runs, *t, i + 1)) for i, t in enumerate(tasks)]
    c.capability_checkpoints = capability.checkpoint_table(runs, tasks)
    c.tables = [rt, *boards, *groups, *(t for _, t in mats), *pair_tables, *(t for _, t in c.capability)]
    c.tables += [c.capability_checkpoints] if c.capability_checkpoints else []
    return c
