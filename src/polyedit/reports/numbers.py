"""How a report writes a share: percent (or percentage points) with one decimal, an interval in brackets,
"n/a" where a run did not record it. One module, so the page, the Markdown file and the comparison tables
write numbers alike without importing each other."""

from __future__ import annotations

NA = "n/a"


def pct(x) -> str:
    return NA if x is None else f"{100 * x:.1f}"


def interval(ci) -> str:
    return f"[{pct(ci[0])}, {pct(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else f"[{NA}]"
