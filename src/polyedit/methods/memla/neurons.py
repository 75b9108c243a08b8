"""MEMLA's two neuron categories (Xie et al. 2024, §3.1).

For each language L, the knowledge neurons N_L are the union, over the edit prompt and its paraphrases in L
answered with the old answer (target_true), of the neurons scoring above 0.3 x the prompt's maximum
(`attribution.select_neurons`). Then

    language-independent   N_ind  = ∩_{L in pivots} N_L                 (pivots: en, zh, fr by default)
    language-specific      N_spec = N_{edit lang} \\ N_ind               (layer by layer)

A neuron is a pair (layer, index into d_ff). When pivots are missing from a case the ones present are used;
when none is present, every language the case has; what happened is written into `NeuronSets.notes`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from polyedit.data.cases import GENERALITY, RELIABILITY, Edit, EditCase
from polyedit.data.languages import normalize_code
from polyedit.methods.knowledge_neurons.attribution import attribute, select_neurons
from polyedit.models.load import LoadedModel

Neuron = tuple[int, int]
#: per language: the prompts stating the fact, each with its old answer: lang -> [(prompt, target_true)]
LanguagePrompts = dict[str, list[tuple[str, str]]]


def edit_prompts(edit: Edit) -> LanguagePrompts:
    """Only the edit itself: what is known when a method is given an `Edit` and no case."""
    return {edit.lang: [(edit.prompt, edit.target_true)]} if edit.target_true else {}


def case_prompts(case: EditCase) -> LanguagePrompts:
    """The case's reliability and generality prompts in every language, with their old answers (probes
    without `answer_true` are skipped), plus the edit prompt itself; duplicates dropped, order kept."""
    out: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for lang, pairs in edit_prompts(case.edit).items():
        for pair in pairs:
            out[lang][pair] = None
    for probe in case.probes:
        if probe.kind in (RELIABILITY, GENERALITY) and probe.answer_true:
            out[probe.lang][(probe.prompt, probe.answer_true)] = None
    return {lang: list(pairs) for lang, pairs in out.items() if pairs}


def language_neurons(score_maps, threshold: float) -> set[Neuron]:
    """N_L: the union over one language's prompts of the neurons above `threshold` x that prompt's max."""
    found: set[Neuron] = set()
    for scores in score_maps:
        found |= select_neurons(scores, threshold)
    return found


def language_independent_neurons(per_language: dict[str, set[Neuron]], pivots: list[str]) -> set[Neuron]:
    """N_ind = ∩ over the pivot languages of N_L (empty when no pivot is given)."""
    sets = [per_language.get(lang, set()) for lang in pivots]
    return set.intersection(*sets) if sets else set()


def language_specific_neurons(edit_language: set[Neuron], independent: set[Neuron]) -> set[Neuron]:
    """N_spec = N_{edit lang} minus N_ind, layer by layer (a neuron is a (layer, index) pair)."""
    return edit_language - independent


def resolve_pivots(requested: list[str], available: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(pivots used, requested pivots missing, notes). `["all"]` means every available language."""
    if [p.lower() for p in requested] == ["all"]:
        return list(available), [], []
    wanted = [normalize_code(p) for p in requested]
    present = [p for p in wanted if p in available]
    missing = [p for p in wanted if p not in available]
    notes = []
    if missing and present:
        notes.append(f"pivot language(s) {', '.join(missing)} missing: language-independent neurons from "
                     f"{', '.join(present)} only")
    elif missing:
        present = list(available)
        notes.append(f"no pivot language ({', '.join(wanted)}) present: language-independent neurons from "
                     f"the languages present ({', '.join(available) or 'none'})")
    if len(present) == 1:
        notes.append(f"one pivot language ({present[0]}): its neurons are all language-independent")
    return present, missing, notes


@dataclass
class NeuronSets:
    """The neuron sets of one edit."""

    edit_lang: str
    per_language: dict[str, set[Neuron]]
    pivots: list[str]
    missing_pivots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def independent(self) -> set[Neuron]:
        return language_independent_neurons(self.per_language, self.pivots)

    @property
    def specific(self) -> set[Neuron]:
        return language_specific_neurons(self.per_language.get(self.edit_lang, set()), self.independent)

    @staticmethod
    def by_layer(neurons: set[Neuron]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for layer, i in sorted(neurons):
            out[layer].append(i)
        return dict(out)

    def to_dict(self) -> dict:
        def js(s):
            return {str(k): v for k, v in self.by_layer(s).items()}

        return {"edit_lang": self.edit_lang, "pivots": self.pivots, "missing_pivots": self.missing_pivots,
                "notes": self.notes,
                "per_language": {lang: js(s) for lang, s in self.per_language.items()},
                "language_independent": js(self.independent), "language_specific": js(self.specific),
                "counts": {"per_language": {lang: len(s) for lang, s in self.per_language.items()},
                           "language_independent": len(self.independent),
                           "language_specific": len(self.specific)}}

    def summary(self) -> dict:
        d = self.to_dict()
        return {k: d[k] for k in ("edit_lang", "pivots", "missing_pivots", "notes", "counts")}


def find_neuron_sets(lm: LoadedModel, prompts: LanguagePrompts, edit_lang: str, hp,
                     extra_langs: list[str] | None = None) -> NeuronSets:
    """Attribute every prompt of the pivot languages and the edit language (plus `extra_langs`, for
    inspection) in one batched call, and build the per-language, independent and specific sets.

    `hp` carries `pivot_langs`, `threshold`, `ig_steps`, `attribution_baseline`, `max_tokens_per_pass`."""
    available = list(prompts)
    pivots, missing, notes = resolve_pivots(hp.pivot_langs, available)
    if edit_lang not in prompts:
        notes.append(f"no prompt with an old answer in the edit language {edit_lang}: no language-specific "
                     f"neurons")
    langs = list(dict.fromkeys([*pivots, edit_lang, *(extra_langs or [])]))
    queries = [(p, a, lang) for lang in langs for p, a in prompts.get(lang, [])]
    attributions = attribute(lm, queries, hp.ig_steps, hp.attribution_baseline, hp.max_tokens_per_pass)
    per_lang: dict[str, list] = defaultdict(list)
    for att in attributions:
        per_lang[att.lang].append(att.scores)
    per_language = {lang: language_neurons(per_lang[lang], hp.threshold) for lang in langs if lang in per_lang}
    return NeuronSets(edit_lang, per_language, pivots, missing, notes)


def random_like(categories: list[dict[int, list[int]]], d_ff: int, exclude: set[Neuron],
                seed: int) -> list[dict[int, list[int]]]:
    """The random-neuron control: per category and block, as many neurons as `categories` has there, drawn
    uniformly without replacement from the block's neurons outside `exclude` (the attributed ones), and
    never one neuron in two categories. Where too few are left, the attributed ones are drawn from too."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    taken: set[Neuron] = set()
    out = []
    for cat in categories:
        drawn: dict[int, list[int]] = {}
        for layer in sorted(cat):
            count = len(cat[layer])
            pool = [i for i in range(d_ff) if (layer, i) not in exclude and (layer, i) not in taken]
            if len(pool) < count:
                pool = [i for i in range(d_ff) if (layer, i) not in taken]
            order = torch.randperm(len(pool), generator=gen)[:count].tolist()
            drawn[layer] = sorted(pool[k] for k in order)
            taken |= {(layer, i) for i in drawn[layer]}
        out.append(drawn)
    return out
