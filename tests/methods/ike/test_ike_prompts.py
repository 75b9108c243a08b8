"""Golden prompts: the in-context prompts built for real BMIKE-53 records are byte-identical to BMIKE-53's
format, written here independently of the builder (literal strings, and a ten-line formatter that reads
the raw JSON files itself)."""

from __future__ import annotations

import json
import random

import pytest

from helpers.requires import BMIKE53 as ROOT

pytestmark = pytest.mark.usefixtures("bmike53_root")  # skipped where ../shared is absent, failed under CI

SETTINGS = ["zero_shot", "one_shot", "mixed_8", "metric_specific_8", "mike_manual_8", "mike_search", "ike_32"]


def _dataset(task: str, langs: str):
    from polyedit.data.registry import load_dataset

    return load_dataset(f"bmike53:{task}:langs={langs}:dir={ROOT}")


def _handle(setting: str, case, **extra):
    from polyedit.methods.base import get_method

    m = get_method("ike", {"setting": setting, "pool_dir": str(ROOT), "embedder": "tfidf", **extra})
    return m.apply_cases(None, [case])


# -- an independent formatter, from the text ------------------------------------------------

def expected_demo(row: dict, lang: str) -> str:
    question, mark, answer = row[lang].rpartition("?")  # zsRE's German demonstrations: "question?answer"
    return f'New fact: "{row["new_fact"]}"\nQuestion: "{question}{mark}" Answer: "{answer}"\n\n'


def expected_query(en: dict, question: str) -> str:
    return f'New Fact: "{en["src"]} {en["alt"]}"\nQuestion: "{question}" Answer: "'


def raw(task_dir: str, name: str) -> list:
    return json.loads((ROOT / task_dir / name).read_text("utf-8"))


@pytest.fixture(scope="module")
def zsre_de():
    return _dataset("zsre", "de")


@pytest.fixture(scope="module")
def pool_rows():
    return raw("demonstrations", "zsre_multi.json")


def test_zero_and_one_shot_literal(zsre_de):
    case = zsre_de.cases[0]
    rel = next(p for p in case.probes if p.kind == "reliability" and p.lang == "de")
    zero = _handle("zero_shot", case).transform_prompt(rel)
    assert zero == ('New Fact: "When was the inception of IAAF Combined Events Challenge? 2006"\n'
                    'Question: "Wann wurde die IAAF Combined Events Challenge ins Leben gerufen?" Answer: "')
    one = _handle("one_shot", case).transform_prompt(rel)
    assert one == ('New fact: "Of what did Earl Hooker die? tuberculosis"\n'
                   'Question: "Was war Earl Hooker die Todesursache?" Answer: "Tuberkulose"\n\n' + zero)
    assert random.Random(42).randint(0, 7) + 1 == 2  # the authors' fixed one-shot draw (seed 42)


@pytest.mark.parametrize("index", [0, 1, 7, 100, 742])
def test_mixed_and_metric_specific_match_the_format(zsre_de, pool_rows, index):
    records = {r["en"]["case_id"]: r for r in raw("zsRE", "zsre_test_de.json")}
    case = zsre_de.cases[index]
    rec = records[case.meta["source_case_id"]]
    fields = {"reliability": "src", "generality": "rephrase", "locality": "loc", "portability": "port"}
    mixed = _handle("mixed_8", case)
    specific = _handle("metric_specific_8", case)
    ids = {"reliability": [1, 2, 9, 10, 17, 18, 25, 26], "generality": [1, 2, 9, 10, 17, 18, 25, 26],
           "locality": [5, 6, 13, 14, 21, 22, 29, 30], "portability": [7, 8, 15, 16, 23, 24, 31, 32]}
    for probe in (p for p in case.probes if p.lang == "de"):  # the edit language's (en) are probed too
        query = expected_query(rec["en"], rec["de"][fields[probe.kind]])
        first8 = "".join(expected_demo(pool_rows[i - 1], "de") for i in [8, 7, 6, 5, 4, 3, 2, 1])
        assert mixed.transform_prompt(probe) == first8 + query
        chosen = "".join(expected_demo(pool_rows[i - 1], "de") for i in ids[probe.kind])
        assert specific.transform_prompt(probe) == chosen + query
    assert mixed.stop_strings() == ('"',)


def test_japanese_and_counterfact_query_blocks():
    ja = _dataset("zsre", "ja")
    case = next(c for c in ja.cases if c.meta["source_case_id"] == 5)
    port = next(p for p in case.probes if p.kind == "portability" and p.lang == "ja")
    assert _handle("zero_shot", case).transform_prompt(port) == (
        'New Fact: "What country is Shmavon Shmavonyan from? Yemen"\n'
        'Question: "Shmavon Shmavonyanの母国の首都はどこですか？" Answer: "')
    cf = _dataset("counterfact", "ru")
    rec = raw("CounterFact", "counterfact_test_ru.json")[0]
    case = cf.cases[0]
    rel = next(p for p in case.probes if p.kind == "reliability" and p.lang == "ru")
    assert _handle("zero_shot", case).transform_prompt(rel) == expected_query(rec["en"], rec["ru"]["src"])


def test_every_setting_builds_and_ends_with_the_query(zsre_de):
    case = zsre_de.cases[3]
    for setting in SETTINGS:
        h = _handle(setting, case)
        for probe in case.probes:
            prompt = h.transform_prompt(probe)
            assert prompt.endswith(f'Question: "{probe.prompt}" Answer: "')
            n_demos = prompt.count('New fact: "')
            assert n_demos == {"zero_shot": 0, "one_shot": 1, "mike_search": 10, "ike_32": 32}.get(setting, 8)
            assert prompt.count("New Fact: ") == 1
        if setting in ("mike_search", "ike_32"):
            assert h.info["embedder"] == "tfidf-char-2-4"
