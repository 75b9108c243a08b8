"""BMIKE-53: known answers on small fixture files, the published defects, the hub path against a local
mirror, and integration on the real files (a few languages, to keep the suite fast)."""

import builtins
import io
import json
import pickle
import shutil
from collections import Counter
from pathlib import Path

import pytest

from polyedit.data.bmike53 import check_file, recover_subject, task_files, task_of
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError


def load(fixtures: Path, spec: str):
    return load_dataset(f"{spec}:dir={fixtures / 'bmike53'}")


def probes(case, lang, kind):
    return [(p.prompt, p.answer, p.answer_true) for p in case.probes_for(lang, kind)]


def test_known_answers_english_edit_target_language_probes(fixtures):
    ds = load(fixtures, "bmike53:zsre:langs=de")
    assert [c.case_id for c in ds.cases] == ["bmike53-zsre-0", "bmike53-zsre-1", "bmike53-zsre-2"]
    case = ds.cases[0]
    assert (case.edit.lang, case.edit.subject, case.edit.prompt, case.edit.target_new, case.edit.target_true) == (
        "en", "Danube", "Which sea does the Danube flow into?", "Baltic Sea", None)
    assert probes(case, "de", "reliability") == [("In welches Meer fließt die Donau?", "Ostsee", None)]
    assert probes(case, "de", "generality") == [("In welches Meer mündet die Donau?", "Ostsee", None)]
    assert probes(case, "de", "locality") == [("Wer schrieb Faust?", "Goethe", None)]
    assert probes(case, "de", "portability") == [
        ("Welche Länder grenzen an das Meer, in das die Donau fließt?", "Schweden", None)]
    assert {p.lang for p in case.probes} == {"de", "en"}  # the edit language is always probed, and said so
    assert ds.notes == ["langs=de leaves out the edit language en: probed as well, so that each edit's success "
                        "is measured where it was made"]
    assert next(p for p in case.probes if p.lang == "de").subject == "Donau"
    assert ds.protocols == ["bmike_f1", "bmike_em", "token_f1", "language_fidelity"] and ds.skipped == Counter()
    assert ds.cases[0].meta == {"benchmark": "bmike53", "task": "zsre", "source_case_id": 0, "subject_key": "Danube",
                                "loc_ans": {"de": "Goethe"},  # as published, for ppl_compare
                                "demo_pool": "zsre", "demo_dir": str(fixtures / "bmike53"),
                                "demo_corpus": f"bmike53:zsre:langs={{lang}}:dir={fixtures / 'bmike53'}"}


def test_counterfact_style_old_answer_is_target_true(fixtures):
    ds = load(fixtures, "bmike53:wikifactdiff:langs=af")
    case = ds.cases[0]
    assert case.edit.target_true == "Angers" and case.edit.target_new == "Nice"
    assert probes(case, "af", "reliability")[0][1:] == ("Nice", "Angers")
    assert ds.protocols == ["bmike_f1", "bmike_em", "token_f1", "language_fidelity", "ppl_compare"]


def test_missing_target_block_is_skipped_and_counted(fixtures):
    ds = load(fixtures, "bmike53:zsre:langs=he")
    assert [c.case_id for c in ds.cases] == ["bmike53-zsre-0", "bmike53-zsre-2"]
    assert ds.skipped == Counter({"he: records without the target-language block": 1})
    both = load(fixtures, "bmike53:zsre:langs=he,de")  # the case lives on in the other language
    assert len(both.cases) == 3 and {p.lang for p in both.cases[1].probes} == {"de", "en"}  # en: the edit's


def test_empty_loc_ans_keeps_the_probe_without_a_gold_answer_and_counts_it(fixtures):
    ds = load(fixtures, "bmike53:wikifactdiff:langs=af")
    salem = ds.cases[1]
    [loc] = salem.probes_for("af", "locality")
    assert (loc.prompt, loc.answer) == ("Who founded Acme?", "") and len(salem.probes_for("af")) == 4
    assert "af: locality probes with an empty or missing loc_ans" not in ds.skipped
    assert ds.notes and ds.notes[0].startswith("1 locality probes have an empty loc_ans as published (af 1)")
    assert any("af.loc_ans: empty" in w for w in ds.warnings)


