"""Edit cases from the world, in polyedit's case model, for all the world's languages.

An edit rewrites a base fact whose relation has a chained consequence (birth city -> birth country,
employer -> work city), so every case has all four probe kinds:

- reliability: the edit prompt (statement template 0) in every language;
- generality: the other templates (the second statement and the question) in every language;
- locality: the subject's other relations that the edit does not decide, and other subjects' facts of
  the same relation, preferring subjects that share the old object (the classic overreach);
- portability: the chained relation, whose answer follows from the new object (the two-hop fact).

The new object is drawn among the relation's objects so that the portability answer changes too
(a new birth city in another country; a new employer headquartered elsewhere).

Every other base fact of a person (occupation, native language) is an edit case too, with reliability,
generality and locality but no portability probe (nothing is chained to it). They come after the chained
cases, so the first cases of a world are the same as before they were added and `n=` small enough gives
only cases with all four probe kinds. Each case records `answer_kind` (`same`: the object is written alike
in every language, the organisations; `translated`: one name per language), `subject_key` (the person)
and `split`: persons are split once per world into dev and test (`TEST_FRACTION` of them test), so no
subject is edited in both splits.
"""

from __future__ import annotations

import random

from polyedit.data.cases import EditCase, Probe, make_case
from polyedit.world.corpus import fact_prompts
from polyedit.world.schema import relations
from polyedit.world.world import Fact, World

GENERALITY_TEMPLATES = (1, 2)  # template 0 is the edit prompt


TEST_FRACTION = 0.3  # share of the persons whose cases form the test split
SPLITS = ("dev", "test")


def editable_relations() -> dict[str, str | None]:
    """Base person relation -> the chained relation it decides (its portability probe), or None."""
    rels = relations()
    out: dict[str, str | None] = {}
    for rel in rels.values():
        if rel.chain and len(rel.chain) == 2:
            out[rel.chain[0]] = rel.name
    for rel in rels.values():
        if rel.subject == "person" and not rel.chain and rel.name not in out:
            out[rel.name] = None
    return out


def subject_splits(world: World) -> dict[str, str]:
    """Person id -> `dev` or `test`, deterministic in the world's seed (`TEST_FRACTION` of them test)."""
    persons = sorted(world.persons)
    random.Random(f"split-{world.config.seed}").shuffle(persons)
    n_test = round(len(persons) * TEST_FRACTION)
    return {p: ("test" if i < n_test else "dev") for i, p in enumerate(persons)}


def _known(world: World, fact: Fact, lang: str) -> bool:
    return lang in world.languages_of(fact)


def candidates(world: World) -> list[tuple[str, str, str | None]]:
    """(subject, relation, chained relation or None) of every possible edit case: first those with a chained
    relation, then the others, person by person (the order before the per-seed shuffle). Only facts the
    model was trained on in every language, affected ones included: a case measures the edit, not gaps in
    the model's knowledge."""
    editable = editable_relations()
    out = []
    for with_chain in (True, False):
        out += [(p, r, c) for p in world.persons for r, c in editable.items()
                if bool(c) == with_chain and not any((p, x) in world.transfer_held_out for x in (r, c) if x)]
    return out


def max_cases(world: World, split: str | None = None) -> int:
    """How many distinct edit cases the world gives (in `split`, if given), in any one edit language."""
    if split is None:
        return len(candidates(world))
    splits = subject_splits(world)
    return sum(splits[s] == split for s, _, _ in candidates(world))


