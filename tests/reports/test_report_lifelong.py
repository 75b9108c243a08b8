"""`polyedit report` pairs lifelong runs made on the same edits: A − B in retention, recall and locality at
each shared checkpoint, equal to a paired bootstrap on the runs' checkpoints.jsonl rows; runs that differ
in checkpoints or seed are named as not paired; a known answer on hand-made rows."""

import json
import shutil
from pathlib import Path

import pytest

from polyedit.cli.main import main
from polyedit.evaluation.uncertainty import paired_bootstrap
from polyedit.reports import lifelong
from polyedit.reports.collect import Run, find_runs

LIFELONG = ["--model", "world:small", "--data", "world:small:edit_lang=all:mix=cycle", "--limit", "6",
            "--mode", "sequential", "--retention-sample", "4", "--recall-sample", "5",
            "--protocols", "answer,answer_locality", "--edit-probes", "edit"]  # what the checkpoints score


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lifelong_runs")
    for name, method, checkpoints in (("memit", "memit", "3,6"), ("alphaedit", "alphaedit", "3,6"),
                                      ("memit-ck6", "memit", "6")):
        assert main(["bench", "--method", method, *LIFELONG, "--checkpoints", checkpoints,
                     "--out", str(root / name)]) == 0
    # the same run recorded under another seed: the one difference is the seed
    shutil.copytree(root / "memit", root / "memit-seed1")
    run = json.loads((root / "memit-seed1" / "run.json").read_text())
    run["config"]["seed"] = 1
    (root / "memit-seed1" / "run.json").write_text(json.dumps(run))
    assert main(["report", str(root), "--out", str(root / "report")]) == 0
    return root


def _rows(folder: Path) -> dict[int, dict]:
    return {r["after_edits"]: r for r in map(json.loads, (folder / "checkpoints.jsonl").read_text().splitlines())}


def test_pair_is_a_paired_bootstrap_on_the_checkpoint_rows(runs):
    index = json.loads((runs / "report" / "report.json").read_text())
    compared = [d for d in index["lifelong_differences"] if d["why_not"] is None]
    assert [(Path(d["a_dir"]).name, Path(d["b_dir"]).name) for d in compared] == [("alphaedit", "memit")]
    pair = compared[0]
    a, b = _rows(runs / "alphaedit"), _rows(runs / "memit")
    assert [p["after_edits"] for p in pair["checkpoints"]] == [3, 6]
    for point in pair["checkpoints"]:
        for measure, protocol, metric in (("retention", "answer", "answer_em"), ("recall", "answer", "answer_em"),
                                          ("locality", "answer_locality", "answer_unchanged")):
            direct = paired_bootstrap([tuple(r) for r in a[point["after_edits"]][measure]],
                                      [tuple(r) for r in b[point["after_edits"]][measure]])
            got = point[measure]
            assert (got["protocol"], got["metric"]) == (protocol, metric)
            assert {k: got[k] for k in direct} == direct
    assert pair["checkpoints"][1]["retention"]["n_cases"] == 4  # the retention sample
    assert pair["checkpoints"][1]["recall"]["n_cases"] == 5  # the untouched facts

    md = (runs / "report" / "report.md").read_text()
    loc = pair["checkpoints"][1]["locality"]
    row = (f"| alphaedit (seed 0) − memit (seed 0) [memit] | 6 | locality | answer_locality (answer_unchanged) "
           f"| {100 * loc['diff']:.1f} [{100 * loc['ci95'][0]:.1f}, {100 * loc['ci95'][1]:.1f}] "
           f"| {loc['p_value']:.3f} | 5 |")
    assert row in md
    assert "### Lifelong checkpoints" in md and "| alphaedit (seed 0) | 6 | " in md  # each run's own numbers too
    page = (runs / "report" / "report.html").read_text()
    assert "Differences between lifelong runs on the same edits" in page
    assert page.index("Lifelong editing") < page.index("Differences between lifelong runs")
    assert f"<td>{100 * loc['diff']:.1f} [{100 * loc['ci95'][0]:.1f}, {100 * loc['ci95'][1]:.1f}]</td>" in page


