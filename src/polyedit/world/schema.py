"""Templates and object names per language, read from `templates/*.json`.

A language is a data file (`templates/<code>.json`): its cloze and question templates per relation and
its names for every object. `world.json` holds what no language owns: relations, their subject and object
kinds, chained (two-hop) relations, the object ids and the syllables person names are made of.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from polyedit.errors import PolyeditError

# The 12 MKEB languages, in the benchmark's order.
LANGS = ("en", "zh", "fr", "de", "it", "es", "pt", "pl", "ru", "ja", "ko", "th")
SLOT = "{}"  # the subject's place in a template (MKEB's convention)


@dataclass(frozen=True)
class Relation:
    name: str
    subject: str  # entity kind: person, organisation, city
    object: str  # object kind: city, country, occupation, language, organisation
    chain: tuple[str, ...] = ()  # derived relations: follow these relations from the subject


@dataclass(frozen=True)
class LanguageData:
    code: str
    cloze: dict[str, tuple[str, ...]]  # relation -> statement templates, object at the end
    question: dict[str, tuple[str, ...]]  # relation -> question templates, answer after them
    objects: dict[str, dict[str, str]]  # object kind -> id -> name in this language
    name_syllables: dict[str, str] | None  # Latin syllable -> this script's; None: Latin script
    name_separator: str

    def templates(self, relation: str) -> tuple[str, ...]:
        """All templates of a relation: statements first, then questions (index 0 is the edit prompt)."""
        return self.cloze[relation] + self.question[relation]


def _read(name: str) -> dict:
    path = resources.files("polyedit.world").joinpath("templates", name)
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise PolyeditError(f"knowledge world: no template file {name}") from None


@lru_cache(maxsize=1)
def world_schema() -> dict:
    return _read("world.json")


@lru_cache(maxsize=1)
def relations() -> dict[str, Relation]:
    raw = world_schema()["relations"]
    return {k: Relation(k, v["subject"], v["object"], tuple(v.get("chain", ()))) for k, v in raw.items()}


@lru_cache(maxsize=None)
def language(code: str) -> LanguageData:
    raw = _read(f"{code}.json")
    rels = raw["relations"]
    missing = set(relations()) - set(rels)
    if missing:
        raise PolyeditError(f"knowledge world: {code}.json lacks relations {sorted(missing)}")
    names = raw.get("names")
    return LanguageData(
        code=code,
        cloze={r: tuple(t["cloze"]) for r, t in rels.items()},
        question={r: tuple(t["question"]) for r, t in rels.items()},
        objects=raw["objects"],
        name_syllables=names["syllables"] if names else None,
        name_separator=names["separator"] if names else " ",
    )


def fill(template: str, subject: str) -> str:
    if template.count(SLOT) != 1:
        raise PolyeditError(f"template {template!r} must have exactly one {SLOT} slot")
    return template.replace(SLOT, subject)
