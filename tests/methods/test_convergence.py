"""Every weight editor records whether its own objective reached its target, per edit: `info["edits"]` holds
one {loss, steps, target, converged} per edit, the same shape for one edit or several."""

import pytest

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.convergence import outcome

from helpers.fast import fast

EN = Edit("en", "Paris", "The capital of France is Paris and", "Berlin")
ZH = Edit("zh", "巴黎", "巴黎是法国的", "首都")
FEW = {"prefixes": 0, "v_steps": 3}  # v* needs only to record its loss and steps here
FAST = {
    "ft-l": fast("ft-l", steps=2), "ft-m": fast("ft-m", steps=2), "lora": fast("lora", steps=2),
    "grace": fast("grace", steps=2), "rome": fast("rome", **FEW, layer=1),
    **{m: fast(m, **FEW, layers=[0, 1]) for m in ("memit", "emmet", "alphaedit", "langedit")},
    "memla": fast("memla"),
}


@pytest.fixture(scope="module")
def lm(tiny_model_dirs):
    from polyedit.models import load_model

    return load_model(str(tiny_model_dirs["llama"]))


@pytest.mark.parametrize("method", sorted(FAST))
def test_each_edit_records_its_loss_steps_and_whether_it_converged(method, lm):
    for edits in ([EN], [EN, ZH]):
        handle = get_method(method, FAST[method]).apply(lm, edits)
        try:
            rows = handle.info["edits"]
            assert len(rows) == len(edits)
            for row in rows:
                assert {"loss", "steps", "target", "converged"} <= set(row)
                assert row["converged"] == (row["loss"] is not None and row["loss"] < row["target"]) or method == "memla"
        finally:
            handle.restore()


def test_a_loss_above_its_target_is_not_converged_and_one_below_is():
    assert outcome(0.7, 40, 0.5) == {"loss": 0.7, "steps": 40, "target": 0.5, "converged": False}
    assert outcome(0.3, 4, 0.5)["converged"]
    assert not outcome(float("nan"), 3, 0.5)["converged"] and outcome(float("nan"), 3, 0.5)["loss"] is None
    assert outcome(0.9, 5, 1e-2, reached=True)["converged"]  # a probability rule reached (MEMLA's)


def test_fine_tuning_scores_each_edit_after_its_last_update(lm):
    """FT-M with no step: nothing reached; with a target no loss misses: converged before any update."""
    none = get_method("ft-m", {"steps": 0}).apply(lm, [EN, ZH])
    assert [r["steps"] for r in none.info["edits"]] == [0, 0] and not any(r["converged"] for r in none.info["edits"])
    none.restore()
    easy = get_method("ft-m", {"steps": 5, "early_stop_loss": 1e6}).apply(lm, [EN])
    assert easy.info["edits"] == [{"loss": easy.info["loss"], "steps": 0, "target": 1e6, "converged": True}]
    easy.restore()
