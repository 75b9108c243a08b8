import json

import pytest

from polyedit.data.cases import Edit, EditCase, Probe, make_case
from polyedit.data.languages import all_languages, get_language, join_target, normalize_code
from polyedit.errors import PolyeditError

BMIKE = "af ar az be bg bn ca ceb cs cy da de el en es et eu fa fi fr ga gl he hi hr hu hy id it ja ka ko la lt lv ms nl pl pt ro ru sk sl sq sr sv ta th tr uk ur vi zh".split()


def test_table_covers_bmike53_and_mkeb():
    codes = {lang.code for lang in all_languages()}
    assert set(BMIKE) <= codes
    assert {"en", "zh", "fr", "de", "it", "es", "pt", "pl", "ru", "ja", "ko", "th"} <= codes
    for lang in all_languages():
        assert lang.name and lang.script and lang.family and lang.resource in {"high", "medium", "low"}


def test_aliases_and_unknown_codes():
    assert normalize_code("zh-CN") == "zh" and normalize_code("zh_cn") == "zh"
    with pytest.raises(PolyeditError, match="unknown language code 'xx'"):
        normalize_code("xx")


def test_join_target_spaces_are_language_data():
    assert join_target("Paris is the capital of", "France", "en") == ("Paris is the capital of", " France")
    assert join_target("巴黎是", "法国", "zh") == ("巴黎是", "法国")
    assert join_target("Answer: \"", "Paris", "fr") == ("Answer: \"", "Paris")
    assert get_language("th").spaces is False and get_language("ko").spaces is True


def test_edit_validation_errors_name_the_problem():
    # a prompt without its subject is allowed (translated benchmarks) and flagged
    assert not Edit("en", "Ana Lind", "Bob was born in", "Oslo").subject_in_prompt
    assert Edit("en", "Ana Lind", "ANA LIND was born in", "Oslo").subject_in_prompt
    with pytest.raises(PolyeditError, match="target_new must be a non-empty string"):
        Edit("en", "Ana", "Ana was born in", "  ")
    with pytest.raises(PolyeditError, match="unknown probe kind"):
        Probe("fluency", "en", "x", "y")


def test_case_roundtrip_and_restrict():
    case = make_case("c1", "en", "Ana", "Ana was born in", "Oslo", "Lima",
                     [Probe("generality", "de", "Ana wurde geboren in", "Oslo", "Lima"),
                      Probe("locality", "zh", "鲍勃出生于", "利马")])
    again = EditCase.from_dict(json.loads(json.dumps(case.to_dict())))
    assert again.to_dict() == case.to_dict()
    assert case.languages == ["en", "de", "zh"]
    assert [p.lang for p in case.restrict(["zh"]).probes] == ["zh"]
    with pytest.raises(PolyeditError, match="edit is missing field 'lang'"):
        EditCase.from_dict({"edit": {"subject": "a"}})
