"""Method state lives in one typed place per model (`LoadedModel.method_state`, models/state.py): GRACE's
codebooks, WISE's side memories, UltraEdit's statistics, AlphaEdit's key memory and projectors, and the memos
of prefixes and C. Nothing of it sits under a string key of `lm.meta`, nothing is shared with another model,
and restoring the edits empties what the edits added."""

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.alphaedit.alphaedit_main import Projectors
from polyedit.methods.grace.grace_main import GraceAdaptors
from polyedit.methods.locate_then_edit.null_space import KeyMemory
from polyedit.methods.ultraedit.statistics import LifelongStatistics
from polyedit.methods.wise.wise_main import WiseRouters
from helpers.weights import state_hash

EDIT = Edit("en", "Paris", "The capital of France is Paris and", "Berlin")
FAST = {"grace": {"steps": 2}, "wise": {"steps": 2, "out_of_scope": 0}, "ultraedit": {},
        "alphaedit": {"stats_corpus": "identity", "prefixes": 0, "v_steps": 2, "nullspace_fraction": 0.5}}


def test_each_methods_state_is_its_models_own_and_restore_empties_it(tiny_model_dirs):
    from polyedit.models import load_model

    lm, other = (load_model(str(tiny_model_dirs["llama"])) for _ in range(2))
    before, meta_before = state_hash(lm.model), set(lm.meta)
    handles = [get_method(name, hp).apply(lm, [EDIT]) for name, hp in FAST.items()]
    state = lm.method_state
    assert len(state.of(GraceAdaptors).active()) == 1 and len(state.of(WiseRouters).active()) == 1
    assert len(state.of(LifelongStatistics)) == 1 and state.of(KeyMemory).log and state.of(Projectors)
    assert set(lm.meta) == meta_before  # memos of the unedited weights too live in method_state
    assert not other.method_state.of(GraceAdaptors).active() and not other.method_state.of(LifelongStatistics)
    for h in reversed(handles):
        h.restore()
    assert state_hash(lm.model) == before
    assert not state.of(GraceAdaptors).active() and not state.of(WiseRouters).active()
    assert not state.of(LifelongStatistics) and not state.of(KeyMemory).log
