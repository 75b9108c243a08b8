"""On the knowledge-world model: each weight editor but MEMLA moves reliability from failing to passing for most
cases, with the hyperparameters tuned on this model (FT-M, LoRA and KN: their defaults; FT-L, ROME and MEMIT:
the checkpoint's `editing.yaml`), without a leading-space assumption; MEMLA at the reference's commit scale
0.5 moves almost none (the README says so). Skipped until the world model is built (POLYEDIT_WORLD_MODEL
points the tests at another world checkpoint folder)."""

import os

import pytest

from polyedit.methods import get_method

from helpers.weights import passes

N_CASES = 5
MODEL = os.environ.get("POLYEDIT_WORLD_MODEL", "world:small")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    if MODEL.startswith("world:"):
        world_checkpoint(MODEL.removeprefix("world:"))  # committed: missing is a skip, a failure under CI
    lm = load_model(MODEL)
    saved = os.environ.get("POLYEDIT_STATS_DIR")
    os.environ["POLYEDIT_STATS_DIR"] = str(tmp_path_factory.mktemp("stats"))  # C is computed here, not in ~/.cache
    yield lm, load_dataset(f"world:{MODEL.removeprefix('world:')}").cases[:N_CASES]
    if saved is None:
        os.environ.pop("POLYEDIT_STATS_DIR")
    else:
        os.environ["POLYEDIT_STATS_DIR"] = saved


def tuned(method: str, lm):
    return get_method(method, None, lm)  # with the checkpoint's editing.yaml


def moved_to_passing(lm, cases, m) -> tuple[int, int]:
    """(edits moved from failing to passing, edits failing before), each case edited alone and restored."""
    from helpers.weights import state_hash

    before = state_hash(lm.model)
    moved, tried = 0, 0
    for case in cases:
        edit = case.edit
        if passes(lm, edit, edit.target_new):
            continue
        tried += 1
        handle = m.apply_cases(lm, [case])
        moved += passes(lm, edit, edit.target_new)
        handle.restore()
    assert state_hash(lm.model) == before
    return moved, tried


@pytest.mark.parametrize("method", ["ft-l", "ft-m", "lora", "rome", "memit", "kn"])
def test_reliability_moves_from_failing_to_passing(world, method):
    lm, cases = world
    moved, tried = moved_to_passing(lm, cases, tuned(method, lm))
    assert tried >= N_CASES // 2
    assert moved >= 0.8 * tried, f"{method}: {moved}/{tried}"


@pytest.mark.slow  # two MEMLA runs per case: about 10 s on a quiet core
def test_memla_at_the_reference_commit_scale_moves_almost_nothing(world):
    """The README's MEMLA section: at commit scale 0.5 (the reference's) almost no English edit passes; committing
    the whole trained update (scale 1) moves more of them."""
    lm, cases = world
    half, tried = moved_to_passing(lm, cases, tuned("memla", lm))
    whole, _ = moved_to_passing(lm, cases, get_method("memla", {"commit_scale": 1.0}, lm))
    assert tried >= N_CASES // 2
    assert half <= 1 and whole > half, f"scale 0.5: {half}/{tried}, scale 1: {whole}/{tried}"


def test_world_models_default_to_their_own_corpus(world):
    from polyedit.methods.locate_then_edit.second_moment import corpus_texts, resolve_corpus

    lm, cases = world
    assert resolve_corpus(lm, None) == "world"
    docs = [d for _, d in zip(range(200), corpus_texts("world", lm))]
    assert len(docs) == 200 and len({d.split()[0] for d in docs}) > 5  # shuffled: many subjects, not one


@pytest.mark.parametrize("method", ["alphaedit", "langedit", "emmet"])
def test_null_space_and_equality_editors_move_reliability_with_the_recommended_settings(world, method):
    """The settings world/editing.yaml recommends for these editors (the committed checkpoints predate them, so
    they are read from the package's file, as the next `world build` copies them)."""
    from importlib import resources

    import yaml

    lm, cases = world
    size = MODEL.removeprefix("world:") if MODEL.startswith("world:") else "small"
    recommended = yaml.safe_load(resources.files("polyedit.world").joinpath("editing.yaml").read_text("utf-8"))
    moved, tried = moved_to_passing(lm, cases, get_method(method, recommended[size][method], lm))
    assert tried >= N_CASES // 2
    assert moved >= 0.8 * tried, f"{method}: {moved}/{tried}"
