"""`--parallel-edits K` (`evaluation/parallel.py`): single edits scored K at a time give one edit at a time's
numbers on world:small (metrics within 1e-5, identical generated answers, records of the same shape), never
write into the weights while scoring, resume like any run, and a method that cannot says so and runs one at a
time."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import polyedit as pe
from polyedit.evaluation import parallel

CASES = 3
LANGS = ["en", "de"]  # fewer probes: the test is about how they are scored, not how many


@pytest.fixture(scope="module")
def lm():
    return pe.load_model("world:small")


def _run(lm, method, out, k, limit=CASES, **kw):
    summary = pe.bench(lm, method, "world:small:split=test", out, limit=limit, progress=False, parallel_edits=k,
                       langs=LANGS, **kw)
    lines = lambda name: [json.loads(x) for x in (out / name).read_text("utf-8").splitlines()]  # noqa: E731
    return summary, lines("results.jsonl"), lines("samples.jsonl")


def _close(x, y) -> None:
    """The same JSON value, numbers within 1e-5 (relative to their size where larger than 1)."""
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _close(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for a, b in zip(x, y):
            _close(a, b)
    elif isinstance(x, float) and isinstance(y, (int, float)):
        assert abs(x - y) <= 1e-5 * max(1.0, abs(x)), (x, y)
    else:
        assert x == y


def _same_numbers(one, par) -> None:
    (_, rec_a, sam_a), (_, rec_b, sam_b) = one, par
    assert [r["case_id"] for r in rec_a] == [r["case_id"] for r in rec_b]
    for a, b in zip(rec_a, rec_b):
        assert a.keys() == b.keys() and a["chunk"] == b["chunk"]
        _close(a["info"], b["info"])  # the edit's own record (losses, steps, commit loss): the same edit
        _close(a["convergence"], b["convergence"])
        for pa, pb in zip(a["probes"], b["probes"], strict=True):
            for phase in ("pre", "post"):
                assert pa[phase].keys() == pb[phase].keys()
                for m, x in pa[phase].items():
                    assert abs(x - pb[phase][m]) < 1e-5, (a["case_id"], pa["index"], phase, m, x, pb[phase][m])
    assert [(s["pre"]["generated"], s["post"]["generated"], s["post"]["prompt"]) for s in sam_a] == \
        [(s["pre"]["generated"], s["post"]["generated"], s["post"]["prompt"]) for s in sam_b]


@pytest.mark.parametrize("method", ["rome", "lora"])
def test_parallel_single_edits_equal_one_at_a_time(lm, tmp_path, monkeypatch, method):
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    seen = []
    scoring = parallel.evaluate_edits

    def watched(*args, **kwargs):  # the weights while the edited models are scored
        seen.append(all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items()))
        return scoring(*args, **kwargs)

    monkeypatch.setattr(parallel, "evaluate_edits", watched)
    one = _run(lm, method, tmp_path / "one", 1)
    par = _run(lm, method, tmp_path / "par", 2)  # a group of 2, then one of 1
    assert seen == [True, True]
    _same_numbers(one, par)
    assert any(r["post"] != r["pre"] for rec in one[1] for r in rec["probes"])  # the edits changed something
    assert json.loads((tmp_path / "par" / "run.json").read_text("utf-8"))["parallel_edits"] == 2
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())


def test_a_parallel_run_resumes_to_the_same_numbers(lm, tmp_path):
    whole = _run(lm, "rome", tmp_path / "whole", 2)
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "whole", cut, ignore=shutil.ignore_patterns(".polyedit.lock*"))
    lines = (cut / "results.jsonl").read_text("utf-8").splitlines(keepends=True)
    (cut / "results.jsonl").write_text("".join(lines[:1]), "utf-8")  # killed in the first group
    summary = pe.bench(lm, "rome", "world:small:split=test", cut, limit=CASES, progress=False, parallel_edits=2,
                       langs=LANGS, resume=True)
    resumed = json.loads((cut / "results.jsonl").read_text("utf-8").splitlines()[-1])
    assert summary["n_cases"] == CASES and resumed["case_id"] == whole[1][-1]["case_id"]
    _same_numbers(whole, (summary, [json.loads(x) for x in (cut / "results.jsonl").read_text("utf-8").splitlines()],
                          [json.loads(x) for x in (cut / "samples.jsonl").read_text("utf-8").splitlines()]))


def test_a_method_that_cannot_says_so_and_runs_one_at_a_time(lm, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "evaluate_edits", lambda *a, **k: pytest.fail("ft-l was scored in parallel"))
    summary, records, _ = _run(lm, "ft-l", tmp_path / "ftl", 3, limit=2)
    assert len(records) == 2
    assert any(n.startswith("--parallel-edits 3: edits made and scored one at a time (ft-l's edit is not") for n in
               summary["notes"])


def test_auto_halves_k_on_out_of_memory(lm, tmp_path, monkeypatch):
    """`--parallel-edits auto` starts large and halves after an out-of-memory error, redoing the group: every
    case written once, in order, and the K that fitted recorded in run.json."""
    making = parallel.make_edits

    def small_memory(method, lm_, cases, seeds):
        if len(cases) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return making(method, lm_, cases, seeds)

    monkeypatch.setattr(parallel, "make_edits", small_memory)
    _, records, _ = _run(lm, "rome", tmp_path / "auto", "auto")
    ids = [c.case_id for c in pe.load_dataset("world:small:split=test").cases[:CASES]]
    assert [r["case_id"] for r in records] == ids
    assert json.loads((tmp_path / "auto" / "run.json").read_text("utf-8"))["parallel_edits"] == 2
