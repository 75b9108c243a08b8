"""The cases a sweep's dataset specs resolve to. Validating a sweep loads each dataset (its files must load
before a GPU hour is spent) and planning it counts the same cases again; inside `kept()` each (spec, limit)
is loaded once and shared, outside it nothing is held (a running sweep keeps no dataset it does not run)."""

from __future__ import annotations

from contextlib import contextmanager

_kept: dict[tuple[str, int | None], tuple] | None = None


def cases(spec: str, limit: int | None = None) -> tuple:
    from polyedit.data.registry import load_dataset

    key = (spec, limit)
    if _kept is not None and key in _kept:
        return _kept[key]
    loaded = tuple(load_dataset(spec, limit=limit).cases)
    if _kept is not None:
        _kept[key] = loaded
    return loaded


@contextmanager
def kept():
    """Share each loaded dataset within the block (validation, then the plan of `--dry-run`)."""
    global _kept
    outer, _kept = _kept, {} if _kept is None else _kept
    try:
        yield
    finally:
        _kept = outer