def test_german_pairs_in_test_en_file(fixtures):
    files = task_files(fixtures / "bmike53" / "zsRE", task_of("zsre"))
    assert files.english.name == "zsre_test.json"
    assert files.targets["de"].name == "zsre_test_de.json"  # not the `_en` file, which has one record
    assert "en" not in files.targets
    english = load(fixtures, "bmike53:zsre:langs=en")
    assert {p.lang for c in english.cases for p in c.probes} == {"en"}
    assert len(english.cases) == 3
    german = load(fixtures, "bmike53:zsre:langs=de")
    assert len(german.cases) == 3


def test_test_en_file_stands_in_for_german_only_when_de_is_absent(fixtures, tmp_path):
    shutil.copytree(fixtures / "bmike53", tmp_path / "b")
    (tmp_path / "b" / "zsRE" / "zsre_test_de.json").unlink()
    ds = load_dataset(f"bmike53:zsre:langs=de:dir={tmp_path / 'b'}")
    assert len(ds.cases) == 1 and ds.cases[0].probes_for("de", "reliability")


def test_zh_cn_is_normalised_in_file_names_block_keys_and_specs(fixtures):
    ds = load(fixtures, "bmike53:zsre:langs=zh-cn")
    assert len(ds.cases) == 2
    assert probes(ds.cases[1], "zh", "reliability") == [("肯尼亚山在哪个国家？", "秘鲁", None)]
    assert {p.lang for p in load(fixtures, "bmike53:zsre:langs=zh").cases[0].probes} == {"zh", "en"}


def test_subject_recovered_ignoring_whitespace_or_case_skipped(fixtures):
    assert recover_subject("Mohamed-Ali Cho( La Perla)", "For which team did Mohamed-Ali Cho (La Perla) play?") == \
        "Mohamed-Ali Cho (La Perla)"
    assert recover_subject("danube", "Where does the Danube flow?") == "Danube"
    assert recover_subject("Eric Kenny", "Who directs the Royal Canadian Air Force?") is None
    # wfd_test.json's case 1761 lost its subject: skipped when English is the only source of the edit ...
    only_en = load(fixtures, "bmike53:wikifactdiff:langs=en")
    assert [c.meta["source_case_id"] for c in only_en.cases] == [544, 883]
    assert only_en.skipped["cases whose English src lacks the subject"] == 1
    # ... and edited from the per-language file's good English block otherwise (the difference is counted).
    both = load(fixtures, "bmike53:wikifactdiff:langs=en,af")  # English asked first: still read last
    kenny = both.cases[2]
    assert kenny.edit.prompt == "Which company is Eric Kenny responsible for directing?"
    assert both.skipped["en: English blocks that differ from the per-language files'"] == 1


def test_unknown_field_ignored_and_counted(fixtures):
    ds = load(fixtures, "bmike53:wikifactdiff:langs=af")
    assert ds.skipped["af: unknown fields ignored"] == 1  # `oud` for `old`
    assert probes(ds.cases[2], "af", "reliability")[0][2] is None


def test_duplicate_records_are_reported_not_doubled(fixtures, tmp_path):
    folder = tmp_path / "zsRE"
    folder.mkdir()
    records = json.loads((fixtures / "bmike53" / "zsRE" / "zsre_test_de.json").read_text("utf-8"))
    (folder / "zsre_test_de.json").write_text(json.dumps(records + records[:1]), "utf-8")
    ds = load_dataset(f"bmike53:zsre:langs=de:dir={tmp_path}")
    assert len(ds.cases[0].probes_for("de")) == 4 and ds.skipped == Counter({"de: duplicate records": 1})


def test_default_languages_are_all_targets_and_english(fixtures):
    ds = load(fixtures, "bmike53:zsre")
    assert sorted({p.lang for c in ds.cases for p in c.probes}) == ["de", "en", "he", "zh"]


def test_pickles_beside_the_data_are_never_opened(fixtures, tmp_path, monkeypatch):
    root = tmp_path / "b"
    shutil.copytree(fixtures / "bmike53", root)
    # A real pickle of different records, named like the data and like the authors' train pickles.
    bogus = pickle.dumps([{"en": {"case_id": 99}}])
    for name in ("zsre_test_de.pk", "zsre-train.pk", "zsre_test_fr.pk"):
        (root / "zsRE" / name).write_bytes(bogus)

    def refuse(*a, **k):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    opened = []
    real_open = io.open

    def spy(file, *a, **k):
        opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    ds = load_dataset(f"bmike53:zsre:dir={root}")
    assert len(ds.cases) == 3 and "fr" not in {p.lang for c in ds.cases for p in c.probes}
    assert opened and not [f for f in opened if f.endswith(".pk")]
    assert check_file(root / "zsRE").problems  # the he defect; validate never opens the pickles either
    assert not [f for f in opened if f.endswith(".pk")]


