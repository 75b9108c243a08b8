"""Whether each edit's own objective reached its target: recorded per edit, so that an edit that failed
(a loss that stayed far above the early-stop target) is not read as failed transfer.

Every weight editor stops its optimisation at a target (a loss below a threshold, or a probability above
one) or at its last step; `outcome` is what it reached, `record` puts one outcome per edit into the
handle's `info["edits"]` (a list in the order of the edits, the same shape for one edit or many).
"""

from __future__ import annotations

import math


def outcome(loss: float | None, steps: int, target: float, *, reached: bool | None = None) -> dict:
    """{loss, steps, target, converged}: `converged` is `loss < target` unless the method's own stopping
    rule says otherwise (`reached`, e.g. MEMLA's probability rule). No loss (no step taken, or not finite)
    is not converged."""
    finite = loss is not None and math.isfinite(loss)
    done = reached if reached is not None else (finite and loss < target)
    return {"loss": float(loss) if finite else None, "steps": int(steps), "target": float(target),
            "converged": bool(done)}


def record(info: dict, outcomes: list[dict]) -> None:
    """info["edits"][i] gains edit i's outcome (created as one dict per edit where absent)."""
    edits = info.get("edits")
    if not isinstance(edits, list) or len(edits) != len(outcomes):
        edits = info["edits"] = [{} for _ in outcomes]
    for entry, out in zip(edits, outcomes):
        entry.update(out)
