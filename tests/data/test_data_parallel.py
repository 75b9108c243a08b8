"""One file per language, joined (`parallel:`): built here from MzsRE's real en-de file, the pair loads as
one case set in both edit directions, equal to the MzsRE loader's cases for the same records; files that
disagree are refused with one line naming the first difference."""

import json

import pytest
from helpers.requires import shared

from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

# records 4..203 of the en-de file: past the one the MzsRE loader corrects from its errata (record 3) and
# short of the first whose German subject it leaves unrecovered (209), so the two loaders must agree exactly
SLICE = slice(4, 204)


@pytest.fixture
def pair(tmp_path):
    records = json.loads((shared("data/mzsre/data/MzsRE") / "mzsre_test_duplicate_ende.json").read_text("utf-8"))
    records = records[SLICE]
    (tmp_path / "mzsre_test_duplicate_ende.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    for lang in ("en", "de"):
        (tmp_path / f"{lang}.json").write_text(json.dumps([r[lang] for r in records], ensure_ascii=False), "utf-8")
    return tmp_path


def _probe_keys(case):
    return sorted((p.kind, p.lang, p.prompt, p.answer, p.answer_true, p.subject, p.aliases) for p in case.probes)


@pytest.mark.parametrize("edit_lang", ["en", "de"])
def test_parallel_pair_equals_mzsre(pair, edit_lang):
    joined = load_dataset(f"parallel:easyedit-zsre:en={pair / 'en.json'}:de={pair / 'de.json'}:edit_lang={edit_lang}")
    mzsre = load_dataset(f"mzsre:{pair / 'mzsre_test_duplicate_ende.json'}:edit_lang={edit_lang}")
    assert len(joined.cases) == len(mzsre.cases) == 200
    for ours, theirs in zip(joined.cases, mzsre.cases):
        assert ours.edit == theirs.edit
        assert _probe_keys(ours) == _probe_keys(theirs)
    assert {p.lang for c in joined.cases for p in c.probes} == {"en", "de"}
    assert joined.languages == {"en (option lang=)": 200, "de (option lang=)": 200}


def test_parallel_langs_reads_only_the_asked_files(pair):
    (pair / "fr.json").write_text("not json")  # never read: langs= leaves French out
    ds = load_dataset(f"parallel:easyedit-zsre:en={pair / 'en.json'}:de={pair / 'de.json'}:fr={pair / 'fr.json'}"
                      f":edit_lang=de:langs=de")
    assert {p.lang for c in ds.cases for p in c.probes} == {"de"}


def test_parallel_mismatch_is_one_line(pair):
    de = json.loads((pair / "de.json").read_text("utf-8"))
    (pair / "de.json").write_text(json.dumps(de[:-1]))
    with pytest.raises(PolyeditError, match=r"en.json has 200 records, .*de.json has 199; record 199 of .*en.json"):
        load_dataset(f"parallel:easyedit-zsre:en={pair / 'en.json'}:de={pair / 'de.json'}")
    en = json.loads((pair / "en.json").read_text("utf-8"))
    (pair / "en.json").write_text(json.dumps([{**r, "id": f"q{i}"} for i, r in enumerate(en)]))
    (pair / "de.json").write_text(json.dumps([{**r, "id": f"q{i}"} for i, r in reversed(list(enumerate(de[:-1])))]))
    with pytest.raises(PolyeditError, match=r"id 'q199' of .*en.json \(record 199\) is not in .*de.json$"):
        load_dataset(f"parallel:easyedit-zsre:en={pair / 'en.json'}:de={pair / 'de.json'}:by=id")


def test_parallel_by_id_joins_reordered_files(pair):
    en, de = (json.loads((pair / f"{x}.json").read_text("utf-8")) for x in ("en", "de"))
    (pair / "en.json").write_text(json.dumps([{**r, "id": f"q{i}"} for i, r in enumerate(en)]))
    (pair / "de.json").write_text(json.dumps([{**r, "id": f"q{i}"} for i, r in reversed(list(enumerate(de)))]))
    ds = load_dataset(f"parallel:easyedit-zsre:en={pair / 'en.json'}:de={pair / 'de.json'}:by=id")
    first = ds.cases[0]
    assert first.meta["source_id"] == "q0" and first.probes_for("de", "reliability")[0].prompt == de[0]["src"]