def test_runs_with_other_checkpoints_or_seed_are_named_as_not_paired(runs):
    index = json.loads((runs / "report" / "report.json").read_text())
    why = {(Path(d["a_dir"]).name, Path(d["b_dir"]).name): d["why_not"] for d in index["lifelong_differences"]}
    assert why[("alphaedit", "memit-ck6")] == why[("memit", "memit-ck6")] == "different checkpoints"
    assert why[("alphaedit", "memit-seed1")] == why[("memit", "memit-seed1")] == "different seed"
    assert len(why) == 6 and sum(w is None for w in why.values()) == 1
    line = next(x for x in (runs / "report" / "report.md").read_text().splitlines() if x.startswith("Not paired:"))
    assert "memit (seed 0) [memit] − memit (seed 0) [memit-ck6] (different checkpoints)" in line
    assert "alphaedit (seed 0) − memit (seed 1) (different seed)" in line  # runs named by what differs
    assert len(find_runs([runs])) == 4  # the unpaired runs are still runs of the report


def _run(folder, method, rows, **changes):
    """A finished lifelong run in memory: one checkpoint after 2 edits, `rows` for every measure."""
    settings = {"checkpoints": [2], "retention_sample": None, "recall_sample": 2,
                "untouched_ids": ["untouched:x", "untouched:y"], **changes.pop("settings", {})}
    config = {"model": "world:small", "method": method, "data": "world:small", "seed": 0, "mode": "sequential",
              "edits_per_step": 1, **changes}
    point = {"after_edits": 2, "retention": {"metric": "answer_em", "protocol": "answer", "mean": 0.5}}
    return Run(Path(folder), config, {"lifelong": {"settings": settings, "checkpoints": [point]}},
               extra={"cases": ["c0", "c1"]},
               checkpoints=[{"after_edits": 2, "retention": rows, "recall": rows, "locality": rows}])


def test_known_answer_on_hand_made_rows(tmp_path):
    ones = [["c0", "en", 1.0], ["c0", "de", 1.0], ["c1", "en", 1.0]]
    zeros = [["c0", "en", 0.0], ["c0", "de", 0.0], ["c1", "en", 0.0], ["c9", "en", 1.0]]  # c9: B's alone
    a, b = _run(tmp_path / "a", "zeta", ones), _run(tmp_path / "b", "alpha", zeros)
    [pair] = lifelong.differences([a, b])
    assert (pair["a"], pair["b"], pair["why_not"]) == ("alpha sequential×1", "zeta sequential×1", None)  # by name
    got = pair["checkpoints"][0]["retention"]
    assert (got["diff"], got["ci95"], got["p_value"], got["n_cases"]) == (-1.0, [-1.0, -1.0], 0.0, 2)
    [pair] = lifelong.differences([_run(tmp_path / "a", "alpha", ones), _run(tmp_path / "b", "zeta", zeros)])
    rows = lifelong.difference_rows([pair])
    assert rows[0] == ["alpha sequential×1 − zeta sequential×1", "2", "retention", "answer (answer_em)",
                       "100.0 [100.0, 100.0]", "0.000", "2"]
    assert [r[2:4] for r in rows] == [["retention", "answer (answer_em)"], ["recall", "answer (answer_em)"],
                                      ["locality", "answer_locality (answer_unchanged)"]]
    assert lifelong.unpaired([pair]) is None


@pytest.mark.parametrize("changes, reason", [
    ({"settings": {"untouched_ids": ["untouched:x", "untouched:z"]}}, "different untouched facts"),
    ({"settings": {"retention_sample": 1}}, "different retention sample"),
    ({"settings": {"checkpoints": [1, 2]}}, "different checkpoints"),
    ({"seed": 3}, "different seed"),
    ({"model": "world:medium"}, "different model"),
    ({"data": "world:small:edit_lang=de"}, "different data"),
])
def test_each_difference_leaves_the_pair_unpaired(tmp_path, changes, reason):
    rows = [["c0", "en", 1.0]]
    diffs = lifelong.differences([_run(tmp_path / "a", "a", rows), _run(tmp_path / "b", "b", rows, **changes)])
    assert diffs[0]["why_not"] == reason and diffs[0]["checkpoints"] == []
    assert lifelong.unpaired(diffs) == f"Not paired: a sequential×1 − b sequential×1 ({reason})."
    assert lifelong.difference_rows(diffs) == []


def test_edited_cases_in_another_order_are_not_the_same_edits(tmp_path):
    rows = [["c0", "en", 1.0]]
    a, b = _run(tmp_path / "a", "a", rows), _run(tmp_path / "b", "b", rows)
    b.extra["cases"] = ["c1", "c0"]  # checkpoint 1 would follow another edit
    assert lifelong.comparable(a, b) == "different edited cases"
    b.checkpoints = []
    assert lifelong.comparable(a, b) == "b has no checkpoints.jsonl rows"
