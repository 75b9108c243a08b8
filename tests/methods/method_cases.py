"""The method-case table: one row per registered method (`test_method_cases.py` fails for a method without
one), with the hyperparameters that make it quick on world:small and what kind of edit it makes."""

from __future__ import annotations

WEIGHTS, SIDE_MEMORY, IN_CONTEXT = "weights", "side memory", "in context"

_IDENTITY = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 10}
#: C = I: every eigenvalue 1 is below the threshold, so the projection keeps every direction
_NULL_SPACE = {**_IDENTITY, "nullspace_threshold": 2.0}
_MEMLA = {"max_steps": 4}

_EDITS = ("edits",)
_MEMLA_LISTS = ("neurons", "training", "editor")

#: method -> (hyperparameters over the model's editing.yaml and the class defaults, where the edit goes,
#: the fields of its `info` that hold one entry per edit; every other field has one type however many edits)
METHOD_CASES: dict[str, tuple[dict, str, tuple[str, ...]]] = {
    "ft-l": ({"steps": 5}, WEIGHTS, ()),  # the fine-tuners fit every edit of a call together: shared fields
    "ft-m": ({"steps": 5}, WEIGHTS, ()),
    "lora": ({"steps": 5}, WEIGHTS, ()),
    "rome": (_IDENTITY, WEIGHTS, _EDITS),
    "memit": (_IDENTITY, WEIGHTS, _EDITS),
    "memit-sum": (_IDENTITY, WEIGHTS, _EDITS),
    "emmet": (_IDENTITY, WEIGHTS, _EDITS),
    "alphaedit": (_NULL_SPACE, WEIGHTS, _EDITS),
    "langedit": (_NULL_SPACE, WEIGHTS, _EDITS),
    "kn": ({}, WEIGHTS, ("neurons", "prompts")),
    "memla": (_MEMLA, WEIGHTS, _MEMLA_LISTS),
    "memla-independent": (_MEMLA, WEIGHTS, _MEMLA_LISTS),
    "memla-specific": (_MEMLA, WEIGHTS, _MEMLA_LISTS),
    "memla-random": (_MEMLA, WEIGHTS, _MEMLA_LISTS),
    "memla-lora": (_MEMLA, WEIGHTS, _MEMLA_LISTS),
    "grace": ({"steps": 10}, SIDE_MEMORY, _EDITS),
    "ultraedit": ({}, WEIGHTS, _EDITS),
    "wise": ({"steps": 10}, SIDE_MEMORY, _EDITS),
    "ike": ({}, IN_CONTEXT, ()),
    "remake": ({}, IN_CONTEXT, ()),
}
