"""What runs shards: a process holding one loaded model (reloaded only when the next shard needs another)
and the datasets it has read. The same class runs in the sweep's own process and inside each Ray actor."""

from __future__ import annotations

import os

from polyedit.sweep.store import Shard, run_shard


class ShardWorker:
    def __init__(self, threads: int = 1, device: str = "cpu") -> None:
        import torch

        # One thread count everywhere: float reductions then run in the same order, so a shard's numbers
        # do not depend on which process ran it.
        torch.set_num_threads(threads)
        self.device = device
        self._model_name: str | None = None
        self._lm = None
        self._datasets: dict[str, object] = {}

    def pid(self) -> int:
        return os.getpid()

    def warm(self, model: str) -> int:
        """Load `model` now (a driver timing the sweep itself, or pre-loading before handing out shards)."""
        self._model(model)
        return os.getpid()

    def _model(self, name: str):
        if name != self._model_name:
            from polyedit.models.load import load_model

            self._lm, self._model_name = None, None  # free the old one before loading the next
            self._lm, self._model_name = load_model(name, device=self.device), name
        return self._lm

    def _dataset(self, spec: str):
        if spec not in self._datasets:
            from polyedit.data.registry import load_dataset

            self._datasets[spec] = load_dataset(spec)
        return self._datasets[spec]

    def run(self, shard: Shard) -> tuple[int, int]:
        """Run one shard; returns (shard index, cases) so the driver can count progress."""
        if not shard.done:
            run_shard(self._model(shard.cell.model), shard, self._dataset(shard.cell.data))
        return shard.index, shard.n_cases
