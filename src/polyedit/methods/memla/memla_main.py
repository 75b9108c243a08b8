"""MEMLA: Multilingual Editing with neuron-Masked Low-rank Adaptation (Xie et al. 2024, arXiv 2406.11566).

Per edit: find the language-independent and language-specific knowledge neurons (`neurons.py`, by the
shared integrated-gradients module), train one masked LoRA pair per category on the blocks holding them,
and commit half of the update into the MLP output projections (`editor.py`).

The neurons need the fact in several languages. `apply_cases` (what the runner calls) reads them from the
case's reliability and generality probes; `apply(lm, edits, language_prompts=...)` takes them explicitly;
with an `Edit` alone only the edit language is known, and `info["neurons"][i]["notes"]` says so. Where the
data gives no old answer (BMIKE-53's zsRE), the model's own pre-edit greedy answer is used
(`old_answers`), recorded per case in `info["old_answers"]`.
"""

from __future__ import annotations

from polyedit.data.cases import Edit, EditCase
from polyedit.methods import convergence
from polyedit.methods.base import EditHandle, EditMethod, register_method
from polyedit.methods.memla.config import MEMLAHParams
from polyedit.methods.memla.editor import build_pairs, commit, train_pairs
from polyedit.methods.memla.neurons import (LanguagePrompts, NeuronSets, case_prompts, edit_prompts,
                                           find_neuron_sets, random_like)
from polyedit.methods.old_answers import cases_with_old_answers, edits_with_old_answers
from polyedit.methods.precision import commit_note
from polyedit.models.load import LoadedModel


def editor_categories(sets: NeuronSets, hp: MEMLAHParams) -> list[tuple[str, dict[int, list[int]]]]:
    """The neuron categories that get a LoRA pair, after the ablation switches: (name, {layer: neurons})."""
    cats = []
    if hp.use_specific:
        cats.append(("language_specific", NeuronSets.by_layer(sets.specific)))
    if hp.use_independent:
        cats.append(("language_independent", NeuronSets.by_layer(sets.independent)))
    return cats


def editor_layout(cats: list[tuple[str, dict[int, list[int]]]], hp: MEMLAHParams) -> dict:
    """What one edit's editor is: its categories' neurons per block, whether they are masked, the rank.
    Recorded per edit (`info["editor"]`), so that a control can be checked to differ from MEMLA."""
    return {"neuron_selection": hp.neuron_selection, "masked": hp.use_masks, "rank_per_neuron": hp.rank_per_neuron,
            "categories": {name: {str(layer): idx for layer, idx in cat.items()} for name, cat in cats}}


def chosen_neurons(cats, sets: NeuronSets, hp: MEMLAHParams, lm: LoadedModel, seed: int):
    """The categories as attributed, or (`neuron_selection: random`) random neurons of the same count per block."""
    if hp.neuron_selection != "random":
        return cats
    attributed = set().union(*sets.per_language.values()) if sets.per_language else set()
    drawn = random_like([cat for _, cat in cats], lm.arch.intermediate_size, attributed, seed)
    return [(name, cat) for (name, _), cat in zip(cats, drawn)]


@register_method
class MEMLA(EditMethod):
    name = "memla"
    description = ("neuron-masked LoRA on language-independent and language-specific knowledge neurons "
                   "(Xie et al. 2024)")
    hparams_class = MEMLAHParams
    supports_batch = False  # the reference edits one request at a time
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply_cases(self, lm: LoadedModel, cases: list[EditCase]) -> EditHandle:
        cases, filled = cases_with_old_answers(lm, cases)
        handle = self.apply(lm, [c.edit for c in cases], language_prompts=[case_prompts(c) for c in cases])
        if filled:
            handle.info["old_answers"] = filled
        return handle

    def apply(self, lm: LoadedModel, edits: list[Edit],
              language_prompts: list[LanguagePrompts] | None = None) -> EditHandle:
        """Edit one fact after another. `language_prompts[i]`: lang -> [(prompt, target_true)] for edit i
        (default: the edit prompt alone). Neurons of all edits are found on the unedited model."""
        hp = self.resolved(lm)
        edits, filled = edits_with_old_answers(lm, edits)
        notes_extra = []
        if language_prompts is None:
            language_prompts = [edit_prompts(e) for e in edits]
            notes_extra = ["only the edit was given (no case): neurons from the edit language alone"]
        all_sets = [find_neuron_sets(lm, prompts, e.lang, hp) for e, prompts in zip(edits, language_prompts)]
        for s in all_sets:
            s.notes[:0] = notes_extra
        cats = [chosen_neurons(editor_categories(s, hp), s, hp, lm, hp.seed + i) for i, s in enumerate(all_sets)]
        layers = sorted({layer for c in cats for _, cat in c for layer in cat})
        handle = EditHandle(lm, lm.arch.mlp_out_weights(layers),
                            info={"neurons": [s.summary() for s in all_sets], "layers": layers, "training": [],
                                  "editor": [editor_layout(c, hp) for c in cats]})
        losses = {}
        for i, (edit, edit_cats) in enumerate(zip(edits, cats)):
            pairs = build_pairs(lm, [cat for _, cat in edit_cats], hp.rank_per_neuron, hp.use_masks, hp.seed + i)
            handle.info["training"].append(train_pairs(lm, edit, pairs, hp))
            for where, lost in commit(lm, pairs, hp.commit_scale).items():
                losses[where + (f", edit {i}" if len(edits) > 1 else "")] = lost
        commit_note(self.name, losses, lm.dtype, handle.info)  # "training": one entry per edit, however many
        convergence.record(handle.info, [convergence.outcome(
            t["loss"], t["steps"], hp.early_stop_loss,
            reached=t["loss"] is not None and (t["loss"] < hp.early_stop_loss or t["p_new"] > hp.early_stop_prob))
            for t in handle.info["training"]])
        if filled:
            handle.info["old_answers"] = filled
        return handle
