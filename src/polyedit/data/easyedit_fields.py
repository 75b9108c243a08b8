"""One EasyEdit or KnowEdit record to one case: which fields fill which role, in every layout EasyEdit
documents (zjunlp/EasyEdit `easyeditor/dataset/zsre.py`, `counterfact.py`, `knowedit.py`,
`examples/KnowEdit.md`). Every name of a role is read where present, so a CounterFact-style file with
zsRE-style `loc`/`loc_ans` loses nothing.

Answers come as a string, a list (the first is the answer, the rest aliases) or, in KnowEdit, a list of
alias lists (`[["Syrian pound", "SYP"], ...]`: flattened the same way). A group of probes (`"locality":
{"Relation_Specificity": [{"prompt", "ground_truth"}, ...]}`) keeps its name as the probe's `group`; a group
may also be EasyEdit's `{"prompt": [...], "ground_truth": [...]}` of parallel lists. The portability block
`{"New Question", "New Answer"}` of EasyEdit's zsRE files is the one-hop group `one_hop`.
"""

from __future__ import annotations

from typing import Any

from polyedit.data.jsonio import has_lone_surrogate
from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, Probe
from polyedit.data.mzsre import strip_nq
from polyedit.data.problems import RecordReader, _kind
from polyedit.errors import shorten

SUBJECT = ("subject", "concept")
PROMPT = ("prompt", "src", "text")
TARGET_NEW = ("target_new", "alt", "labels")
TARGET_TRUE = ("ground_truth", "answers")
REPHRASE = ("rephrase_prompt", "rephrase")
ID = ("case_id", "id")
LANG = ("lang", "language")
#: (question field, answer field) pairs of the flat layouts, per probe kind
FLAT = {LOCALITY: (("locality_prompt", "locality_ground_truth"), ("loc", "loc_ans")),
        PORTABILITY: (("portability_prompt", "portability_ground_truth"), ("port", "port_ans"))}
#: the nested layouts: a field holding named groups of probes of one kind
GROUPED = {LOCALITY: "locality", PORTABILITY: "portability"}
ONE_HOP = ("New Question", "New Answer", "one_hop")
#: known fields that carry nothing a probe needs (zsRE's SERAC condition, derived from src/alt/answers)
IGNORED = ("cond",)


def first_present(rec: dict, names: tuple[str, ...]) -> str:
    """The first of `names` the record holds (not null), else the first name (reported as missing)."""
    return next((n for n in names if rec.get(n) is not None), names[0])


def answers(r: RecordReader, value: Any, path: str, reason: str, required: bool = True) -> tuple[str, ...] | None:
    """(answer, *aliases) from a string, a list of strings, or a list of alias lists; None when absent or bad
    (every bad item named)."""
    r.mark(path)
    if value is None:
        if required:
            r.problem(path, "missing", reason)
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        r.problem(path, f"expected a non-empty string or list of strings, got {shorten(value)}", reason)
        return None
    flat: list[tuple[str, Any]] = []
    for i, item in enumerate(value):
        flat += ([(f"{path}[{i}][{j}]", x) for j, x in enumerate(item)] if isinstance(item, list)
                 else [(f"{path}[{i}]", item)])
    bad = [(p, x) for p, x in flat if not isinstance(x, str) or not x.strip() or has_lone_surrogate(x)]
    for p, x in bad:
        r.problem(p, f"expected a non-empty string, got {shorten(x)}", reason)
    if bad or not flat:
        return None
    for p, x in flat:  # " MAT-49": a stray space would be scored as part of the answer
        if x != x.strip():
            r.problem(p, f"{x!r} has surrounding whitespace (stripped)",
                      "answers with surrounding whitespace (stripped)")
    return tuple(x.strip() for _, x in flat)