def test_errors_are_one_line_polyedit_errors(fixtures, tmp_path):
    with pytest.raises(PolyeditError, match="unknown task 'nope'"):
        load(fixtures, "bmike53:nope")
    with pytest.raises(PolyeditError, match="no test file for fr"):
        load(fixtures, "bmike53:zsre:langs=fr")
    with pytest.raises(PolyeditError, match="unknown language code 'xx'"):
        load(fixtures, "bmike53:zsre:langs=xx")
    with pytest.raises(PolyeditError, match="not a directory"):
        load_dataset(f"bmike53:zsre:dir={tmp_path / 'missing'}")
    with pytest.raises(PolyeditError, match="no zsRE"):
        load_dataset(f"bmike53:zsre:dir={tmp_path}")
    (tmp_path / "zsRE").mkdir()
    (tmp_path / "zsRE" / "zsre_test_de.json").write_text("{not json", "utf-8")
    with pytest.raises(PolyeditError, match="not JSON"):
        load_dataset(f"bmike53:zsre:langs=de:dir={tmp_path}")


def test_environment_variable_names_the_local_directory(fixtures, monkeypatch):
    monkeypatch.setenv("POLYEDIT_BMIKE53_DIR", str(fixtures / "bmike53"))
    ds = load_dataset("bmike53:zsre:langs=de")
    assert len(ds.cases) == 3 and "POLYEDIT_BMIKE53_DIR" in ds.source


# --- the hub path, offline against a local mirror laid out like the hub's cache ------------------------

