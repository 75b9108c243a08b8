"""A run says out loud what would otherwise sit in results.jsonl: an edit that changed nothing, a fallback."""

import json

import pytest

from polyedit.evaluation.notes import edit_changed_nothing, run_notes
from polyedit.methods.base import METHODS, EditHandle, EditMethod


def _record(rel_pre, rel_post, notes=()):
    return {"info": {"notes": list(notes)}, "probes": [
        {"kind": "reliability", "lang": "en", "pre": {"token_accuracy": rel_pre}, "post": {"token_accuracy": rel_post}},
        {"kind": "locality", "lang": "en", "pre": {"locality": 1.0}, "post": {"locality": 0.5}}]}


def test_an_edit_that_moved_nothing_is_named():
    assert edit_changed_nothing(_record(0.2, 0.2)) and not edit_changed_nothing(_record(0.2, 0.2000001))
    notes = run_notes([_record(0.2, 0.2), _record(0.5, 0.5)])
    assert len(notes) == 1 and "changed nothing: in all 2 cases" in notes[0]
    assert run_notes([_record(0.2, 0.2), _record(0.5, 0.9)]) == ["the edit changed no score at all in 1 of 2 cases"]
    assert run_notes([_record(0.2, 0.9)]) == []


def test_method_notes_are_counted():
    notes = run_notes([_record(0, 1, ["fell back"]), _record(0, 1, ["fell back"]), _record(0, 1)])
    assert notes == ["fell back (2 of 3 cases)"]


class _NoOp(EditMethod):
    """A method that silently does nothing (what KN did without an old answer)."""

    name = "test-noop"

    def apply(self, lm, edits):
        return EditHandle(lm)


@pytest.fixture
def noop_method():
    METHODS.register(_NoOp.name, _NoOp)
    yield _NoOp.name
    METHODS.unregister(_NoOp.name)


def test_bench_says_on_the_console_that_the_edit_did_nothing(tmp_path, capsys, noop_method):
    from polyedit.cli.main import main
    from polyedit.data.cases import Probe, make_case

    data = tmp_path / "cases.jsonl"

    case = make_case("c1", "en", "Ana Lind", "Ana Lind was born in", "Oslo", target_true="Lima",
                     probes=[Probe("generality", "en", "Ana Lind's birthplace is", "Oslo", "Lima")])
    data.write_text(json.dumps(case.to_dict()) + "\n", "utf-8")
    rc = main(["bench", "--model", "world:small", "--method", noop_method, "--data", f"jsonl:{data}",
               "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc in (None, 0) and "note: the edit changed nothing" in err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text("utf-8"))
    assert any("changed nothing" in n for n in summary["notes"])


def test_a_judge_that_never_says_yes_or_no_is_named():
    def judged(*verdicts):
        probes = [{"kind": "reliability", "lang": "en", "pre": {"answer_em": 0.0}, "post": {"answer_em": 1.0, **v}}
                  for v in verdicts]
        return {"info": {}, "protocols": {"judge": {"kind": "judged"}}, "probes": probes}

    assert run_notes([judged({}, {})]) == ["the judge gave no YES or NO verdict: all 4 judged answers are unscored "
                                           "(its replies are in samples.jsonl)"]
    assert run_notes([judged({}, {"judge_correct": 0.0})]) == []  # one verdict: the judge works
