"""What editing methods keep about one model between its edits: GRACE's codebooks, WISE's side memories,
UltraEdit's running statistics, AlphaEdit's written keys, and memos of values derived from the unedited
weights (ROME's context prefixes, the key second moments, the weights' fingerprint). Each method declares one class for it; the model holds one object of each
(`LoadedModel.method_state.of(GraceMemories)`), made on first use. Keyed by the class, not by a string; owned
by the model, so it ends with the model and no module-level table outlives it; every handle that changes it
puts back what it found (bit-identical restore covers it too)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class MethodState:
    """One object per kind of method state, keyed by its class."""

    def __init__(self) -> None:
        self._objects: dict[type, object] = {}

    def of(self, kind: type[T]) -> T:
        """The model's `kind` object, made with `kind()` on first use."""
        if kind not in self._objects:
            self._objects[kind] = kind()
        return self._objects[kind]  # type: ignore[return-value]

    def forget(self, kind: type) -> None:
        """Drop the model's `kind` object (a memo recomputed, as in a new session)."""
        self._objects.pop(kind, None)

    def __repr__(self) -> str:
        return f"MethodState({', '.join(k.__name__ for k in self._objects)})"
