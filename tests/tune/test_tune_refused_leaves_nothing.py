"""A refused `tune` leaves nothing in the user's folder, its lock file included."""

import pytest

from helpers.tune_fakes import FAKE_LM
from polyedit.errors import PolyeditError
from polyedit.tune.config import TuneConfig
from polyedit.tune.study import run_tune


def test_a_refused_tune_leaves_no_lock_file_in_a_users_folder(tiny_data, fake_bench, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    cfg = TuneConfig(model="fake", method="ft-l", data=tiny_data, trials=2, cases=2)
    with pytest.raises(PolyeditError, match="not empty"):
        run_tune(cfg, folder, lm=FAKE_LM, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
