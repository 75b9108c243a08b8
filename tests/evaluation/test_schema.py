"""evaluation/schema.py: every field described, a versioned format, another version read or refused in
one line naming it."""

from __future__ import annotations

import json

import pytest

from polyedit.errors import PolyeditError
from polyedit.evaluation import schema
from polyedit.evaluation.store import RunStore


def _models():
    seen, todo = [], [m for m, _ in schema.FILES.values()]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.append(m)
        for f in m.model_fields.values():
            todo += [a for a in getattr(f.annotation, "__args__", ()) + (f.annotation,)
                     if isinstance(a, type) and issubclass(a, schema.BaseModel)]
            todo += [a for arg in getattr(f.annotation, "__args__", ()) for a in getattr(arg, "__args__", ())
                     if isinstance(a, type) and issubclass(a, schema.BaseModel)]
    return seen


def test_every_field_of_every_record_model_is_described():
    models = _models()
    assert {schema.ProbeRecord, schema.ProtocolLabel, schema.MethodInfo, schema.SampleStage} <= set(models)
    for model in models:
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"


def test_versions_are_read_or_refused_in_one_line():
    assert schema.check_version({"format_version": schema.FORMAT_VERSION}, "run.json") == schema.FORMAT_VERSION
    assert schema.check_version({"config": {}}, "run.json") == 1  # written before versions: still read
    with pytest.raises(PolyeditError) as e:
        schema.check_version({"format_version": 99}, "x/run.json")
    assert str(e.value) == "x/run.json was written in record format version 99; this polyedit reads versions 1, 2"
    with pytest.raises(PolyeditError, match="version 1; this polyedit writes version 2 and resumes only that"):
        schema.check_version({}, "x/run.json", resume=True)


def test_a_bad_record_is_one_line_naming_the_field():
    with pytest.raises(PolyeditError) as e:
        schema.validate("sequential.jsonl", {"after_edits": "two", "case_id": "c", "probes": []}, "f.jsonl")
    assert "\n" not in str(e.value) and str(e.value).startswith("f.jsonl: sequential.jsonl field after_edits:")


def _meta(version):
    meta = {"config": {"a": 1}, "cases": ["c"]}
    return meta if version is None else {"format_version": version, **meta}


@pytest.mark.parametrize("saved, message", [(None, "record format version 1; this polyedit writes version 2"),
                                            (7, "record format version 7; this polyedit writes version 2")])
def test_resuming_a_run_of_another_format_is_refused_naming_its_version(tmp_path, saved, message):
    (tmp_path / "run.json").write_text(json.dumps(_meta(saved)), "utf-8")
    with pytest.raises(PolyeditError, match=message):
        with RunStore(tmp_path).open(_meta(schema.FORMAT_VERSION), resume=True):
            pass
    with RunStore(tmp_path).open(_meta(saved), resume=True):  # the same version resumes
        pass


def test_reports_refuse_a_newer_run_in_one_line(tmp_path):
    from polyedit.reports.collect import read_run

    (tmp_path / "run.json").write_text(json.dumps({"format_version": 3, "config": {}}), "utf-8")
    (tmp_path / "summary.json").write_text("{}", "utf-8")
    with pytest.raises(PolyeditError, match="record format version 3; this polyedit reads versions 1, 2"):
        read_run(tmp_path)
