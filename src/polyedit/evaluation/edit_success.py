"""Whether each edit reached its own objective, apart from whether it transferred: an edit whose loss stayed
far above its target is a failed edit, not failed transfer, and a run says how many there were.

Each case's record carries its edit's outcome (`convergence`: {loss, steps, target, converged}, from the
method's `info["edits"]`, see `polyedit.methods.convergence`; absent for methods without an objective, such
as in-context editing). The summary counts the edits that did not converge and gives the headline
reliability of those and of the converged ones separately, each with its interval.
"""

from __future__ import annotations

from polyedit.data.cases import RELIABILITY
from polyedit.evaluation.aggregate import _entry, headline_metrics, rows


def case_outcome(info: dict, index: int) -> dict | None:
    """The outcome of edit `index` of a handle's edits (None where the method records none)."""
    edits = info.get("edits")
    if isinstance(edits, list) and index < len(edits) and "converged" in (edits[index] or {}):
        return {k: edits[index][k] for k in ("loss", "steps", "target", "converged")}
    return None


def reliability(records: list[dict]) -> dict | None:
    """The headline reliability entry (post, ci95, n ...) over these records' probes, every language."""
    table = rows(records)
    metric = headline_metrics(records, table).get(RELIABILITY, (None, None))[0]
    return _entry([r for r in table if r["kind"] == RELIABILITY and r["metric"] == metric], metric, None)


def convergence_summary(records: list[dict]) -> dict | None:
    """{n_edits, not_converged, reliability: {converged, not_converged}} over the records whose edit has an
    outcome; None when none has."""
    known = [r for r in records if r.get("convergence")]
    if not known:
        return None
    failed = [r for r in known if not r["convergence"]["converged"]]
    done = [r for r in known if r["convergence"]["converged"]]
    return {"n_edits": len(known), "not_converged": len(failed),
            "reliability": {"converged": reliability(done) if done else None,
                            "not_converged": reliability(failed) if failed else None}}


def _share(entry: dict | None) -> str:
    if not entry:
        return "no reliability probe"
    lo, hi = entry["ci95"] if entry.get("ci95") else (None, None)
    ci = f" [{100 * lo:.1f}-{100 * hi:.1f}]" if lo is not None else ""
    return f"{entry['metric']} {100 * entry['post']:.1f}{ci}"


def convergence_note(summary: dict | None) -> str | None:
    """One line for the run's notes when some edit did not reach its objective's target."""
    if not summary or not summary["not_converged"]:
        return None
    rel = summary["reliability"]
    return (f"{summary['not_converged']} of {summary['n_edits']} edits did not converge (their objective stayed "
            f"above its target): reliability {_share(rel['not_converged'])} on them, "
            f"{_share(rel['converged'])} on the converged ones")
