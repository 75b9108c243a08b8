"""Person names: syllable strings with one Latin spelling and a transliteration per script.

A name is a tuple of syllables per part (given, family), so every script spells it syllable by syllable
from its language file. Whether a person is written in Latin everywhere ("shared") or in each language's
script ("native") is a property of the person: measured, transfer follows the shared surface form.
"""

from __future__ import annotations

import random

from polyedit.world.schema import LanguageData, world_schema

SHARED = "shared"  # the Latin spelling in every language
NATIVE = "native"  # transliterated into each language's script
NAME_STYLES = (SHARED, NATIVE)

Name = tuple[tuple[str, ...], ...]  # (given syllables, family syllables)


def random_name(rng: random.Random) -> Name:
    syl = world_schema()["name_syllables"]
    return tuple(tuple(rng.choice(syl) for _ in range(rng.choice((2, 3)))) for _ in range(2))


def unique_names(rng: random.Random, n: int, taken: set[Name] = frozenset()) -> list[Name]:
    out: list[Name] = []
    seen = set(taken)
    # Family names must differ too: two people sharing a family name would share a long subject prefix.
    families = {name[1] for name in seen}
    while len(out) < n:
        name = random_name(rng)
        if name in seen or name[1] in families or name[0] == name[1]:
            continue
        seen.add(name)
        families.add(name[1])
        out.append(name)
    return out


def latin(name: Name) -> str:
    return " ".join("".join(part).capitalize() for part in name)


def spell(name: Name, lang: LanguageData, style: str) -> str:
    """The name as written in `lang`: Latin for shared names and Latin-script languages."""
    if style == SHARED or lang.name_syllables is None:
        return latin(name)
    return lang.name_separator.join("".join(lang.name_syllables[s] for s in part) for part in name)
