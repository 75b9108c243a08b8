import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.errors import PolyeditError


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


FAKE_LM = SimpleNamespace(arch=SimpleNamespace(n_layers=4), name="fake")


def fake_summary(hp) -> dict:
    """A bench summary whose numbers are a fixed function of FT-L's hyperparameters: a larger radius and
    more steps transfer more and keep less locality; an lr above 0.05 'diverges' (a failed trial)."""
    if hp.lr > 0.05:
        raise PolyeditError("ft-l: the update left non-finite weights")
    r = min(1.0, hp.norm_constraint * 20)
    transfer = round(r * hp.steps / 100 + 0.01 * hp.layers[0], 6)
    locality = round(1 - 0.5 * r + 0.02 * hp.layers[0] * r, 6)
    entry = {"metric": "answer_em", "protocol": {"name": "answer"}, "post": transfer, "pre": 0.0}
    return {"mean_excluding_edit_language": {"reliability": entry},
            "mean": {"locality": {"metric": "answer_unchanged", "protocol": {"name": "answer_locality"},
                                  "post": locality}},
            "cross_lingual": {"reliability": {"en": {"en": 1.0, "de": transfer}}}, "seconds_per_edit": 0.0}


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
