"""Everything is checked before anything is loaded, edited or written: the --out folder of `bench` (in use,
already holding a run) before the model loads; `edit --save` into a non-empty or unwritable folder, and a
negative --max-new-tokens, before the edit; a hub model that is not cached while the hub is unreachable or
HF_HUB_OFFLINE is set, in one line and at once."""

import time

import pytest

import polyedit.models.load as load
from polyedit.cli.main import main
from polyedit.errors import PolyeditError

EDIT = ["--method", "ft-m", "--prompt", "Paris is in", "--subject", "Paris", "--target-new", "Spain"]


@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if a model is loaded (`main` imports load_model from polyedit.models.load at call time)."""
    def refuse(*a, **kw):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(load, "load_model", refuse)


def _one_line(capsys, message):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in err, err


def test_bench_into_a_folder_in_use_is_refused_before_the_model_loads(tmp_path, no_loading, capsys):
    from polyedit.evaluation.store import RunStore

    out = tmp_path / "out"
    with RunStore(out).open({"config": {}}, resume=False):  # another run writing it now
        assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small:n=1",
                     "--out", str(out), "--resume"]) == 2
    _one_line(capsys, "is in use by another polyedit run (pid")


def test_bench_into_a_finished_run_without_resume_is_refused_before_the_model_loads(tmp_path, no_loading, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"config": {}}')
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small:n=1",
                 "--out", str(out)]) == 2
    _one_line(capsys, "already holds a run; pass --resume")
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_bench_into_an_unwritable_place_is_refused_before_the_model_loads(tmp_path, no_loading, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small:n=1",
                 "--out", str(tmp_path / "file" / "out")]) == 2
    _one_line(capsys, "is not a folder")


def test_edit_save_into_a_non_empty_folder_is_refused_before_editing(tmp_path, no_loading, capsys):
    target = tmp_path / "saved"
    target.mkdir()
    (target / "config.json").write_text("{}")
    assert main(["edit", "--model", "world:small", *EDIT, "--save", str(target)]) == 2
    _one_line(capsys, "is not empty")
    assert (target / "config.json").read_text() == "{}"


def test_edit_save_where_nothing_can_be_written_is_refused_before_editing(tmp_path, no_loading, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["edit", "--model", "world:small", *EDIT, "--save", str(tmp_path / "file" / "saved")]) == 2
    _one_line(capsys, "is not a folder")


def test_handle_save_refuses_a_non_empty_folder(tmp_path):
    from polyedit.methods.base import EditHandle

    (tmp_path / "config.json").write_text("{}")
    handle = EditHandle(None)
    handle._backup = {"w": None}  # as if it had edited a weight: only the target is in question here
    with pytest.raises(PolyeditError, match="is not empty"):
        handle.save(tmp_path)
    assert (tmp_path / "config.json").read_text() == "{}"


@pytest.mark.parametrize("value", ["-5", "0"])
def test_edit_max_new_tokens_must_be_positive(value, no_loading, capsys):
    assert main(["edit", "--model", "world:small", *EDIT, "--max-new-tokens", value]) == 2
    _one_line(capsys, f"--max-new-tokens must be at least 1, got {value}")


def test_an_uncached_hub_model_offline_is_one_line_naming_hf_hub_offline(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    assert main(["edit", "--model", "polyedit-test/no-such-model", *EDIT]) == 2
    _one_line(capsys, "HF_HUB_OFFLINE")
    assert time.monotonic() - start < 10


def test_an_uncached_hub_model_without_a_hub_fails_at_once(monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing answers
    start = time.monotonic()
    assert main(["edit", "--model", "polyedit-test/no-such-model", *EDIT]) == 2
    _one_line(capsys, "cannot be reached")
    assert time.monotonic() - start < 10
