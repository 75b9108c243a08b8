import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from polyedit.data.cases import Probe, make_case
from tune_fakes import fake_summary


@pytest.fixture
def tiny_data(tmp_path) -> str:
    """A jsonl dataset of 12 cases with distinct subjects (so both splits have some), en edits, de probes."""
    path = tmp_path / "cases.jsonl"
    lines = []
    for i in range(12):
        c = make_case(f"c{i}", "en", f"Person {i}", f"Person {i} lives in", "Oslo", "Lima",
                      [Probe("reliability", "de", f"Person {i} wohnt in", "Oslo", "Lima"),
                       Probe("locality", "en", "The sky is", "blue")])
        lines.append(json.dumps(c.to_dict()))
    path.write_text("\n".join(lines) + "\n")
    return f"jsonl:{path}"


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
