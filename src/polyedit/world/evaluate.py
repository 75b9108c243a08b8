"""What a world model knows, measured through polyedit's own backend (the path every method is scored on).

- recall: exact (every target token is the greedy choice) over training facts, per language;
- transfer: the same on facts stated only in the transfer source language(s), per target language, per
  name style (shared Latin spelling vs transliterated) and per answer kind (an object written the same in
  every language vs translated), against the majority-object baseline;
- in-context update accuracy: greedy generation on the MIKE prompt, cut at `"`, exact match, on held-out
  (person, relation) pairs the in-context training never used, per query language.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from polyedit.models.backend import HFBackend
from polyedit.world import incontext as ic
from polyedit.world.corpus import COUNTERFACT, NEGATIVE, IncontextSplit, UpdateSampler, fact_prompts
from polyedit.world.names import NAME_STYLES
from polyedit.world.schema import relations
from polyedit.world.world import ANSWER_KINDS, World


def _rate(hits: list[bool]) -> float:
    return round(sum(hits) / len(hits), 4) if hits else float("nan")


def _exact(backend: HFBackend, prompts) -> list[bool]:
    results = backend.score([(p.context, p.continuation) for p in prompts])
    return [r.token_accuracy == 1.0 for r in results]


def recall(backend: HFBackend, world: World, per_lang: int | None, seed: int = 0) -> dict[str, float]:
    """Exact recall of training facts per language, on up to `per_lang` prompts (all templates) each."""
    rng = random.Random(seed)
    out = {}
    for lang in world.config.langs:
        prompts = [p for f in world.facts if lang in world.languages_of(f) for p in fact_prompts(world, f, lang)]
        if per_lang is not None and len(prompts) > per_lang:
            prompts = rng.sample(prompts, per_lang)
        out[lang] = _rate(_exact(backend, prompts))
    return out


def transfer(backend: HFBackend, world: World) -> dict:
    """Native cross-lingual transfer of held-out facts, by name style and target language."""
    source = world.config.transfer_source
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    by_kind: dict[tuple[str, str], list[bool]] = defaultdict(list)
    baseline: dict[str, list[bool]] = defaultdict(list)
    majority = {r: Counter(f.object for f in world.facts if f.relation == r).most_common(1)[0][0]
                for r in {f.relation for f in world.facts}}
    held = [f for f in world.facts if (f.subject, f.relation) in world.transfer_held_out]
    for lang in world.config.langs:
        if lang in source:
            continue
        for f in held:
            prompts = fact_prompts(world, f, lang)
            style = world.persons[f.subject].style
            hits = _exact(backend, prompts)
            by[(style, lang)] += hits
            by_kind[(world.answer_kind(relations()[f.relation].object), lang)] += hits
            baseline[lang] += [f.object == majority[f.relation]] * len(prompts)
    out = {"source": list(source), "n_facts": len(held)}
    for style in NAME_STYLES:
        per = {lang: _rate(by[(style, lang)]) for lang in world.config.langs if by[(style, lang)]}
        out[style] = {"mean": _rate([h for lang in per for h in by[(style, lang)]]), "per_lang": per}
    out["answer_kind"] = {}
    for kind in ANSWER_KINDS:
        per = {lang: _rate(by_kind[(kind, lang)]) for lang in world.config.langs if by_kind[(kind, lang)]}
        out["answer_kind"][kind] = {"mean": _rate([h for lang in per for h in by_kind[(kind, lang)]]),
                                    "n_facts": sum(world.answer_kind(relations()[f.relation].object) == kind
                                                   for f in held), "per_lang": per}
    out["majority_baseline"] = _rate([h for v in baseline.values() for h in v])
    return out


def incontext(backend: HFBackend, world: World, split: IncontextSplit, fact_lang: str = "en",
              max_new_tokens: int = 16, limit: int | None = None) -> dict:
    """In-context update accuracy on the held-out pairs: the new fact in `fact_lang` (template 0, the
    edit prompt), the query in every language, templates in rotation; plus negatives (the memorised
    answer to a query about another fact must survive the context) and ghosts (never-seen persons)."""
    rng = random.Random(f"icl-eval-{world.config.seed}")
    sampler = UpdateSampler(world, split.eval_ghosts, frozenset())
    updates = []
    pairs = sorted(split.heldout_pairs)
    for i, (subject, relation) in enumerate(pairs[:limit] if limit else pairs):
        langs = world.config.langs if not limit else [world.config.langs[i % len(world.config.langs)]]
        for j, lang in enumerate(langs):
            updates.append(sampler.counterfact(rng, subject, relation, fact_lang, lang, 0, i + j))
            updates.append(sampler.negative(rng, subject, relation, fact_lang, lang))
    for name in split.eval_ghosts[:limit]:
        updates.append(sampler.ghost(rng, fact_lang, rng.choice(world.config.langs), name))
    answers = backend.generate([u.prompt for u in updates], max_new_tokens, stop=(ic.STOP,))
    hits: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for u, a in zip(updates, answers):
        hits[u.kind][u.query_lang].append(a.text.strip() == u.answer)
    out = {}
    for kind, per in hits.items():
        out[kind] = {"accuracy": _rate([h for v in per.values() for h in v]),
                     "per_lang": {lang: _rate(v) for lang, v in per.items()}}
    out["update_accuracy"] = out[COUNTERFACT]["accuracy"]
    out["negative_accuracy"] = out[NEGATIVE]["accuracy"]
    return out