def flat_probes(r: RecordReader, rec: dict, lang: str, subject: str | None) -> list[Probe]:
    out = []
    for kind, pairs in FLAT.items():
        reason = f"{kind} probes dropped"
        for q_name, a_name in pairs:
            questions = r.texts(rec, q_name, q_name, reason, required=False)
            if questions is None:
                if rec.get(a_name) is not None:
                    r.mark(a_name)
                    r.problem(a_name, f"an answer without its question {q_name!r}", reason)
                continue
            got = answers(r, rec.get(a_name), a_name, reason)
            out += [_probe(kind, lang, q, got, subject) for q in questions if got and strip_nq(q).strip()]
    return out


def _probe(kind: str, lang: str, question: str, got: tuple[str, ...], subject: str | None,
           group: str | None = None) -> Probe:
    if kind == LOCALITY:  # zsRE's locality questions carry Natural Questions' marker
        return Probe(LOCALITY, lang, strip_nq(question), got[0], aliases=got[1:], group=group)
    return Probe(kind, lang, question, got[0], None, subject, got[1:], group)


def grouped_probes(r: RecordReader, rec: dict, lang: str, subject: str | None) -> list[Probe]:
    out = []
    for kind, name in GROUPED.items():
        block = rec.get(name)
        if block is None:
            continue
        reason = f"{kind} probes dropped"
        if not isinstance(block, dict):
            r.mark(name)
            r.problem(name, f"expected an object of named groups, got {_kind(block)}", reason)
            continue
        if ONE_HOP[0] in block or ONE_HOP[1] in block:  # EasyEdit's zsRE: one question, one answer
            q = r.text(block, ONE_HOP[0], f"{name}.{ONE_HOP[0]}", reason)
            got = answers(r, block.get(ONE_HOP[1]), f"{name}.{ONE_HOP[1]}", reason)
            out += [_probe(kind, lang, q, got, subject, ONE_HOP[2])] if q and got else []
            continue
        for group, items in block.items():
            out += _group(r, items, f"{name}.{group}", kind, lang, subject, str(group))
    return out


def _group(r: RecordReader, items: Any, path: str, kind: str, lang: str, subject: str | None,
           group: str) -> list[Probe]:
    reason = f"{kind} probes dropped"
    r.mark(path)
    out = []
    for item, where in _group_items(r, items, path, reason):
        if not isinstance(item, dict):
            r.problem(where("").rstrip("."), f"expected an object, got {_kind(item)}", reason)
            continue
        questions = r.texts(item, "prompt", where("prompt"), reason)
        got = answers(r, item.get("ground_truth"), where("ground_truth"), reason)
        out += [_probe(kind, lang, q, got, subject, group) for q in questions or () if got]
    return out


def _group_items(r: RecordReader, items: Any, path: str, reason: str) -> list[tuple[Any, Any]]:
    """(item, field -> its path) of a group: a list of `{prompt, ground_truth}` objects, one such object, or
    EasyEdit's `{"prompt": [...], "ground_truth": [...]}` of parallel lists (problems name those lists)."""
    if isinstance(items, list):
        return [(item, lambda f, i=i: f"{path}[{i}].{f}") for i, item in enumerate(items)]
    if not isinstance(items, dict):
        r.problem(path, f"expected a list of {{prompt, ground_truth}} objects, got {_kind(items)}", reason)
        return []
    prompts, truths = items.get("prompt"), items.get("ground_truth")
    if isinstance(prompts, list) and isinstance(truths, list) and len(prompts) == len(truths):
        r.mark(f"{path}.prompt"), r.mark(f"{path}.ground_truth")
        return [({"prompt": q, "ground_truth": t}, lambda f, i=i: f"{path}.{f}[{i}]")
                for i, (q, t) in enumerate(zip(prompts, truths))]
    return [(items, lambda f: f"{path}.{f}")]


def generality(r: RecordReader, rec: dict, lang: str, new: str, true: str | None, subject: str | None) -> list[Probe]:
    out = []
    for name in REPHRASE:
        for q in r.texts(rec, name, name, "generality probes dropped", required=False) or ():
            out.append(Probe(GENERALITY, lang, q, new, true, subject))
    return out
