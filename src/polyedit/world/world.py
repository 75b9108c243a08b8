"""The world: entities, their facts, and the names of everything in every language.

Persons have four base relations (birth city, occupation, native language, employer); organisations a
headquarters city; cities their country. Two person relations are chained (two-hop): the birth country is
the country of the birth city, the work city is the headquarters of the employer. Everything is drawn
from one `random.Random(seed)`, so a config always gives the same world.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from functools import cached_property

from polyedit.errors import PolyeditError
from polyedit.world import names as N
from polyedit.world.schema import LANGS, language, relations, world_schema

SAME, TRANSLATED = "same", "translated"  # answer kinds: one spelling everywhere, or one per language
ANSWER_KINDS = (SAME, TRANSLATED)
# Object kind -> the world.json list (or dict) of its ids.
_OBJECT_IDS = {"country": "countries", "city": "cities", "occupation": "occupations", "language": "languages",
               "organisation": "organisations"}


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    n_persons: int = 120
    shared_name_fraction: float = 0.5  # persons spelled in Latin in every language; the rest transliterated
    transfer_fraction: float = 0.08  # (person, relation) facts stated only in `transfer_source` languages
    transfer_source: tuple[str, ...] = ("en",)
    langs: tuple[str, ...] = LANGS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorldConfig:
        d = dict(d)
        for key in ("transfer_source", "langs"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass(frozen=True)
class Person:
    id: str
    name: N.Name
    style: str  # names.SHARED or names.NATIVE
    facts: dict[str, str]  # base relation -> object id


@dataclass(frozen=True)
class Fact:
    subject: str  # entity id
    relation: str
    object: str  # object id


@dataclass
class World:
    config: WorldConfig
    persons: dict[str, Person]
    headquarters: dict[str, str]  # organisation -> city id
    city_country: dict[str, str]
    transfer_held_out: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (person id, relation)

    # ---- objects and names -------------------------------------------------------------------------
    @staticmethod
    def object_ids(kind: str) -> list[str]:
        ids = world_schema()[_OBJECT_IDS[kind]]
        return list(ids)

    def object_name(self, kind: str, obj: str, lang: str) -> str:
        if kind == "organisation":
            return obj  # brand names are written in Latin in every language
        return language(lang).objects[kind][obj]

    @cached_property
    def answer_kinds(self) -> dict[str, str]:
        """Object kind -> `same` if its objects are written alike in every language of the world (brand
        names), else `translated` (translated or transliterated per language); read from the names."""
        out = {}
        for kind in _OBJECT_IDS:
            spellings = {tuple(self.object_name(kind, o, lang) for o in self.object_ids(kind))
                         for lang in self.config.langs}
            out[kind] = SAME if len(spellings) == 1 else TRANSLATED
        return out

    def answer_kind(self, kind: str) -> str:
        return self.answer_kinds[kind]

    def subject_kind(self, subject: str) -> str:
        if subject in self.persons:
            return "person"
        if subject in self.headquarters:
            return "organisation"
        if subject in self.city_country:
            return "city"
        raise PolyeditError(f"knowledge world: unknown entity {subject!r}")

    def name(self, subject: str, lang: str) -> str:
        kind = self.subject_kind(subject)
        if kind == "person":
            p = self.persons[subject]
            return N.spell(p.name, language(lang), p.style)
        return self.object_name(kind, subject, lang)

    # ---- facts -------------------------------------------------------------------------------------
    def object_of(self, subject: str, relation: str, overrides: dict[tuple[str, str], str] | None = None) -> str:
        """The object of (subject, relation), following chains; `overrides` replaces base facts (an edit)."""
        rel = relations()[relation]
        if rel.chain:
            obj = subject
            for hop in rel.chain:
                obj = self.object_of(obj, hop, overrides)
            return obj
        if overrides and (subject, relation) in overrides:
            return overrides[(subject, relation)]
        if relation == "headquarters":
            return self.headquarters[subject]
        if relation == "country":
            return self.city_country[subject]
        return self.persons[subject].facts[relation]

    def subjects_of(self, kind: str) -> list[str]:
        return {"person": list(self.persons), "organisation": list(self.headquarters),
                "city": list(self.city_country)}[kind]

    @cached_property
    def facts(self) -> list[Fact]:
        """Every fact of the world, derived ones included, in a fixed order."""
        out = []
        for rel in relations().values():
            for s in self.subjects_of(rel.subject):
                out.append(Fact(s, rel.name, self.object_of(s, rel.name)))
        return out

    def languages_of(self, fact: Fact) -> tuple[str, ...]:
        """The languages the training text states `fact` in (held-out transfer facts: only the source)."""
        if (fact.subject, fact.relation) in self.transfer_held_out:
            return tuple(x for x in self.config.langs if x in self.config.transfer_source)
        return self.config.langs


def generate_world(config: WorldConfig | None = None) -> World:
    config = config or WorldConfig()
    unknown = [x for x in config.langs if x not in LANGS]
    if unknown:
        raise PolyeditError(f"knowledge world: no templates for languages {unknown}")
    rng = random.Random(config.seed)
    schema = world_schema()
    city_country = dict(schema["cities"])
    cities = list(city_country)
    headquarters = {org: rng.choice(cities) for org in schema["organisations"]}
    names = N.unique_names(rng, config.n_persons)
    n_shared = round(config.n_persons * config.shared_name_fraction)
    styles = [N.SHARED] * n_shared + [N.NATIVE] * (config.n_persons - n_shared)
    rng.shuffle(styles)
    base = [r for r in relations().values() if r.subject == "person" and not r.chain]
    persons = {}
    for i, (name, style) in enumerate(zip(names, styles)):
        facts = {r.name: rng.choice(World.object_ids(r.object)) for r in base}
        persons[f"p{i:04d}"] = Person(f"p{i:04d}", name, style, facts)
    person_rels = [r.name for r in relations().values() if r.subject == "person"]
    pairs = [(p, r) for p in persons for r in person_rels]
    held = frozenset(rng.sample(pairs, round(len(pairs) * config.transfer_fraction)))
    return World(config, persons, headquarters, city_country, held)
