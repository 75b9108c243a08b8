"""The run folder under faults: SIGKILL anywhere, a second run, a full disk, a torn run.json, a failed start."""

import errno
import json
import os
import random
import signal

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.data.registry import Dataset
from polyedit.errors import PolyeditError
from polyedit.evaluation import store as store_mod
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods import get_method
from polyedit.models import load_model
from helpers.run_files import numbers_only
from helpers.weights import state_hash
from helpers.fast import fast

FAST = fast("ft-l", steps=3)


def _cases(n=5):
    names = [("Paris", "Spain"), ("Berlin", "Italy"), ("Moscow", "Japan"), ("Rome", "Korea"), ("Oslo", "Peru")]
    return [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, "France",
                      [Probe("generality", "de", f"{s} ist die Hauptstadt von", t, "France"),
                       Probe("locality", "fr", "Paris est", "France")])
            for i, (s, t) in enumerate(names[:n])]


@pytest.fixture(scope="module")
def lm(tiny_model_dirs):
    return load_model(str(tiny_model_dirs["llama"]))


def _run(lm, out, mode, resume=False, cases=None):
    cfg = BenchConfig(model="tiny", method="ft-l", data="mem", hparams=FAST, mode=mode, edits_per_step=2)
    return run_bench(lm, get_method("ft-l", FAST), Dataset("mem", cases or _cases()), out, cfg,
                     resume=resume, progress=False)


