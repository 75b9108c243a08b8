"""Every registered method, driven from one table keyed by the registry (`method_cases.py`), on world:small:
it moves the edited fact's target, its undo leaves the weights and every score bit-identical, and its
record (`info`) has one shape whatever the number of edits (per-edit fields in per-edit lists)."""

from __future__ import annotations

import pytest
from method_cases import METHOD_CASES, WEIGHTS
from helpers.weights import state_hash

from polyedit.methods import get_method, method_names


def test_every_registered_method_has_a_row():
    assert sorted(method_names()) == sorted(METHOD_CASES), "a registered method needs a row in method_cases.py"


@pytest.fixture(scope="module")
def world():
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend

    world_checkpoint("small")
    lm = load_model("world:small")
    cases = [c.restrict(["en", "de", "zh"]) for c in load_dataset("world:small").cases[:2]]
    return lm, HFBackend(lm), cases


def _scores(backend, cases, handle=None) -> list[tuple]:
    """(mean log-probability of the answer, teacher-forced argmax) of every probe, through `handle`."""
    from polyedit.evaluation.engine import evaluate

    ev = evaluate(backend, cases, ["token_accuracy"], handle)
    return [(r.answer_score.mean_logprob, tuple(r.answer_score.argmax_ids)) for r in ev.results]


def _shape(info: dict, per_edit: tuple[str, ...]) -> dict:
    """Each field's type; a per-edit field's length and its entries' keys."""
    return {k: (len(v), [sorted(e) if isinstance(e, dict) else type(e).__name__ for e in v]) if k in per_edit
            else type(v).__name__ for k, v in info.items()}


@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_method_moves_the_target_restores_and_keeps_one_record_shape(world, method):
    lm, backend, cases = world
    hp, where, per_edit = METHOD_CASES[method]
    m = get_method(method, hp, lm)
    h0, before = state_hash(lm.model), _scores(backend, cases[:1])
    handle = m.apply_cases(lm, cases[:1])
    try:
        assert (state_hash(lm.model) != h0) == (where == WEIGHTS)  # only weight editors write weights
        after = _scores(backend, cases[:1], handle)
        reliability = cases[0].probes.index(next(p for p in cases[0].probes if p.kind == "reliability"))
        assert after[reliability][0] > before[reliability][0], f"{method} did not move the target"
    finally:
        handle.restore()
    assert state_hash(lm.model) == h0 and _scores(backend, cases[:1]) == before  # bit-identical undo
    one = _shape(handle.info, per_edit)
    two = m.apply_cases(lm, cases)  # two edits through one handle (applied one after another where needed)
    two.restore()
    shape = _shape(two.info, per_edit)
    assert set(per_edit) <= set(one), f"{method}: no per-edit field {set(per_edit) - set(one)}"
    assert {k: v for k, v in shape.items() if k not in per_edit} == {
        k: v for k, v in one.items() if k not in per_edit}, method
    for k in per_edit:  # one entry per edit, each of the same shape
        assert one[k][0] == 1 and shape[k][0] == 2 and shape[k][1][0] == one[k][1][0], (method, k)
    assert state_hash(lm.model) == h0
