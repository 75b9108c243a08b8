import json
from collections import Counter

import pytest

from polyedit.data.registry import load_dataset
from polyedit.world.cases import make_cases
from polyedit.world.export import export_bmike53, export_mkeb
from polyedit.world.schema import LANGS


@pytest.fixture(scope="module")
def cases(world):
    return make_cases(world, 6, seed=2)


def _probe_set(case, kinds=None):
    return Counter((p.kind, p.lang, p.prompt, p.answer) for p in case.probes if kinds is None or p.kind in kinds)


def test_mkeb_export_round_trips_through_the_mkeb_loader(cases, tmp_path):
    path = export_mkeb(cases, tmp_path / "mkeb" / "world.json")
    records = json.loads(path.read_text("utf-8"))
    assert len(records) == len(cases)
    for rec in records:
        assert set(rec["edit"]) == set(LANGS)
        assert all("{}" in block["prompt"] for block in rec["edit"].values())
        assert all(len(rec["neighborhood_prompts"][x]) == len(rec["neighborhood_answers"][x]) for x in LANGS)
        assert set(rec["multi_hop_new_answer"]) == set(LANGS)
    loaded = load_dataset(f"mkeb:{path}").cases
    assert len(loaded) == len(cases)
    for mine, theirs in zip(cases, loaded):
        assert theirs.edit.prompt == mine.edit.prompt and theirs.edit.target_new == mine.edit.target_new
        assert theirs.edit.target_true == mine.edit.target_true
        assert _probe_set(theirs) == _probe_set(mine)


def test_bmike53_export_round_trips_through_the_bmike53_loader(cases, tmp_path):
    folder = export_bmike53(cases, tmp_path / "bmike53")
    assert (folder / "counterfact_test.json").is_file()
    written = {p.name for p in folder.glob("counterfact_test_*.json")}
    assert written == {f"counterfact_test_{x}.json" for x in LANGS if x != "en"}
    rec = json.loads((folder / "counterfact_test_zh.json").read_text("utf-8"))[0]
    assert set(rec) == {"en", "zh"}
    assert set(rec["zh"]) == {"case_id", "subject", "src", "rephrase", "old", "alt", "loc", "loc_ans", "port",
                              "port_ans"}
    loaded = load_dataset(f"bmike53:counterfact:dir={tmp_path / 'bmike53'}").cases
    assert len(loaded) == len(cases)
    for mine, theirs in zip(cases, loaded):
        assert theirs.edit.prompt == mine.edit.prompt and theirs.edit.target_new == mine.edit.target_new
        assert set(theirs.languages) == set(LANGS)
        assert {p.kind for p in theirs.probes} == {"reliability", "generality", "locality", "portability"}
        # one probe of each kind per language, each one of the case's own
        assert not _probe_set(theirs) - _probe_set(mine)
