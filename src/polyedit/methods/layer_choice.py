"""Which layers a method edits: defaults derived from the model's depth, and a check of user choices."""

from __future__ import annotations

from polyedit.errors import PolyeditError


def layer_at(n_layers: int, fraction: float) -> int:
    """The layer `fraction` of the way up a model of `n_layers` blocks (rounded, within range)."""
    return min(n_layers - 1, max(0, round(fraction * n_layers)))


def check_layers(layers: list[int], n_layers: int, method: str) -> list[int]:
    """The layers as a list; an empty list, a repeated layer (its weights would be trained twice over) or a layer
    outside 0..n_layers-1 is a clear error."""
    layers = list(layers)
    if not layers:
        raise PolyeditError(f"{method}: no layers chosen")
    bad = [x for x in layers if not 0 <= x < n_layers]
    if bad:
        raise PolyeditError(f"{method}: layer {bad[0]} does not exist (the model has layers 0..{n_layers - 1})")
    twice = next((x for i, x in enumerate(layers) if x in layers[:i]), None)
    if twice is not None:
        raise PolyeditError(f"{method}: layer {twice} is listed twice in layers {layers}")
    return layers
