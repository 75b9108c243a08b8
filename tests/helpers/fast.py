"""One table of the settings that make an edit cheap enough for a test on a tiny model, one row per method;
a test that needs more (or fewer) steps says so where it asks: `fast("ft-l", steps=2)`."""

from __future__ import annotations

from polyedit.models.openai_backend_http import RetryPolicy

#: ROME's family without real statistics (C = I), with two short prefixes and eight steps for v*
RANK_ONE = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 8, "v_lr": 0.5,
            "clamp_norm_factor": 50.0, "v_weight_decay": 0.0}

FAST: dict[str, dict] = {
    "ft-l": {"lr": 5e-2, "steps": 4, "norm_constraint": None},
    "ft-m": {"lr": 5e-2, "steps": 8},
    "lora": {"lr": 5e-2, "steps": 8, "rank": 4},
    "grace": {"steps": 8, "lr": 0.5},
    "rome": RANK_ONE,
    "memit": {**RANK_ONE, "mom2_update_weight": 1.0},
    "emmet": {**RANK_ONE, "mom2_update_weight": 1.0},
    # C = I: every eigenvalue 1 is below the threshold 2, so P = I (the projection is tested in
    # test_null_space_editors.py); a small α so that the update writes most of its residual
    "alphaedit": {**RANK_ONE, "nullspace_threshold": 2.0, "l2": 0.01},
    "langedit": {**RANK_ONE, "nullspace_threshold": 2.0, "l2": 0.01},
    "kn": {"ig_steps": 4},
    "memla": {"ig_steps": 4, "max_steps": 3, "lr": 0.05},
}

#: the fewest steps of every method, every other setting its default (the architecture matrix keeps a
#: method's own statistics and prefixes); a method takes the fields it has
FEWEST_STEPS = {"prefixes": 0, "v_steps": 2, "steps": 2, "max_steps": 2, "ig_steps": 2,
                "nullspace_fraction": 0.5}  # C = I without a stats corpus: half of it as the null space

#: FT-M and LoRA settings that move world:small's facts in a few steps (the sweep grid's and the report's runs)
WORLD_FT_M = {"lr": 0.02, "steps": 10}
WORLD_LORA = {"lr": 0.01, "steps": 10}

#: a remote backend's retries without the waiting
FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


def fast(method: str, **changes) -> dict:
    """The method's row of FAST with a test's own `changes`."""
    return {**FAST[method], **changes}
