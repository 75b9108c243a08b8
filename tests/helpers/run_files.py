"""What two runs of the same settings must share: everything they wrote but its provenance (how long an edit
took, whether the unedited model's results came from the shared cache, the cache's counters)."""

from __future__ import annotations

#: fields that say how a number was obtained, never what it is
PROVENANCE = frozenset({"seconds_per_edit", "cpu_seconds_per_edit", "pre_from_cache", "pre_edit_cache"})


def numbers_only(obj):
    """`obj` with every PROVENANCE key removed, at any depth."""
    if isinstance(obj, dict):
        return {k: numbers_only(v) for k, v in obj.items() if k not in PROVENANCE}
    if isinstance(obj, list):
        return [numbers_only(v) for v in obj]
    return obj