def _numbers(out):
    """Everything a run wrote that must not depend on being killed (timings aside)."""
    def lines(name):
        p = out / name
        rows = [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []
        return numbers_only(rows)
    summary = json.loads((out / "summary.json").read_text())
    return lines("results.jsonl"), lines("sequential.jsonl"), numbers_only(summary)


def _killed_child(lm, out, mode, kill_at: int, tear: float) -> None:
    """Run in a forked child that SIGKILLs itself at its `kill_at`-th write, after writing `tear` of it."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        calls = [0]
        real_write = os.write

        def write(fd, data):
            calls[0] += 1
            if calls[0] == kill_at:
                real_write(fd, bytes(data)[:int(len(data) * tear)])
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(fd, data)

        store_mod.os.write = write
        try:
            _run(lm, out, mode, resume=out.exists())
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("mode", ["single", "batch", "sequential"])
def test_sigkill_at_random_points_then_resume_gives_the_same_numbers(lm, tmp_path, mode):
    before = state_hash(lm.model)
    _run(lm, tmp_path / "ref", mode)
    reference = _numbers(tmp_path / "ref")
    appends = len(reference[0]) // (1 if mode == "single" else 2) + 1
    appends += appends if mode == "sequential" else 0  # a checkpoint append per chunk
    rng = random.Random(f"kill-{mode}")
    out = tmp_path / "killed"
    for _ in range(2):  # two kills in a row, each at a random write and a random point inside it
        _killed_child(lm, out, mode, rng.randint(1, appends), rng.random())
    _run(lm, out, mode, resume=True)
    assert _numbers(out) == reference
    assert state_hash(lm.model) == before


def test_a_live_run_holds_the_folder_and_a_killed_one_does_not(lm, tmp_path):
    out = tmp_path / "o"
    with store_mod.RunStore(out).open({"config": {}}, resume=False):
        with pytest.raises(PolyeditError, match=r"in use by another polyedit run \(pid \d+\)"):
            _run(lm, out, "single", resume=True)
    # a SIGKILLed run leaves its lock file and owner behind; the kernel released the lock itself
    _killed_child(lm, tmp_path / "k", "single", 1, 0.5)
    assert (tmp_path / "k" / store_mod.LOCK_NAME).exists()
    _run(lm, tmp_path / "k", "single", resume=True)
    assert len((tmp_path / "k" / "results.jsonl").read_text().splitlines()) == 5


def test_duplicate_case_ids_are_refused_before_writing(lm, tmp_path):
    cases = _cases(2)
    cases[1].case_id = "c0"
    with pytest.raises(PolyeditError, match="case 1 repeats case_id 'c0' of case 0"):
        _run(lm, tmp_path / "o", "batch", cases=cases)
    assert not (tmp_path / "o").exists()


def test_a_full_disk_is_one_line_and_leaves_whole_lines(lm, tmp_path, monkeypatch):
    calls = [0]
    real_write = os.write

    def write(fd, data):  # the third write to results.jsonl fails half-way (samples.jsonl is written too)
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl"):
            return real_write(fd, data)
        calls[0] += 1
        if calls[0] == 3:
            real_write(fd, bytes(data)[:7])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(store_mod.os, "write", write)
    before = state_hash(lm.model)
    with pytest.raises(PolyeditError, match="cannot write .*results.jsonl: No space left on device"):
        _run(lm, tmp_path / "o", "single")
    assert state_hash(lm.model) == before
    lines = (tmp_path / "o" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x) for x in lines)
    monkeypatch.undo()
    _run(lm, tmp_path / "o", "single", resume=True)


def test_torn_or_missing_run_json(lm, tmp_path):
    _run(lm, tmp_path / "o", "single", cases=_cases(1))
    run_json = tmp_path / "o" / "run.json"
    env = json.loads(run_json.read_text())["environment"]
    assert {"polyedit", "git_commit", "torch", "transformers", "device", "dtype", "date", "backend"} <= set(env)
    run_json.write_text(run_json.read_text()[:20])
    with pytest.raises(PolyeditError, match="run.json is torn or not JSON"):
        _run(lm, tmp_path / "o", "single", resume=True, cases=_cases(1))
    run_json.unlink()
    with pytest.raises(PolyeditError, match="holds results.jsonl but no run.json"):
        _run(lm, tmp_path / "o", "single", resume=True, cases=_cases(1))


def test_a_refused_resume_names_the_configuration_keys_that_differ(lm, tmp_path):
    _run(lm, tmp_path / "o", "single", cases=_cases(1))
    run_json = tmp_path / "o" / "run.json"
    saved = json.loads(run_json.read_text())
    del saved["config"]["retention_sample"]  # as a run saved before the lifelong fields were added
    saved["config"]["edits_per_step"] = 7
    run_json.write_text(json.dumps(saved))
    with pytest.raises(PolyeditError, match=r"different configuration \(differs in edits_per_step, "
                                            r"retention_sample \(not in the saved run\)\); cannot resume"):
        _run(lm, tmp_path / "o", "single", resume=True, cases=_cases(1))


def test_read_only_out_is_one_line(lm, tmp_path, monkeypatch):
    from pathlib import Path

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Path, "mkdir", read_only)  # chmod cannot simulate it: tests may run as root
    with pytest.raises(PolyeditError, match="cannot create output folder .*: Read-only file system"):
        _run(lm, tmp_path / "ro", "single", cases=_cases(1))
    monkeypatch.undo()
    (tmp_path / "ro2").mkdir()
    monkeypatch.setattr(store_mod.os, "access", lambda *a: False)
    with pytest.raises(PolyeditError, match="output folder .* is not writable"):
        _run(lm, tmp_path / "ro2", "single", cases=_cases(1))


def test_a_failed_start_leaves_nothing_that_blocks_the_rerun(lm, tmp_path, monkeypatch):
    from polyedit.evaluation import runner

    raised = {"single": RuntimeError, "batch": KeyboardInterrupt, "sequential": RuntimeError}

    def boom(*a, **k):
        raise raised[k.get("mode", boom.mode)]("scoring failed")

    before = state_hash(lm.model)
    monkeypatch.setattr(runner, "_probe_records", boom)  # fails after the edit, before the first record
    for mode in ("single", "batch", "sequential"):
        boom.mode = mode
        with pytest.raises(raised[mode]):  # an exception or Ctrl-C while the model is edited
            _run(lm, tmp_path / "o", mode)
        assert state_hash(lm.model) == before  # restored although scoring the edited model failed
        assert not (tmp_path / "o").exists()
    for p in lm.model.parameters():
        assert p.grad is None


def test_results_never_hold_nan_and_run_json_keeps_the_backends_notes(tmp_path):
    lines = store_mod.JsonLines(tmp_path / "r.jsonl")
    lines.append([{"m": float("nan"), "x": [float("inf"), 1.0]}])
    assert json.loads((tmp_path / "r.jsonl").read_text()) == {"m": None, "x": [None, 1.0]}

    class Endpoint:
        def describe(self):
            return {"url": "http://127.0.0.1:1/v1", "notes": ["endpoint returns no logprobs"]}

    assert store_mod.environment(None, Endpoint())["backend"]["notes"] == ["endpoint returns no logprobs"]
    store = store_mod.RunStore(tmp_path / "o")
    with store.open({"config": {}}, resume=False):
        store.results.append([{"case_id": "c0"}])
        store.note("backend_at_end", Endpoint().describe())
    assert json.loads(store.run_file.read_text())["backend_at_end"]["notes"] == ["endpoint returns no logprobs"]


def test_a_handle_used_as_a_context_restores_on_error_and_leaves_no_grad(lm):
    from polyedit.data.cases import Edit

    before = state_hash(lm.model)
    with pytest.raises(KeyboardInterrupt):
        with get_method("ft-l", FAST).apply(lm, [Edit("en", "Paris", "Paris is the capital of", "Spain")]):
            assert state_hash(lm.model) != before
            raise KeyboardInterrupt
    assert state_hash(lm.model) == before
    assert all(p.grad is None for p in lm.model.parameters())


def test_a_method_failing_in_mid_edit_leaves_the_model_unedited(lm, tmp_path):
    from polyedit.methods.base import EditHandle, EditMethod

    class HalfEdit(EditMethod):  # backs up a weight, changes it, then fails: as an edit interrupted midway
        name = "half-edit-test"
        supports_batch = False

        def apply(self, lm, edits):
            name = next(n for n, _ in lm.model.named_parameters())
            EditHandle(lm, [name])
            dict(lm.model.named_parameters())[name].data.add_(1.0)
            raise KeyboardInterrupt

    before = state_hash(lm.model)
    cfg = BenchConfig(model="tiny", method="half-edit-test", data="mem", mode="batch", edits_per_step=2)
    with pytest.raises(KeyboardInterrupt):
        run_bench(lm, HalfEdit(), Dataset("mem", _cases(2)), tmp_path / "o", cfg, progress=False)
    assert state_hash(lm.model) == before and not (tmp_path / "o").exists()
