"""MzsRE and Bi-ZsRE on the published files (../shared/data): every language as the edit language, the
counts and every quirk the folders' READMEs list. Each file is parsed once per session."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers.requires import shared

from polyedit.data import mzsre
from polyedit.data.problems import SUBJECT_MISSING, Report
from polyedit.data.registry import load_dataset

LANGS = list(mzsre.MZSRE_LANGUAGES)


@pytest.fixture(scope="session")
def mzsre_dir():
    return shared("data/mzsre/data/MzsRE")


@pytest.fixture(scope="session")
def mzsre_joined(mzsre_dir):
    report = Report()
    return mzsre.join_files(mzsre.json_files(mzsre_dir, "mzsre"), None, report), report


@pytest.fixture(scope="session")
def mzsre_by_edit_lang(mzsre_joined):
    """edit language -> (cases, what conversion counted); the files joined once."""
    joiner, _ = mzsre_joined
    out = {}
    for lang in LANGS:
        report = Report()
        out[lang] = mzsre.convert(joiner, "mzsre", lang, None, report, mzsre.errata("mzsre")), report.skipped
    return out


def test_mzsre_join_reads_the_11_pair_files_and_maps_cz_du(mzsre_joined):
    joiner, report = mzsre_joined
    assert len(joiner.items) == 743
    assert all(set(item.blocks) == set(LANGS) for item in joiner.items.values())
    assert report.skipped == Counter({"language codes mapped (cz -> cs)": 1, "language codes mapped (du -> nl)": 1})


@pytest.mark.parametrize("lang", LANGS)
def test_mzsre_every_language_edits_and_every_language_is_probed(mzsre_by_edit_lang, lang):
    cases, skipped = mzsre_by_edit_lang[lang]
    assert len(cases) == 743 and {c.edit.lang for c in cases} == {lang}
    per = Counter((p.lang, p.kind) for c in cases for p in c.probes)
    kinds = ("reliability", "generality", "locality", "portability")
    assert per == Counter({(pl, k): 743 for pl in LANGS for k in kinds})  # 12 x 4 probes, every case
    assert [c.case_id for c in cases] == [f"mzsre-{i}" for i in range(743)]  # one id per fact, every edit language
    assert skipped["en: 'nq question: ' markers removed"] == 743  # only English keeps zsRE's marker
    assert skipped["en: published errors corrected (errata.json)"] == 1
    assert skipped["answers with surrounding whitespace (stripped)"] == 9
    assert all(c.edit.target_new == c.edit.target_new.strip() for c in cases)


def test_mzsre_prompts_lacking_the_subject_are_kept_and_counted(mzsre_by_edit_lang):
    lacking = {lang: sum(not c.edit.subject_in_prompt for c in cases)
               for lang, (cases, _) in mzsre_by_edit_lang.items()}
    # weixuan-wang123/ReMaKE#1: Thai keeps 139 of 743 translated subjects in the translated prompt
    assert lacking["th"] == 604 and lacking["en"] == 0 and lacking["zh"] == 0
    for lang, (_, skipped) in mzsre_by_edit_lang.items():
        assert skipped[f"{lang}: {SUBJECT_MISSING}"] == lacking[lang]
    assert all(lacking[x] > 0 for x in ("cs", "de", "nl", "es", "fr", "pt", "ru", "tr", "vi"))


def test_mzsre_the_garbled_volvo_question_is_corrected(mzsre_by_edit_lang):
    for lang in ("en", "th"):
        volvo = mzsre_by_edit_lang[lang][0][3]
        assert [p.prompt for p in volvo.probes_for("en", "portability")] == [
            "In which city is the headquarters of the company that made the Volvo B12M?"]
    assert volvo.meta["subject_key"] == "volvo b12m"


def test_mzsre_thai_subjects_use_the_fallback_rules(mzsre_by_edit_lang):
    from transformers import AutoTokenizer

    from polyedit.models.load import world_checkpoint
    from polyedit.models.tokens import subject_span

    tok = AutoTokenizer.from_pretrained(str(world_checkpoint("small")))
    cases = mzsre_by_edit_lang["th"][0]
    rules = Counter(subject_span(tok, c.edit.prompt, c.edit.subject).rule for c in cases)
    missing = [c for c in cases if not c.edit.subject_in_prompt]
    fallback = Counter(subject_span(tok, c.edit.prompt, c.edit.subject).rule for c in missing)
    assert set(fallback) <= {"fuzzy", "last_token"} and sum(fallback.values()) == 604
    assert rules["exact"] + rules["casefold"] + rules["fuzzy"] + rules["last_token"] == 743
    volvo = cases[3]  # "บริษัทใดสร้าง Volvo B12M" for "วอลโว่ B12M": the shared " B12M"
    assert subject_span(tok, volvo.edit.prompt, volvo.edit.subject).rule == "fuzzy"


def test_mzsre_spec_edit_lang_and_langs(mzsre_dir):
    ds = load_dataset(f"mzsre:{mzsre_dir}:edit_lang=du:langs=th,ru")  # MzsRE's code accepted
    assert len(ds.cases) == 743 and ds.cases[0].edit.lang == "nl"
    assert {p.lang for c in ds.cases for p in c.probes} == {"th", "ru"}


# --- Bi-ZsRE -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def bizsre_file():
    return shared("data/bi-zsre/eval/data/bizsre_test.json")


@pytest.fixture(scope="session")
def bizsre_both(bizsre_file):
    return {lang: load_dataset(f"bizsre:{bizsre_file}:edit_lang={lang}") for lang in ("en", "zh")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bizsre_both_directions(bizsre_both, lang):
    ds = bizsre_both[lang]
    assert len(ds.cases) == 1037 and {c.edit.lang for c in ds.cases} == {lang}
    per = Counter((p.lang, p.kind) for c in ds.cases for p in c.probes)
    assert per == Counter({(pl, k): 1037 for pl in ("en", "zh")
                           for k in ("reliability", "generality", "locality", "portability")})
    assert ds.skipped["zh: published errors corrected (errata.json)"] == 1
    assert ds.skipped["answers with surrounding whitespace (stripped)"] == 15
    assert ds.skipped["en: 'nq question: ' markers removed"] == 1037
    assert all(c.edit.subject_in_prompt for c in ds.cases)


def test_bizsre_quirks(bizsre_both):
    zh = bizsre_both["zh"]
    # 46 Chinese questions shared by 2-3 records: 55 edits repeat an earlier prompt; all kept
    assert zh.skipped["zh: edit prompts shared by several records (kept)"] == 55
    assert "zh: edit prompts shared by several records (kept)" not in bizsre_both["en"].skipped
    glass = next(c for c in bizsre_both["en"].cases if c.edit.prompt == "What is year of inception of Glass Candy?")
    assert [p.prompt for p in glass.probes_for("zh", "locality")] == ["函数的极限何时不存在"]
    assert bizsre_both["en"].cases[26].edit.target_new == "MAT-49"  # " MAT-49" in the file


def test_mzsre_is_a_subset_of_bizsre(bizsre_both, mzsre_by_edit_lang):
    bi = {c.edit.prompt: c for c in bizsre_both["en"].cases}
    mz = mzsre_by_edit_lang["en"][0]
    assert sum(c.edit.prompt in bi for c in mz) == 743
    # after the corrections, the shared facts' probes agree in both languages
    same = sum({(p.lang, p.kind, p.prompt, p.answer) for p in c.probes if p.lang in ("en", "zh")}
               == {(p.lang, p.kind, p.prompt, p.answer) for p in bi[c.edit.prompt].probes} for c in mz)
    assert same == 743


def test_data_stats_cli_reports_the_counts(mzsre_dir, bizsre_file, capsys):
    from polyedit.cli.main import main

    assert main(["data", "stats", f"mzsre:{mzsre_dir}:edit_lang=th"]) == 0
    out = capsys.readouterr().out
    assert "cases: 743\n" in out and "probe languages: 12: cs de en es fr nl pt ru th tr vi zh" in out
    assert "edits whose prompt lacks its subject: 604" in out and "split by subject: 743 subjects" in out
    assert main(["data", "stats", f"bizsre:{bizsre_file}:edit_lang=zh:split=test"]) == 0
    out = capsys.readouterr().out
    assert "edit languages: zh (" in out and "dev 0 cases" in out  # the test side only


def test_bizsre_subjects_are_mzsre_subjects_and_split_alike(bizsre_both, mzsre_by_edit_lang):
    from polyedit.data.splits import side, subject_key

    bi, mz = bizsre_both["en"].cases, mzsre_by_edit_lang["en"][0]
    # 1,037 facts about 743 subjects: MzsRE kept one fact per subject
    assert len({subject_key(c) for c in bi}) == 743 == len({subject_key(c) for c in mz})
    # the key is the subject, so a fact of Bi-ZsRE and MzsRE's fact about the same subject share a side
    dev_bi = {subject_key(c) for c in bi if side(subject_key(c)) == "dev"}
    dev_mz = {subject_key(c) for c in mz if side(subject_key(c)) == "dev"}
    assert dev_bi == dev_mz and len(dev_mz) == 362
