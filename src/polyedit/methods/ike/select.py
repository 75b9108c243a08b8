"""Which demonstrations each setting puts before a query, and in what order.

- `zero_shot`: none. `one_shot`: one fixed demonstration (the authors draw index `randint(0, 7)` after
  `random.seed(42)`, which is id 2).
- `mixed_8`: the first eight of the pool (1 copy, 3 update, 2 retain, 2 portability), in reverse order.
- `metric_specific_8`: eight demonstrations of the probe's kind (ids in `METRIC_SPECIFIC_IDS`), in order.
- `mike_manual_8`: the first two of each role, shuffled (the earlier MIKE code).
- `mike_search` / `ike_32`: the nearest training edits, each given a role from a shuffled
  copy:update:retain = 4:12:16 list (Zheng et al. 2023's ratio), nearest last; MIKE-search takes 8 and adds
  the pool's first two portability demonstrations after them (in reverse order, as its code does), IKE
  takes all 32.
"""

from __future__ import annotations

import random

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY
from polyedit.methods.ike.demos import COPY, RETAIN, ROLES, UPDATE, Demo

SETTINGS = ("zero_shot", "one_shot", "mixed_8", "metric_specific_8", "mike_manual_8", "mike_search", "ike_32")
RETRIEVAL_SETTINGS = {"mike_search": 8, "ike_32": 32}

_REL_GEN = (1, 2, 9, 10, 17, 18, 25, 26)
METRIC_SPECIFIC_IDS = {
    RELIABILITY: _REL_GEN,
    GENERALITY: _REL_GEN,
    LOCALITY: (5, 6, 13, 14, 21, 22, 29, 30),
    PORTABILITY: (7, 8, 15, 16, 23, 24, 31, 32),
}
#: the original IKE's demonstration roles: 4 copy, 12 update, 16 retain of 32
IKE_ROLE_COUNTS = {COPY: 4, UPDATE: 12, RETAIN: 16}
AUTHORS_ONE_SHOT_ID = random.Random(42).randint(0, 7) + 1
MIKE_PORTABILITY_DEMOS = 2


def manual_demos(setting: str, pool: list[Demo], kind: str, seed: int = 0, one_shot_id: int = AUTHORS_ONE_SHOT_ID
                 ) -> list[Demo]:
    """The demonstrations of a pool-based setting for a probe of `kind` (retrieval settings: see `roles`)."""
    by_id = {i + 1: d for i, d in enumerate(pool)}
    if setting == "zero_shot" or setting in RETRIEVAL_SETTINGS:
        return []
    if setting == "one_shot":
        return [by_id[one_shot_id]]
    if setting == "mixed_8":
        return [by_id[i] for i in range(8, 0, -1)]
    if setting == "metric_specific_8":
        return [by_id[i] for i in METRIC_SPECIFIC_IDS[kind]]
    if setting == "mike_manual_8":
        chosen = [d for role in ROLES for d in [x for x in pool if x.role == role][:2]]
        random.Random(seed).shuffle(chosen)
        return chosen
    raise ValueError(setting)


def portability_tail(pool: list[Demo]) -> list[Demo]:
    """MIKE-search's two portability demonstrations after the retrieved ones (reversed, as its code)."""
    return [d for d in pool if d.role == PORTABILITY][:MIKE_PORTABILITY_DEMOS][::-1]


def roles(n: int, seed: int, key: str) -> list[str]:
    """Roles for the `n` nearest edits of one query: the 4:12:16 list shuffled by (seed, query), first n."""
    bag = [r for r, c in IKE_ROLE_COUNTS.items() for _ in range(c)]
    random.Random(f"{seed}:{key}").shuffle(bag)
    return bag[:n]
