"""`--batch-size auto`: the largest evaluation batch that fits, found as accelerate's
`find_executable_batch_size` finds it: start large, halve on an out-of-memory error, retry.

Batches are sorted longest first, so the first batch of a call is its largest and an out-of-memory error
shows up at once; the size that worked is kept for every later call (and recorded in the run).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

import torch

from polyedit.errors import PolyeditError

AUTO = "auto"
AUTO_START = 256  # first size tried: ample for scoring a few hundred probes per call on a large GPU

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's and MPS's out-of-memory errors, and the CPU allocator's."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(s in text for s in (
        "out of memory", "CUDNN_STATUS_NOT_SUPPORTED", "can't allocate memory", "DefaultCPUAllocator"))


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        mps.empty_cache()


class BatchSize:
    """A fixed batch size, or `auto` (starts at `AUTO_START`, halves on out-of-memory)."""

    def __init__(self, value: int | str = 32) -> None:
        if value == AUTO:
            self.auto, self.size = True, AUTO_START
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            self.auto, self.size = False, value
        else:
            raise PolyeditError(f"batch size {value!r}: expected a positive integer or {AUTO!r}")
        self.halvings = 0

    def run(self, work: Callable[[int], T]) -> T:
        """`work(batch_size)`; with `auto`, retried at half the size after an out-of-memory error."""
        while True:
            try:
                return work(self.size)
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raised
                if not (self.auto and is_out_of_memory(e)):
                    raise
                if self.size == 1:
                    raise PolyeditError("out of memory even at batch size 1: use a smaller model, a lower "
                                        "--dtype or --device-map auto") from None
            release_memory()
            self.size //= 2
            self.halvings += 1

    def describe(self) -> dict:
        return {"batch_size": self.size, "batch_size_auto": self.auto}
