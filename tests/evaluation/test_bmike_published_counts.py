"""BMIKE-53's ppl_compare counts what the authors' scorer counts, on the real published files.

The authors (ercong21/MultiKnow icl.py) compare every reliability and generality answer with `loc_ans`:
in WikiFactDiff's 52 target-language files 1,609 records have `loc_ans` equal to `alt` (a tie, which
fails) and 260 an empty `loc_ans` (the whole sequence competes). polyedit once dropped both.
"""

from __future__ import annotations

import pytest
from helpers.requires import shared

from polyedit.data.cases import GENERALITY, RELIABILITY
from polyedit.data.registry import load_dataset
from polyedit.evaluation.protocols import ProbeContext, get_protocol

@pytest.fixture(scope="module")
def wikifactdiff():
    return load_dataset(f"bmike53:wikifactdiff:dir={shared('data/bmike53', 'WikiFactDiff')}")


@pytest.mark.slow  # reads all 53 WikiFactDiff files (~40k records)
def test_ties_and_empty_loc_ans_are_counted(wikifactdiff):
    proto = get_protocol("ppl_compare")
    ties = empty = scored = probes = 0
    for case in wikifactdiff.cases:
        ctx = ProbeContext(str.split, case=case, bos=True)
        for p in case.probes:
            if p.kind not in (RELIABILITY, GENERALITY) or p.lang == "en":
                continue
            probes += 1
            needs = proto.needs(p, p.prompt, ctx)
            scored += needs is not None
            if p.kind == RELIABILITY:
                loc = case.meta["loc_ans"][p.lang]
                ties += loc == p.answer
                empty += loc == ""
                if loc == "":
                    assert needs.score[1] == ("", p.prompt.rstrip())  # the whole sequence competes
                elif loc == p.answer:
                    assert needs.score[0] == needs.score[1]  # a tie: fails, as in the authors' scorer
    assert (ties, empty) == (1609, 260)
    assert scored == probes  # no probe dropped
