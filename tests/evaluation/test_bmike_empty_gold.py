"""BMIKE-53's locality probes with an empty `loc_ans`, on the real WikiFactDiff files: kept and scored as the
authors' scorer scores them (ercong21/MultiKnow icl.py scores every record of a language, and its
`obtain_f1_and_em` gives (1, 1) when the answer and the gold both tokenise to nothing, (0, 0) when one
does); protocols that cannot score a probe without a gold answer omit it, and the summary counts it.
"""

from __future__ import annotations

import json

import pytest
from helpers.requires import shared

from polyedit.data.cases import LOCALITY, EditCase
from polyedit.data.registry import load_dataset
from polyedit.evaluation.aggregate import empty_gold
from polyedit.evaluation.engine import evaluate
from polyedit.models.backend import Generation

LANGS = ("af", "de", "en")


@pytest.fixture(scope="module")
def wikifactdiff():
    root = shared("data/bmike53", "WikiFactDiff")
    return root, load_dataset(f"bmike53:wikifactdiff:langs={','.join(LANGS)}:dir={root}")


def authors_f1_em(pred_ids: list[int], gold_ids: list[int], pred: str, gold: str) -> tuple[float, int]:
    """icl.py's `obtain_f1_and_em`, written out from the reference for the comparison."""
    if not pred_ids and not gold_ids:
        return 1.0, 1
    if not pred_ids or not gold_ids:
        return 0.0, 0
    common = sum(min(pred_ids.count(t), gold_ids.count(t)) for t in set(pred_ids))
    return common * common / (len(pred_ids) * len(gold_ids)), int(pred == gold)


def _published(root, lang: str) -> tuple[int, int]:
    """(records the authors score in `lang`, of which with an empty loc_ans), from the file itself."""
    name = "wfd_test.json" if lang == "en" else f"wfd_test_{lang}.json"
    blocks = [r[lang] for r in json.loads((root / "WikiFactDiff" / name).read_text()) if lang in r]
    return len(blocks), sum(b["loc_ans"] == "" for b in blocks)


def test_every_locality_probe_is_kept_as_the_authors_count_them(wikifactdiff):
    root, ds = wikifactdiff
    for lang in LANGS:
        probes = [p for c in ds.cases for p in c.probes_for(lang, LOCALITY)]
        n, empty = _published(root, lang)
        # one English record lost its subject (WikiFactDiff 1761): its case is built from the other files
        assert (len(probes), sum(p.answer == "" for p in probes)) == (n, empty) == (n, 5), lang


class ScriptedBackend:
    """Generates an empty answer (a closing quote at once) for every other prompt, a wrong one otherwise."""

    capabilities = frozenset({"generate"})

    def __init__(self, prompts: list[str]):
        self.reply = {p: '"' if i % 2 == 0 else 'Acme Corp"' for i, p in enumerate(prompts)}

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text.strip()]

    def generate(self, prompts, max_new_tokens, stop=()):
        return [Generation(self.reply[p], []) for p in prompts]

    def score(self, requests):  # a probe without a gold answer asks for no score
        raise AssertionError(f"scored {requests[:1]}")


def test_empty_gold_probes_are_scored_by_the_authors_rule_and_omitted_elsewhere(wikifactdiff):
    _, ds = wikifactdiff
    cases = [EditCase(c.case_id, c.edit, [p for p in c.probes if p.answer == ""], c.meta) for c in ds.cases]
    cases = [c for c in cases if c.probes]
    backend = ScriptedBackend([p.prompt for c in cases for p in c.probes])
    protocols = ["bmike_em", "bmike_f1", "token_f1", "answer", "answer_locality"]
    ev = evaluate(backend, cases, protocols)
    assert len(ev.results) == 15
    for r in ev.results:
        pred = backend.reply[r.prompt].split('"')[0]
        f1, em = authors_f1_em(backend.tokenize(pred), [], pred, "")
        assert (r.metrics["bmike_f1"], r.metrics["bmike_em"]) == (f1, em)
        assert r.metrics["answer_unchanged"] == 1.0  # before the edit: unchanged by definition, no gold needed
        assert not {"token_f1", "answer_em", "answer_f1"} & set(r.metrics)  # they need a gold answer
    assert sorted(r.metrics["bmike_em"] for r in ev.results) == [0.0] * 7 + [1.0] * 8
    records = [{"probes": [{"kind": r.probe.kind, "answer": r.probe.answer} for r in ev.results]}]
    assert empty_gold(records, ev.protocols) == {
        "probes": 15, "by_kind": {"locality": 15}, "scored_by": ["answer_locality", "bmike_em", "bmike_f1"],
        "omitted_by": ["answer", "token_f1"]}
    assert empty_gold([{"probes": [{"kind": "locality", "answer": "Goethe"}]}], ev.protocols) is None
