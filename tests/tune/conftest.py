from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers.builders import person_cases_jsonl
from helpers.tune_fakes import fake_summary


@pytest.fixture
def tiny_data(tmp_path) -> str:
    """A jsonl dataset of 12 cases with distinct subjects (so both splits have some), en edits, de probes."""
    return person_cases_jsonl(tmp_path / "cases.jsonl")


@pytest.fixture
def fake_bench(monkeypatch):
    """Replace the trial's bench run by `fake_summary`; `calls` counts them, `interrupt_at` raises Ctrl-C."""
    state = SimpleNamespace(calls=0, interrupt_at=None)

    def bench(lm, cfg, hp, folder: Path, dataset):
        state.calls += 1
        if state.interrupt_at == state.calls:
            raise KeyboardInterrupt
        folder.mkdir(parents=True, exist_ok=True)
        return fake_summary(hp)

    monkeypatch.setattr("polyedit.tune.study._bench", bench)
    return state
