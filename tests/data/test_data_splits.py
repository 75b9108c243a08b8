"""Dev/test splits by subject (`:split=dev|test`), implemented once in the registry for every dataset."""

from __future__ import annotations

import json

import pytest
from helpers.requires import shared

from polyedit.data.cases import make_case
from polyedit.data.registry import load_dataset
from polyedit.data.splits import side, subject_key
from polyedit.errors import PolyeditError


def _keys(ds):
    return {subject_key(c) for c in ds.cases}


@pytest.fixture(scope="module")
def mzsre_dir():
    return shared("data/mzsre/data/MzsRE")


def test_side_is_a_fixed_function_of_the_key():
    # known answers: a changed hash, salt or share would silently reshuffle every published split
    assert [side(k) for k in ("ilya ehrenburg", "vienna", "a", "b")] == ["test", "dev", "dev", "test"]
    assert side("anything", dev_share=0.0) == "test" and side("anything", dev_share=1.0) == "dev"


def test_world_split_shares_no_subject_and_covers_everything():
    dev, test, whole = (load_dataset(f"world:small:split={s}") for s in ("dev", "test", "all"))
    assert dev.cases and test.cases
    assert not _keys(dev) & _keys(test)
    assert sorted(c.case_id for c in dev.cases + test.cases) == sorted(c.case_id for c in whole.cases)
    assert [c.case_id for c in load_dataset("world:small:split=dev").cases] == [c.case_id for c in dev.cases]
    # the key is the person's id, not the name as written in the edit language (transliterated in ru)
    ru = load_dataset("world:small:edit_lang=ru:split=dev")
    assert [c.case_id for c in ru.cases] == [c.case_id for c in dev.cases]
    assert any(c.edit.subject != d.edit.subject for c, d in zip(ru.cases, dev.cases))


def test_mzsre_split_by_fact_across_edit_languages_and_languages(mzsre_dir):
    spec = f"mzsre:{mzsre_dir}"
    dev_en = load_dataset(f"{spec}:split=dev:langs=en,de")
    test_en = load_dataset(f"{spec}:split=test:langs=en,de")
    assert len(dev_en.cases) + len(test_en.cases) == 743 and not _keys(dev_en) & _keys(test_en)
    # the same fact edited from Thai (whose subject is Thai) lands on the same side: the key is English
    dev_th = load_dataset(f"{spec}:edit_lang=th:split=dev:langs=th,zh")
    assert [c.case_id for c in dev_th.cases] == [c.case_id for c in dev_en.cases]
    # restricting languages or limiting does not move a case
    assert [c.case_id for c in load_dataset(f"{spec}:split=dev:langs=zh", limit=5).cases] == \
        [c.case_id for c in dev_en.cases[:5]]


def test_loader_subject_key_groups_cases(tmp_path):
    a = make_case("a", "en", "Ana Lind", "Ana Lind was born in", "Oslo")
    b = make_case("b", "de", "Ana Lindová", "Ana Lindová wurde geboren in", "Oslo")
    b.meta["subject_key"] = "Ana  LIND"  # the same subject, named in another language
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(c.to_dict()) for c in (a, b)), "utf-8")
    sides = [{c.case_id for c in load_dataset(f"jsonl:{path}:split={s}").cases} for s in ("dev", "test")]
    assert sorted(map(sorted, sides)) == [[], ["a", "b"]]


def test_bad_split_is_one_clear_error():
    with pytest.raises(PolyeditError, match="split 'train': expected one of dev, test, all"):
        load_dataset("world:small:split=train")
