"""BMIKE-53's scores on known answers, and language fidelity."""

from __future__ import annotations

import pytest

from polyedit.data.cases import Probe
from polyedit.evaluation.protocols import ProbeContext, get_protocol
from polyedit.evaluation.protocols_bmike import bmike_f1, in_script, language_fidelity
from polyedit.models.backend import Generation


def test_bmike_f1_is_precision_times_recall():
    assert bmike_f1([1, 2, 3], [1, 2, 3]) == 1.0
    assert bmike_f1([1, 2], [1, 2, 3, 4]) == pytest.approx(4 / 8)  # P = 1, R = 1/2
    assert bmike_f1([1, 1, 5], [1, 2]) == pytest.approx(1 / 6)  # multiset overlap 1: 1² / (3·2)
    assert bmike_f1([], []) == 1.0 and bmike_f1([], [1]) == 0.0 and bmike_f1([7], [8]) == 0.0


def _score(name, probe, text, stop=('"',)):
    words = {}
    ctx = ProbeContext(lambda s: [words.setdefault(w, len(words)) for w in s.split()], stop, None)
    proto = get_protocol(name)
    needs = proto.needs(probe, "prompt", ctx)
    if needs is None:
        return None
    assert needs.generate[0][1] == 15  # the authors' 15 new tokens
    return proto.score(probe, [Generation(text, [])], ctx)


def test_em_f1_token_f1_cut_at_the_quote():
    p = Probe("reliability", "en", "Q", "World War I")
    assert _score("bmike_em", p, 'World War I" and more') == {"bmike_em": 1.0}
    assert _score("bmike_em", p, "World War") == {"bmike_em": 0.0}
    assert _score("bmike_f1", p, 'World War"') == {"bmike_f1": pytest.approx(4 / 6)}
    assert _score("token_f1", p, 'World War"') == {"token_f1": pytest.approx(0.8)}


def test_authors_scorer_is_raw_and_the_stripped_variant_is_named():
    # The authors compare the raw text before the first '"' (icl.py: `a == b`); only the named variant
    # strips whitespace and, on a raw prompt, also stops at a newline.
    ctx = ProbeContext(str.split, (), None)
    probe = Probe("reliability", "en", "Q", "Oslo")
    assert get_protocol("bmike_em").needs(probe, "Q", ctx).generate[0][2] == ('"',)
    assert get_protocol("bmike_em_stripped").needs(probe, "Q", ctx).generate[0][2] == ('"', "\n")
    assert _score("bmike_em", probe, ' Oslo"') == {"bmike_em": 0.0}
    assert _score("bmike_em_stripped", probe, ' Oslo\nThe"') == {"bmike_em_stripped": 1.0}
    assert _score("bmike_f1_stripped", probe, ' Oslo"') == {"bmike_f1_stripped": 1.0}
    assert get_protocol("bmike_em").kind == "generated" and "authors" in get_protocol("bmike_em").help


@pytest.mark.parametrize("text,lang,expected", [
    ("Moscow", "ru", 0.0), ("Москва", "ru", 1.0), ("東京", "ja", 1.0), ("とうきょう", "ja", 1.0),
    ("Tokyo", "ja", 0.0), ("北京", "zh", 1.0), ("서울", "ko", 1.0), ("Seoul", "ko", 0.0),
    ("กรุงเทพ", "th", 1.0), ("Αθήνα", "el", 1.0), ("Paris", "de", 1.0), ("Париж", "de", 0.0),
    ("القاهرة", "ar", 1.0), ("मुंबई", "hi", 1.0), ("1974", "ru", None),
])
def test_language_fidelity_known_answers(text, lang, expected):
    assert language_fidelity(text, lang) == expected


def test_fidelity_counts_only_probes_whose_gold_is_in_script():
    assert _score("language_fidelity", Probe("reliability", "ru", "Q", "Москва"), 'Moscow"') == {
        "language_fidelity": 0.0}
    assert _score("language_fidelity", Probe("reliability", "ru", "Q", "Москва"), 'Москва"') == {
        "language_fidelity": 1.0}
    assert _score("language_fidelity", Probe("reliability", "ja", "Q", "CBS"), 'CBS"') is None
    assert in_script("Москва Moscow Х", "Cyrillic") is True  # a majority of letters


def test_ppl_compare_needs_the_case():
    probe = Probe("reliability", "de", 'Answer: "', "2006")
    assert get_protocol("ppl_compare").needs(probe, probe.prompt, ProbeContext(str.split)) is None


def test_ppl_compare_against_the_cases_loc_ans():
    from polyedit.data.cases import make_case
    from polyedit.models.backend import ScoreResult

    case = make_case("c", "en", "Bo", "Bo was born in", "Lima", probes=[
        Probe("reliability", "de", 'Answer: "', "Lima"), Probe("locality", "de", "Q2", "Paris")])
    ctx = ProbeContext(str.split)
    ctx.case = case
    proto = get_protocol("ppl_compare")
    needs = proto.needs(case.probes[1], 'Answer: "', ctx)
    assert needs.score == (('Answer: "', "Lima"), ('Answer: "', "Paris"))  # no space after the quote
    better = ScoreResult([1], [-0.5], [1])
    worse = ScoreResult([2, 3], [-1.0, -2.0], [1, 1])
    assert proto.score(case.probes[1], [better, worse], ctx) == {"ppl_compare": 1.0}
    assert proto.score(case.probes[1], [worse, better], ctx) == {"ppl_compare": 0.0}
    assert proto.needs(case.probes[2], "Q2", ctx) is None  # locality probes are not compared


def test_ppl_compare_counts_ties_and_empty_loc_ans_as_the_authors_do():
    from polyedit.data.cases import make_case
    from polyedit.models.backend import ScoreResult

    case = make_case("c", "en", "Bo", "Bo was born in", "Lima", probes=[
        Probe("reliability", "de", 'Answer: "', "Lima"), Probe("generality", "fr", 'Answer: "', "Lima")])
    case.meta["loc_ans"] = {"de": "Lima", "fr": ""}  # BMIKE's published loc_ans: equal to alt, and empty
    proto = get_protocol("ppl_compare")
    tie = proto.needs(case.probes[1], 'Q Answer: "', ProbeContext(str.split, case=case))
    assert tie.score == (('Q Answer: "', "Lima"), ('Q Answer: "', "Lima"))
    same = ScoreResult([1], [-0.5], [1])
    assert proto.score(case.probes[1], [same, same], ProbeContext(str.split)) == {"ppl_compare": 0.0}
    # empty loc_ans: the whole sequence competes (after the BOS token, or from the second token without one)
    assert proto.needs(case.probes[2], 'Q Answer: "', ProbeContext(str.split, case=case, bos=True)).score[1] == (
        "", 'Q Answer: "')
    assert proto.needs(case.probes[2], 'Q Answer: "', ProbeContext(str.split, case=case)).score[1] == (
        "Q", ' Answer: "')