def make_cases(world: World, n: int | None = None, *, seed: int = 0, edit_lang: str | list[str] = "en",
               n_locality: int = 3, langs: tuple[str, ...] | None = None, split: str | None = None) -> list[EditCase]:
    """`n` cases (all the world gives if None) edited in `edit_lang`, of the `split` subjects if given.
    A list of edit languages cycles: case i is edited in `edit_lang[i % len(edit_lang)]`; the random draws
    do not depend on the edit language, so case i is the one a single-language call gives, edited in its
    own language. Asking for more than the world gives is an error naming the maximum."""
    from polyedit.errors import PolyeditError

    langs = langs or world.config.langs
    cycle = [edit_lang] if isinstance(edit_lang, str) else list(edit_lang)
    for lang in cycle:
        if lang not in world.config.langs:
            raise PolyeditError(f"knowledge world: edit language {lang!r} is not one of the world's "
                                f"({', '.join(world.config.langs)})")
    if split is not None and split not in SPLITS:
        raise PolyeditError(f"knowledge world: split must be one of {', '.join(SPLITS)}, got {split!r}")
    available = max_cases(world, split)
    if n is not None and n > available:
        where = f" in its {split} split" if split else ""
        raise PolyeditError(f"knowledge world of {len(world.persons)} persons gives at most {available} edit "
                            f"cases{where}; asked for n={n}")
    rng = random.Random(f"cases-{world.config.seed}-{seed}")
    splits = subject_splits(world)
    built: list[EditCase] = []
    # Chained cases first, drawn with the same random stream as before the others existed.
    for with_chain in (True, False):
        stage = [c for c in candidates(world) if bool(c[2]) == with_chain]
        rng.shuffle(stage)
        for subject, relation, chained in stage:
            if n is not None and len(built) >= n:
                return built
            case = _case(world, subject, relation, chained, rng, cycle[len(built) % len(cycle)], n_locality, langs,
                         f"world-{world.config.seed}-{subject}-{relation}")
            case.meta["split"] = splits[subject]
            if split is None or case.meta["split"] == split:
                built.append(case)
    return built


def _case(world: World, subject: str, relation: str, chained: str | None, rng: random.Random, edit_lang: str,
          n_locality: int, langs: tuple[str, ...], case_id: str) -> EditCase:
    old = world.object_of(subject, relation)
    old_chain = world.object_of(subject, chained) if chained else None
    objects = world.object_ids(relations()[relation].object)
    new = rng.choice([o for o in objects if o != old and (
        not chained or world.object_of(subject, chained, {(subject, relation): o}) != old_chain)])
    new_chain = world.object_of(subject, chained, {(subject, relation): new}) if chained else None
    fact = Fact(subject, relation, old)

    edit_prompt = fact_prompts(world, fact, edit_lang)[0]
    new_name = fact_prompts(world, fact, edit_lang, new)[0].continuation.strip()
    case = make_case(case_id, edit_lang, world.name(subject, edit_lang), edit_prompt.context, new_name,
                     edit_prompt.continuation.strip())

    # Locality: the subject's other relations the edit does not touch, and same-relation facts of others,
    # preferring those who share the old object.
    own = [Fact(subject, r, world.object_of(subject, r)) for r in relations()
           if relations()[r].subject == "person" and r not in (relation, chained)]
    sharing = [p for p in world.persons if p != subject and world.object_of(p, relation) == old]
    others = [p for p in world.persons if p != subject and p not in sharing]
    neighbours = (rng.sample(sharing, min(len(sharing), n_locality - 1))
                  + rng.sample(others, n_locality - min(len(sharing), n_locality - 1)))
    local = rng.sample(own, min(2, len(own))) + [Fact(p, relation, world.object_of(p, relation)) for p in neighbours]

    probes: list[Probe] = []
    for lang in langs:
        new_prompts = fact_prompts(world, fact, lang, new)
        old_prompts = fact_prompts(world, fact, lang)
        subj = world.name(subject, lang)
        for t in (0, *GENERALITY_TEMPLATES):
            if lang == edit_lang and t == 0:
                continue  # make_case adds the edit prompt itself
            p = new_prompts[t]
            kind = "reliability" if t == 0 else "generality"
            probes.append(Probe(kind, lang, p.context, p.continuation.strip(), old_prompts[t].continuation.strip(),
                                subj))
        if chained:
            chain_fact = Fact(subject, chained, old_chain)
            t = rng.randrange(3)
            port = fact_prompts(world, chain_fact, lang, new_chain)[t]
            port_old = fact_prompts(world, chain_fact, lang)[t]
            probes.append(Probe("portability", lang, port.context, port.continuation.strip(),
                                port_old.continuation.strip(), subj))
        for lf in local:
            if not _known(world, lf, lang):
                continue
            p = fact_prompts(world, lf, lang)[rng.randrange(3)]
            probes.append(Probe("locality", lang, p.context, p.continuation.strip(), None,
                                world.name(lf.subject, lang)))
    case.probes.extend(probes)
    case.meta.update({"source": "world", "seed": world.config.seed, "subject_id": subject, "subject_key": subject,
                      "relation": relation,
                      "object_true": old, "object_new": new, "chained_relation": chained,
                      "chained_true": old_chain, "chained_new": new_chain,
                      "name_style": world.persons[subject].style, "subject_key": subject,
                      "answer_kind": world.answer_kind(relations()[relation].object)})
    return case
