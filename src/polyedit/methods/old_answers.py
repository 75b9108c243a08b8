"""The old answer of an edit, when the data gives none: the model's own pre-edit greedy answer.

KN moves a neuron's value slot away from the old answer's embedding and MEMLA penalises P(old answer) and
finds its neurons by attributing the old answer, so both need one. BMIKE-53's zsRE records carry none (no
`old`); without this both would find no neuron and change nothing. Reading the model's greedy answer is
what EleutherAI/knowledge-neurons and EasyEdit's KN subtract; it is decoded for as many tokens as the new
answer has after the prompt (the `generation` protocol's rule) and cut at the first line break.

Every filled answer is returned as a record for the handle's `info`. An edit prompt the model answers with
nothing is refused before any edit, in one line; a probe answered with nothing keeps no old answer (the
methods skip such prompts, as they skip probes without `answer_true`).
"""

from __future__ import annotations

from dataclasses import replace

from polyedit.data.cases import GENERALITY, RELIABILITY, Edit, EditCase
from polyedit.data.languages import join_target
from polyedit.errors import PolyeditError
from polyedit.models.backend import HFBackend
from polyedit.models.load import LoadedModel
from polyedit.models.tokens import encode_with_target


def greedy_answers(lm: LoadedModel, queries: list[tuple[str, str, str]]) -> list[str]:
    """The model's greedy answer to each (prompt, reference answer, lang), as many tokens long as the
    reference answer is after the prompt, stripped and cut at the first line break ("" if nothing)."""
    backend = HFBackend(lm)
    lengths = [len(encode_with_target(lm.tokenizer, *join_target(p, a, lang)).target_ids) for p, a, lang in queries]
    out = [""] * len(queries)
    for n in sorted(set(lengths)):  # one generate call per answer length
        idx = [i for i, m in enumerate(lengths) if m == n]
        for i, g in zip(idx, backend.generate([queries[i][0] for i in idx], n, stop=("\n",))):
            out[i] = g.text.split("\n")[0].strip()
    return out


def edits_with_old_answers(lm: LoadedModel, edits: list[Edit]) -> tuple[list[Edit], list[dict]]:
    """`edits` with target_true filled from the model where missing, and a record per filled edit."""
    missing = [i for i, e in enumerate(edits) if not e.target_true]
    if not missing:
        return list(edits), []
    answers = greedy_answers(lm, [(edits[i].prompt, edits[i].target_new, edits[i].lang) for i in missing])
    empty = [edits[i].prompt for i, a in zip(missing, answers) if not a]
    if empty:
        raise PolyeditError(f"no old answer (target_true) given and the model answers {empty[0]!r} with "
                            "nothing: give target_true for this edit")
    out = list(edits)
    for i, a in zip(missing, answers):
        out[i] = replace(edits[i], target_true=a)
    return out, [{"edit": i, "prompt": edits[i].prompt, "lang": edits[i].lang, "old_answer": a,
                  "source": "model greedy answer"} for i, a in zip(missing, answers)]


def cases_with_old_answers(lm: LoadedModel, cases: list[EditCase]) -> tuple[list[EditCase], list[dict]]:
    """`cases` with the edit's target_true and the reliability and generality probes' answer_true filled from
    the model where missing (MEMLA reads every language's prompts with their old answers), and a record per
    case that needed any: {case_id, edit_old_answer, probes: {probe index: answer}}."""
    edits, edit_records = edits_with_old_answers(lm, [c.edit for c in cases])
    slots = [(ci, pi) for ci, c in enumerate(cases) for pi, p in enumerate(c.probes)
             if p.kind in (RELIABILITY, GENERALITY) and not p.answer_true]
    probes = [cases[ci].probes[pi] for ci, pi in slots]
    answers = greedy_answers(lm, [(p.prompt, p.answer, p.lang) for p in probes]) if slots else []
    new_probes = [list(c.probes) for c in cases]
    records: dict[int, dict] = {r["edit"]: {"case_id": cases[r["edit"]].case_id, "edit_old_answer": r["old_answer"],
                                            "probes": {}} for r in edit_records}
    for (ci, pi), a in zip(slots, answers):
        if not a:
            continue
        new_probes[ci][pi] = replace(cases[ci].probes[pi], answer_true=a)
        records.setdefault(ci, {"case_id": cases[ci].case_id, "edit_old_answer": None, "probes": {}})["probes"][pi] = a
    out = [EditCase(c.case_id, e, ps, dict(c.meta)) for c, e, ps in zip(cases, edits, new_probes)]
    return out, [records[i] for i in sorted(records)]
