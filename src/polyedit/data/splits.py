"""Deterministic dev/test splits by subject, for every dataset (`:split=dev|test` in any spec).

A case's side is decided by a hash of its grouping key, never by its position or by what else was
loaded, so the split is the same whatever the `langs`, `limit`, file order or edit language, and no
subject is ever on both sides. The key is `case.meta["subject_key"]` when the loader supplies one (MzsRE
and Bi-ZsRE give the English subject, so one fact edited from different languages stays on one side;
MLaKE the English fact), else the edit's subject, casefolded with its whitespace collapsed. A loader may
assign the side itself (`meta["split"]`), as the knowledge world does for its persons.

`dev` is for tuning hyperparameters (`polyedit tune`), `test` for reporting; `all` (the default) is no
split. About `DEV_SHARE` of the subjects are dev.
"""

from __future__ import annotations

import hashlib

from polyedit.data.cases import EditCase
from polyedit.errors import PolyeditError

SPLITS = ("dev", "test", "all")
DEV_SHARE = 0.5
#: part of the hashed text: changing it reshuffles every split (never change it silently)
SALT = "polyedit-split-v1"


def side_of(case: EditCase) -> str:
    """The case's side: the one its loader assigned (`meta["split"]`: the knowledge world splits its persons
    with its own seed), else the hash of its grouping key."""
    given = case.meta.get("split")
    return given if given in ("dev", "test") else side(subject_key(case))


def subject_key(case: EditCase) -> str:
    """What a case is grouped by: the loader's `subject_key`, else the edit's subject."""
    key = case.meta.get("subject_key")
    if not isinstance(key, str) or not key.strip():
        key = case.edit.subject
    return " ".join(key.split()).casefold()


def side(key: str, dev_share: float = DEV_SHARE) -> str:
    """`dev` or `test` for a grouping key: the first 8 bytes of SHA-256(salt, key) as a fraction of 2^64."""
    digest = hashlib.sha256(f"{SALT}\x00{key}".encode("utf-8")).digest()
    return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < dev_share else "test"


def check_split(split: str | None) -> str:
    """`dev`, `test` or `all` (None is `all`); anything else is one line naming the choices."""
    name = (split or "all").strip().lower()
    if name not in SPLITS:
        raise PolyeditError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    return name


def select(cases: list[EditCase], split: str | None) -> list[EditCase]:
    """The cases of one side (`dev`, `test`), or all of them (`all`, None)."""
    name = check_split(split)
    if name == "all":
        return cases
    return [c for c in cases if side_of(c) == name]
