"""Every metric a sequential run writes carries its protocol's full label (name, kind, version, chat
template), after the edit as before it: results.jsonl, sequential.jsonl and checkpoints.jsonl."""

from __future__ import annotations

import json

import pytest

from polyedit.cli.main import main

LABEL = ("name", "kind", "version", "chat_template")


def _lines(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def _full(label: dict) -> bool:
    return set(LABEL) <= set(label) and all(label[k] is not None for k in LABEL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    (root / "ft.yaml").write_text("steps: 2\n")
    common = ["bench", "--model", "world:small", "--method", "ft-m", "--hparams", str(root / "ft.yaml"),
              "--data", "world:small", "--langs", "en,de", "--mode", "sequential"]
    assert main([*common, "--limit", "2", "--out", str(root / "seq")]) == 0
    assert main([*common, "--limit", "2", "--checkpoints", "2", "--recall-sample", "2", "--no-log-samples",
                 "--out", str(root / "life")]) == 0
    return root


def test_results_and_sequential_label_every_metric_after_the_edit(runs):
    for name in ("results.jsonl", "sequential.jsonl"):
        records = _lines(runs / "seq" / name)
        assert records
        for rec in records:
            for p in rec["probes"]:
                for metric in set(p.get("pre", {})) | set(p["post"]):
                    label = p["protocol"][metric]
                    assert _full(label), (name, metric, label)
    seq = _lines(runs / "seq" / "sequential.jsonl")
    assert {r["after_edits"] for r in seq} == {1, 2}
    assert seq[-1]["probes"][0]["protocol"]["answer_em"] == {"name": "answer", "kind": "generated", "version": "1",
                                                             "chat_template": False}


def test_checkpoints_label_every_measure(runs):
    (point,) = _lines(runs / "life" / "checkpoints.jsonl")
    assert point["retention"] and point["recall"] and point["locality"]
    for measure in ("retention", "recall", "locality"):
        assert _full(point["protocol"][measure]), measure
    assert point["protocol"]["locality"]["name"] == "answer_locality"
    assert set(point["protocols"]) == {"answer", "answer_locality"}


def test_every_file_of_both_runs_reads_through_the_record_schema(runs):
    from polyedit.evaluation.schema import FILES, FORMAT_VERSION, validate

    seen = set()
    for name, (_, per_line) in FILES.items():
        for folder in ("seq", "life"):
            path = runs / folder / name
            if not path.exists():
                continue
            seen.add(name)
            for data in _lines(path) if per_line else [json.loads(path.read_text("utf-8"))]:
                validate(name, data, str(path))
                if not per_line:
                    assert data["format_version"] == FORMAT_VERSION
    assert seen == set(FILES)
