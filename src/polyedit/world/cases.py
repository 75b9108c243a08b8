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
"""

from __future__ import annotations

import random

from polyedit.data.cases import EditCase, Probe, make_case
from polyedit.world.corpus import fact_prompts
from polyedit.world.schema import relations
from polyedit.world.world import Fact, World

GENERALITY_TEMPLATES = (1, 2)  # template 0 is the edit prompt


def editable_relations() -> dict[str, str]:
    """Base relation -> the chained relation it decides (its portability probe)."""
    out = {}
    for rel in relations().values():
        if rel.chain and len(rel.chain) == 2:
            out[rel.chain[0]] = rel.name
    return out


def _known(world: World, fact: Fact, lang: str) -> bool:
    return lang in world.languages_of(fact)


def make_cases(world: World, n: int, *, seed: int = 0, edit_lang: str = "en", n_locality: int = 3,
               langs: tuple[str, ...] | None = None) -> list[EditCase]:
    langs = langs or world.config.langs
    rng = random.Random(f"cases-{world.config.seed}-{seed}")
    editable = editable_relations()
    # Only subjects whose affected facts the model was trained on in every language: a case measures
    # the edit, not gaps in the model's knowledge.
    candidates = [(p, r) for p in world.persons for r in editable
                  if not any((p, x) in world.transfer_held_out for x in (r, editable[r]))]
    rng.shuffle(candidates)
    cases = []
    for subject, relation in candidates[:n]:
        cases.append(_case(world, subject, relation, editable[relation], rng, edit_lang, n_locality, langs,
                           f"world-{world.config.seed}-{len(cases):04d}"))
    return cases


def _case(world: World, subject: str, relation: str, chained: str, rng: random.Random, edit_lang: str,
          n_locality: int, langs: tuple[str, ...], case_id: str) -> EditCase:
    old = world.object_of(subject, relation)
    old_chain = world.object_of(subject, chained)
    objects = world.object_ids(relations()[relation].object)
    new = rng.choice([o for o in objects
                      if o != old and world.object_of(subject, chained, {(subject, relation): o}) != old_chain])
    new_chain = world.object_of(subject, chained, {(subject, relation): new})
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
        subj = world.name(subject, lang)
        for t in (0, *GENERALITY_TEMPLATES):
            if lang == edit_lang and t == 0:
                continue  # make_case adds the edit prompt itself
            p = new_prompts[t]
            kind = "reliability" if t == 0 else "generality"
            probes.append(Probe(kind, lang, p.context, p.continuation.strip(),
                                fact_prompts(world, fact, lang)[t].continuation.strip(), subj))
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
                      "name_style": world.persons[subject].style})
    return case
