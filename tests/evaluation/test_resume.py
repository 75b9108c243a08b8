"""Resuming a run: `--langs` in another order is the same run; a results line that is JSON but not a
results record is refused before any case runs, in one line (not a KeyError after all of them)."""

import json

import pytest

from polyedit.cli.main import main

BENCH = ["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small", "--limit", "2"]


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    path = tmp_path_factory.mktemp("hp") / "fast.yaml"
    path.write_text("lr: 0.02\nsteps: 2\n")
    return ["--hparams", str(path)]


def test_langs_in_another_order_resume_the_same_run(tmp_path, fast, capsys):
    out = tmp_path / "run"
    assert main(BENCH + fast + ["--langs", "en,de", "--out", str(out)]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text(lines[0] + "\n")  # as if stopped after the first case
    assert main(BENCH + fast + ["--langs", "de,en", "--out", str(out), "--resume"]) == 0
    assert [json.loads(x)["case_id"] for x in (out / "results.jsonl").read_text().splitlines()] == \
        [json.loads(x)["case_id"] for x in lines]


@pytest.mark.parametrize("damage", [
    lambda rec: {"case_id": rec["case_id"]},  # no probes
    lambda rec: {**rec, "probes": [{"lang": "en"}]},  # a probe without its metrics
    lambda rec: {**rec, "edit": "en"},
])
def test_a_malformed_results_record_is_refused_before_any_case_runs(damage, tmp_path, fast, capsys):
    out = tmp_path / "run"
    assert main(BENCH + fast + ["--langs", "en", "--out", str(out)]) == 0
    first = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    (out / "results.jsonl").write_text(json.dumps(damage(first)) + "\n")
    capsys.readouterr()
    assert main(BENCH + fast + ["--langs", "en", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "results.jsonl: record 1 is not a whole results record" in err, err
    assert len((out / "results.jsonl").read_text().splitlines()) == 1  # nothing ran, nothing was cut
