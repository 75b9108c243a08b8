"""The one helper for inputs from outside the repository: a skip on a developer's machine, a failure in CI."""

import pytest
from helpers import requires


def test_a_missing_shared_file_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        requires.shared("data/no-such-benchmark")


def test_a_missing_shared_file_is_a_skip_elsewhere(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-benchmark"):
        requires.shared("data/no-such-benchmark")


def test_a_present_shared_folder_is_returned(monkeypatch, tmp_path):
    (tmp_path / "data" / "x").mkdir(parents=True)
    monkeypatch.setattr(requires, "SHARED", tmp_path)
    assert requires.shared("data/x") == tmp_path / "data" / "x"


def test_a_declared_dependency_that_does_not_import_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_here does not import"):
        requires.importable("no_such_module_here")
    assert requires.importable("json").dumps([1]) == "[1]"
