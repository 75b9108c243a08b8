"""Knowledge insertion: new persons the model never saw, drawn by the world's own generator.

A lifelong sequence that edits every fact of a world once has nothing left to rewrite; what follows is
insertion (the setting of WISE's and UltraEdit's long sequences: new knowledge, not a counterfactual).
New persons are drawn as `world.generate_world` draws its own: syllable names disjoint from every name the
model read (the world's persons and the in-context ghosts), Latin in every language or transliterated in
the same proportion, and one object per base relation. Each of their base facts is one case, with no old
answer: reliability and generality in every language, portability where a chained relation follows from
the inserted fact (a new person's birth country from the inserted birth city), locality on facts of the
world's own persons of the same relation.
"""

from __future__ import annotations

import random
from dataclasses import replace

from polyedit.data.cases import EditCase, Probe, make_case
from polyedit.world import names as N
from polyedit.world.cases import GENERALITY_TEMPLATES, editable_relations
from polyedit.world.corpus import fact_prompts, incontext_split
from polyedit.world.schema import relations
from polyedit.world.world import Fact, Person, World

INSERTION, COUNTERFACTUAL = "insertion", "counterfactual"  # a case's `meta["segment"]`
PREFIX = "new"  # ids of inserted persons: new0000, new0001, ...


def seen_names(world: World, n_ghosts: int, n_eval_pairs: int) -> set[N.Name]:
    """Every person name of the model's training text: the world's persons and the in-context ghosts."""
    split = incontext_split(world, n_ghosts, n_eval_pairs)
    return {p.name for p in world.persons.values()} | set(split.train_ghosts) | set(split.eval_ghosts)


def new_persons(world: World, n: int, seed: int, taken: set[N.Name]) -> dict[str, Person]:
    """`n` persons drawn like the world's own (names, name styles, one object per base relation), with
    names outside `taken`; deterministic in the world's seed and `seed`."""
    rng = random.Random(f"insertion-{world.config.seed}-{seed}")
    names = N.unique_names(rng, n, taken)
    n_shared = round(n * world.config.shared_name_fraction)
    styles = [N.SHARED] * n_shared + [N.NATIVE] * (n - n_shared)
    rng.shuffle(styles)
    base = [r for r in relations().values() if r.subject == "person" and not r.chain]
    out = {}
    for i, (name, style) in enumerate(zip(names, styles)):
        pid = f"{PREFIX}{i:04d}"
        out[pid] = Person(pid, name, style, {r.name: rng.choice(World.object_ids(r.object)) for r in base})
    return out


def with_persons(world: World, persons: dict[str, Person]) -> World:
    """The world with `persons` added (names and chained facts resolve through it); the world is unchanged."""
    return replace(world, persons={**world.persons, **persons})


def insertion_cases(world: World, inserted: dict[str, Person], edit_langs: list[str], n: int, seed: int,
                    n_locality: int = 3, langs: tuple[str, ...] | None = None) -> list[EditCase]:
    """The first `n` base facts of the `inserted` persons (person by person), case i edited in
    `edit_langs[i % len(edit_langs)]`. `world` is the world the model was trained on (the locality pool);
    the inserted persons are looked up in it extended by them."""
    rng = random.Random(f"insertion-cases-{world.config.seed}-{seed}")
    extended = with_persons(world, inserted)
    langs = langs or world.config.langs
    facts = [(p, r) for p in inserted for r in editable_relations()]
    out = []
    for i, (person, relation) in enumerate(facts[:n]):
        out.append(_insertion_case(world, extended, person, relation, rng, edit_langs[i % len(edit_langs)],
                                   n_locality, langs))
    return out


def _insertion_case(world: World, extended: World, person: str, relation: str, rng: random.Random, edit_lang: str,
                    n_locality: int, langs: tuple[str, ...]) -> EditCase:
    chained = editable_relations()[relation]
    fact = Fact(person, relation, extended.object_of(person, relation))
    edit_prompt = fact_prompts(extended, fact, edit_lang)[0]
    case = make_case(f"world-{world.config.seed}-{person}-{relation}", edit_lang, extended.name(person, edit_lang),
                     edit_prompt.context, edit_prompt.continuation.strip())  # no old answer: nothing to rewrite
    neighbours = rng.sample(sorted(world.persons), n_locality)  # the world's persons: facts the model knows
    local = [Fact(p, relation, world.object_of(p, relation)) for p in neighbours]
    for lang in langs:
        prompts = fact_prompts(extended, fact, lang)
        subject = extended.name(person, lang)
        for t in (0, *GENERALITY_TEMPLATES):
            if lang == edit_lang and t == 0:
                continue  # make_case adds the edit prompt itself
            kind = "reliability" if t == 0 else "generality"
            case.probes.append(Probe(kind, lang, prompts[t].context, prompts[t].continuation.strip(), None, subject))
        if chained:
            chain = fact_prompts(extended, Fact(person, chained, extended.object_of(person, chained)), lang)
            p = chain[rng.randrange(3)]
            case.probes.append(Probe("portability", lang, p.context, p.continuation.strip(), None, subject))
        for lf in local:
            if lang in world.languages_of(lf):
                p = fact_prompts(world, lf, lang)[rng.randrange(3)]
                case.probes.append(Probe("locality", lang, p.context, p.continuation.strip(), None,
                                         world.name(lf.subject, lang)))
    person_data = extended.persons[person]
    case.meta.update({"source": "world", "seed": world.config.seed, "subject_id": person, "subject_key": person,
                      "relation": relation, "object_true": None, "object_new": fact.object,
                      "chained_relation": chained, "name_style": person_data.style, "segment": INSERTION,
                      "answer_kind": world.answer_kind(relations()[relation].object)})
    return case


def untouched_fact_cases(world: World, langs: tuple[str, ...] | None = None) -> list[EditCase]:
    """The world's facts no person edit touches (an organisation's headquarters, a city's country), each a
    case whose reliability probes ask it, with its true answer, in every language: recall of untouched
    facts when every person fact is edited."""
    langs = langs or world.config.langs
    out = []
    for fact in world.facts:
        if relations()[fact.relation].subject == "person":
            continue
        first = fact_prompts(world, fact, world.config.langs[0])[0]
        answer = first.continuation.strip()
        case = make_case(f"world-{world.config.seed}-{fact.subject}-{fact.relation}", world.config.langs[0],
                         world.name(fact.subject, world.config.langs[0]), first.context, answer, answer)
        for lang in langs:
            if lang == world.config.langs[0]:
                continue
            p = fact_prompts(world, fact, lang)[0]
            case.probes.append(Probe("reliability", lang, p.context, p.continuation.strip(), p.continuation.strip(),
                                     world.name(fact.subject, lang)))
        case.meta.update({"source": "world", "seed": world.config.seed, "subject_id": fact.subject,
                          "subject_key": fact.subject, "relation": fact.relation, "object_true": fact.object})
        out.append(case)
    return out