def _mirror(fixtures: Path, cache: Path, layout: str = "BMIKE53") -> Path:
    repo = cache / "datasets--nielklug--bmike"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(fixtures / "bmike53", snapshot / layout if layout else snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    return snapshot


@pytest.mark.parametrize("layout", ["", "BMIKE53", "data/BMIKE53"])
def test_hub_snapshot_read_from_cache_without_network(fixtures, tmp_path, monkeypatch, layout):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # any network attempt would fail the test
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("POLYEDIT_HUB_CACHE", str(tmp_path / "cache"))
    snapshot = _mirror(fixtures, tmp_path / "cache", layout)
    ds = load_dataset("bmike53:zsre:langs=de")
    assert len(ds.cases) == 3 and str(snapshot) in ds.source and "hub nielklug/bmike" in ds.source


def test_hub_downloads_once_json_only_then_reads_the_cache(fixtures, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []
    cache = tmp_path / "cache"

    def fake_snapshot_download(repo_id, repo_type, cache_dir, allow_patterns, local_files_only=False):
        calls.append((repo_id, repo_type, cache_dir, tuple(allow_patterns), local_files_only))
        snapshot = cache / "snap"
        if local_files_only:
            if not snapshot.exists():
                raise LocalEntryNotFoundError("not cached")
            return str(snapshot)
        shutil.copytree(fixtures / "bmike53", snapshot)  # "the download"
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setenv("POLYEDIT_HUB_CACHE", str(cache))
    assert len(load_dataset("bmike53:zsre:langs=de").cases) == 3
    assert len(load_dataset("bmike53:zsre:langs=he").cases) == 2
    assert [c[-1] for c in calls] == [True, False, True]  # one download, then the cache
    assert all(c[:2] == ("nielklug/bmike", "dataset") and c[2] == str(cache) for c in calls)
    assert calls[1][3] == ("*.json", "*.md")  # no pickles are ever fetched


def test_hub_unavailable_offline_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("POLYEDIT_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(PolyeditError, match="POLYEDIT_BMIKE53_DIR"):
        load_dataset("bmike53:zsre")


# --- the real files (../shared/data/bmike53): a few languages only -------------------------------------

def test_real_zsre_hebrew_and_chinese(real_bmike53):
    ds = load_dataset(f"bmike53:zsre:langs=he,zh-cn:dir={real_bmike53}")
    assert ds.skipped == Counter({"he: records without the target-language block": 39,
                                  "zh: records without the target-language block": 1})
    he = [c for c in ds.cases if c.probes_for("he")]
    assert len(he) == 743 - 39 and len(ds.cases) == 743
    assert all(len(c.probes_for("he")) == 4 for c in he)
    first = ds.cases[0]
    assert first.edit.prompt == "When was the inception of IAAF Combined Events Challenge?"
    assert first.edit.target_new == "2006" and first.edit.target_true is None
    assert probes(first, "zh", "portability")[0][1] == "田径"


def test_real_wikifactdiff_defects(real_bmike53):
    ds = load_dataset(f"bmike53:wikifactdiff:langs=af,en:dir={real_bmike53}")
    assert len(ds.cases) == 784
    assert ds.skipped == Counter({"af: unknown fields ignored": 1,
                                  "en: English blocks that differ from the per-language files'": 1})
    # the 5 + 5 empty loc_ans: kept without a gold answer, as the authors' scorer keeps them, and said
    empty = [(p.lang, c.meta["source_case_id"]) for c in ds.cases for p in c.probes_for(kind="locality")
             if p.answer == ""]
    assert sorted(x for x, _ in empty) == ["af"] * 5 + ["en"] * 5
    assert ds.notes[0].startswith("10 locality probes have an empty loc_ans as published (af 5, en 5)")
    cho = next(c for c in ds.cases if c.meta["source_case_id"] == 544)
    assert cho.edit.subject == "Mohamed-Ali Cho (La Perla de La Hueria)"
    only_en = load_dataset(f"bmike53:wikifactdiff:langs=en:dir={real_bmike53}")
    assert len(only_en.cases) == 783 and only_en.skipped["cases whose English src lacks the subject"] == 1


def test_real_counterfact_german_from_de_file(real_bmike53):
    ds = load_dataset(f"bmike53:counterfact:langs=de:dir={real_bmike53}")
    assert len(ds.cases) == 1031 and not ds.skipped
    case = ds.cases[0]
    assert (case.edit.subject, case.edit.target_new, case.edit.target_true) == (
        "Spike Hughes", "Philadelphia", "London")
    assert probes(case, "de", "reliability") == [("Woher stammt Spike Hughes?", "Philadelphia", "London")]
    files = task_files(real_bmike53 / "CounterFact", task_of("counterfact"))
    assert len(files.targets) == 52 and files.english.name == "counterfact_test.json"


def test_edit_in_another_language(fixtures):
    ds = load(fixtures, "bmike53:zsre:edit_lang=de")
    danube = ds.cases[0]
    assert (danube.case_id, danube.edit.lang, danube.edit.prompt, danube.edit.target_new) == (
        "bmike53-zsre-0", "de", "In welches Meer fließt die Donau?", "Ostsee")
    assert danube.meta["subject_key"] == "Danube"  # the English subject: one split side whatever the edit language
    assert [p.prompt for p in danube.probes_for("en", "reliability")] == ["Which sea does the Danube flow into?"]
    assert len(danube.probes_for("de", "reliability")) == 1  # the edit itself, once
    assert {p.lang for p in danube.probes} == {"de", "en", "he", "zh"}
    # Hebrew lacks a block for one case: edited in Hebrew, that case does not exist; its other records are counted
    he = load(fixtures, "bmike53:zsre:edit_lang=he")
    assert len(he.cases) == 2 and he.skipped["en: records of cases without the edit language (he)"] == 1


def test_real_files_edit_in_japanese_and_hebrew(real_bmike53):
    ja = load_dataset(f"bmike53:zsre:edit_lang=ja:langs=ja,de,en:dir={real_bmike53}")
    assert len(ja.cases) == 743 and {c.edit.lang for c in ja.cases} == {"ja"}
    assert Counter(p.lang for c in ja.cases for p in c.probes) == Counter({"ja": 2972, "de": 2972, "en": 2972})
    lacking = sum(not c.edit.subject_in_prompt for c in ja.cases)
    assert lacking == 8 == ja.skipped["ja: edits whose prompt lacks the subject (kept; the subject is located by "
                                      "a fallback rule)"]
    he = load_dataset(f"bmike53:zsre:edit_lang=he:langs=he,en:dir={real_bmike53}")
    assert len(he.cases) == 743 - 39 and he.skipped["he: records without the target-language block"] == 39
