"""One range for every seed polyedit takes: a run's, a sweep's, a search's and a method's.

The narrowest consumer sets it: numpy's legacy generators and optuna's samplers take 32-bit seeds, and a
run seeds torch with its seed plus each case's position, so 2^31 - 1 leaves room for 2^31 cases.
"""

from __future__ import annotations

from polyedit.errors import PolyeditError

SEED_MIN, SEED_MAX = 0, 2**31 - 1


def check_seed(value, what: str = "seed") -> int:
    """`value` if it is a whole number in the range; else one line naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolyeditError(f"{what} must be a whole number, got {value!r}")
    if not SEED_MIN <= value <= SEED_MAX:
        raise PolyeditError(f"{what} must be between {SEED_MIN} and {SEED_MAX}, got {value}")
    return value
