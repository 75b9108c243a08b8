"""Training text: every fact in every language and template, plus in-context update documents.

Facts are joined to their prompts with `join_target`, the convention evaluation uses, so what the model
is trained on and what it is asked agree token for token. In-context documents (`Update`) follow
`incontext.py` and come in three kinds:

- `ghost`: a fact about a person who exists nowhere else in the corpus. Copying (and translating) the
  object from the context is the only way to the answer: this is what makes the model start reading
  the context at all (a model that has memorised the queried fact learns to ignore it).
- `counterfact`: a new object for a memorised fact; the context must win over memory.
- `negative`: the query asks about another fact (the same subject's other relation, or another
  subject); the memorised answer must stay.

The (person, relation) pairs in `heldout_pairs` never carry the fact of a training document: in-context
accuracy is measured on them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from polyedit.data.languages import join_target
from polyedit.world import incontext as ic
from polyedit.world import names as N
from polyedit.world.schema import fill, language, relations
from polyedit.world.world import Fact, World

GHOST = "ghost"
COUNTERFACT = "counterfact"
NEGATIVE = "negative"


@dataclass(frozen=True)
class Doc:
    text: str
    loss_from: int  # character offset where the loss starts (0: the whole text)


@dataclass(frozen=True)
class FactPrompt:
    fact: Fact
    lang: str
    template: int  # index into LanguageData.templates(relation)
    context: str
    continuation: str


def fact_prompts(world: World, fact: Fact, lang: str, obj: str | None = None) -> list[FactPrompt]:
    """Every template of `fact` in `lang` with its object (or `obj`) as the continuation."""
    lang_data = language(lang)
    rel = relations()[fact.relation]
    answer = world.object_name(rel.object, obj or fact.object, lang)
    subject = world.name(fact.subject, lang)
    out = []
    for i, template in enumerate(lang_data.templates(fact.relation)):
        context, continuation = join_target(fill(template, subject), answer, lang)
        out.append(FactPrompt(fact, lang, i, context, continuation))
    return out


def fact_docs(world: World) -> list[Doc]:
    """The memorised part of the corpus, in a fixed order."""
    return [Doc(p.context + p.continuation, 0)
            for f in world.facts for lang in world.languages_of(f) for p in fact_prompts(world, f, lang)]


# A fact on one side of a chain decides the other: never use one as the other's negative.
def _dependent(r1: str, r2: str) -> bool:
    rels = relations()
    return r1 == r2 or r1 in rels[r2].chain or r2 in rels[r1].chain


@dataclass(frozen=True)
class Update:
    kind: str
    fact: str  # the new fact, one sentence
    query: str
    answer: str
    fact_lang: str
    query_lang: str
    subject: str  # entity id, or the ghost's Latin name
    relation: str
    demonstrations: tuple[str, ...] = ()

    @property
    def prompt(self) -> str:
        return ic.query_prompt(self.fact, self.query, self.demonstrations)

    def doc(self) -> Doc:
        prompt = self.prompt
        return Doc(prompt + self.answer + ic.STOP, len(prompt))


class UpdateSampler:
    """Draws in-context update documents from a world (deterministic given the `random.Random`)."""

    def __init__(self, world: World, ghost_names: list[N.Name], heldout_pairs: frozenset[tuple[str, str]],
                 english_fact_share: float = 0.5) -> None:
        self.world = world
        self.ghosts = ghost_names
        self.heldout = heldout_pairs
        self.english_fact_share = english_fact_share
        self.person_relations = [r.name for r in relations().values() if r.subject == "person"]
        self.persons = list(world.persons)

    # ---- pieces --------------------------------------------------------------------------------------
    def _fact_lang(self, rng: random.Random) -> str:
        langs = self.world.config.langs
        return "en" if "en" in langs and rng.random() < self.english_fact_share else rng.choice(langs)

    def _known(self, subject: str, relation: str, lang: str) -> bool:
        """Whether the corpus states (subject, relation) in `lang` (transfer-held-out facts are not)."""
        return lang in self.world.languages_of(Fact(subject, relation, ""))

    def _sentence(self, subject_name: str, relation: str, obj: str, lang: str, rng: random.Random,
                  kinds: str = "cloze") -> tuple[str, str]:
        lang_data = language(lang)
        templates = lang_data.cloze[relation] if kinds == "cloze" else lang_data.templates(relation)
        answer = self.world.object_name(relations()[relation].object, obj, lang)
        return fill(rng.choice(templates), subject_name), answer

    def _new_object(self, relation: str, old: str | None, rng: random.Random) -> str:
        choices = [o for o in self.world.object_ids(relations()[relation].object) if o != old]
        return rng.choice(choices)

    # ---- the three kinds ---------------------------------------------------------------------------
    def ghost(self, rng: random.Random, fact_lang: str | None = None, query_lang: str | None = None,
              name: N.Name | None = None) -> Update:
        name = name or rng.choice(self.ghosts)
        style = rng.choice(N.NAME_STYLES)
        relation = rng.choice(self.person_relations)
        obj = self._new_object(relation, None, rng)
        fl, ql = fact_lang or self._fact_lang(rng), query_lang or rng.choice(self.world.config.langs)
        prompt, obj_name = self._sentence(N.spell(name, language(fl), style), relation, obj, fl, rng)
        query, answer = self._sentence(N.spell(name, language(ql), style), relation, obj, ql, rng, "all")
        return Update(GHOST, ic.statement(prompt, obj_name, fl), query, answer, fl, ql, N.latin(name), relation)

    def counterfact(self, rng: random.Random, subject: str | None = None, relation: str | None = None,
                    fact_lang: str | None = None, query_lang: str | None = None, fact_template: int | None = None,
                    query_template: int | None = None) -> Update:
        while subject is None or relation is None or (subject, relation) in self.heldout:
            subject, relation = rng.choice(self.persons), rng.choice(self.person_relations)
        new = self._new_object(relation, self.world.object_of(subject, relation), rng)
        fl, ql = fact_lang or self._fact_lang(rng), query_lang or rng.choice(self.world.config.langs)
        kind_obj = relations()[relation].object
        fl_data, ql_data = language(fl), language(ql)
        f_all = fl_data.cloze[relation]
        f_t = f_all[fact_template] if fact_template is not None else rng.choice(f_all)
        q_all = ql_data.templates(relation)
        q_t = q_all[query_template % len(q_all)] if query_template is not None else rng.choice(q_all)
        fact = ic.statement(fill(f_t, self.world.name(subject, fl)), self.world.object_name(kind_obj, new, fl), fl)
        return Update(COUNTERFACT, fact, fill(q_t, self.world.name(subject, ql)),
                      self.world.object_name(kind_obj, new, ql), fl, ql, subject, relation)

    def negative(self, rng: random.Random, subject: str | None = None, relation: str | None = None,
                 fact_lang: str | None = None, query_lang: str | None = None) -> Update:
        while subject is None or relation is None or (subject, relation) in self.heldout:
            subject, relation = rng.choice(self.persons), rng.choice(self.person_relations)
        fl = fact_lang or self._fact_lang(rng)
        new = self._new_object(relation, self.world.object_of(subject, relation), rng)
        prompt, obj_name = self._sentence(self.world.name(subject, fl), relation, new, fl, rng)
        while True:  # a known fact that the new one does not decide
            q_subject = subject if rng.random() < 0.5 else rng.choice(self.persons)
            q_relation = rng.choice(self.person_relations)
            ql = query_lang or rng.choice(self.world.config.langs)
            decided = q_subject == subject and _dependent(q_relation, relation)
            if not decided and self._known(q_subject, q_relation, ql):
                break
        query, answer = self._sentence(self.world.name(q_subject, ql), q_relation,
                                       self.world.object_of(q_subject, q_relation), ql, rng, "all")
        return Update(NEGATIVE, ic.statement(prompt, obj_name, fl), query, answer, fl, ql, q_subject, q_relation)

    def with_demonstration(self, update: Update, rng: random.Random) -> Update:
        demo = self.ghost(rng)
        block = ic.demonstration(demo.fact, demo.query, demo.answer)
        return Update(update.kind, update.fact, update.query, update.answer, update.fact_lang, update.query_lang,
                      update.subject, update.relation, (block,))

    def sample(self, rng: random.Random, mix: dict[str, float], demo_share: float) -> Update:
        kind = rng.choices(list(mix), weights=list(mix.values()))[0]
        update = {GHOST: self.ghost, COUNTERFACT: self.counterfact, NEGATIVE: self.negative}[kind](rng)
        return self.with_demonstration(update, rng) if rng.random() < demo_share else update


@dataclass(frozen=True)
class IncontextSplit:
    train_ghosts: list[N.Name]
    eval_ghosts: list[N.Name]
    heldout_pairs: frozenset[tuple[str, str]]  # (person, base relation): facts of the in-context evaluation


def incontext_split(world: World, n_ghosts: int, n_eval_pairs: int) -> IncontextSplit:
    """Ghost names (disjoint from the world's and from each other) and the evaluation's held-out pairs."""
    rng = random.Random(f"incontext-{world.config.seed}")
    taken = {p.name for p in world.persons.values()}
    n_eval = max(8, n_ghosts // 10)
    ghosts = N.unique_names(rng, n_ghosts + n_eval, taken)
    base = [r.name for r in relations().values() if r.subject == "person" and not r.chain]
    pairs = [(p, r) for p in world.persons for r in base if (p, r) not in world.transfer_held_out]
    return IncontextSplit(ghosts[:n_ghosts], ghosts[n_ghosts:], frozenset(rng.sample(pairs, n_eval_pairs)))
