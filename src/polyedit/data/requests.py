"""Edit requests in EasyEdit's shape, as polyedit cases: what `polyedit.edit(...)` takes.

EasyEdit's `editor.edit(prompts=..., target_new=..., ground_truth=..., subject=..., rephrase_prompts=...,
locality_inputs=..., portability_inputs=...)` gives one list entry per edit request; `locality_inputs` and
`portability_inputs` map a group name to `{"prompt": [...], "ground_truth": [...]}`, one entry per
request, each a string or a list of strings. polyedit adds the languages: `lang` (of each edit prompt),
`rephrase_langs` (of each rephrase prompt), a `"lang"` entry in any group (one code for the whole group,
or one per request, each a code or a list), and `reliability_inputs`, the edit's own question in other
languages (the same group shape; its `ground_truth` is the new answer in that language).
"""

from __future__ import annotations

from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.errors import PolyeditError


def _per_request(value: Any, n: int, name: str) -> list:
    """`value` as one entry per request: a list of n entries, or (for one request) the entry itself (so one
    request's `rephrase_prompts` may be a list of several paraphrases)."""
    if isinstance(value, (list, tuple)) and len(value) == n:
        return list(value)
    if n == 1:
        return [value]
    count = len(value) if isinstance(value, (list, tuple)) else 1
    raise PolyeditError(f"edit: {name} has {count} entries for {n} prompts (one per edit request)")


def _language(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise PolyeditError(f"edit: {name} must be a language code such as 'en', got {value!r}")
    return normalize_code(value)


def _strings(value: Any, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value or [])
    if not all(isinstance(x, str) and x.strip() for x in items):
        raise PolyeditError(f"edit: {name} must hold non-empty strings, got {value!r}")
    return items


def _group_probes(kind: str, inputs: dict | None, n: int, default_lang: list[str], arg: str) -> list[list[Probe]]:
    """Per request, the probes of every group of `inputs` (`{group: {"prompt", "ground_truth"[, "lang"]}}`)."""
    out: list[list[Probe]] = [[] for _ in range(n)]
    if inputs is None:
        return out
    if not isinstance(inputs, dict):
        raise PolyeditError(f"edit: {arg} must map a group name to {{'prompt': [...], 'ground_truth': [...]}}")
    for group, spec in inputs.items():
        where = f"{arg}[{group!r}]"
        if not isinstance(spec, dict) or "prompt" not in spec or "ground_truth" not in spec:
            raise PolyeditError(f"edit: {where} needs 'prompt' and 'ground_truth'")
        prompts = _per_request(spec["prompt"], n, f"{where}['prompt']")
        answers = _per_request(spec["ground_truth"], n, f"{where}['ground_truth']")
        raw_langs = spec.get("lang")
        langs = (default_lang if raw_langs is None else [raw_langs] * n if isinstance(raw_langs, str)
                 else _per_request(raw_langs, n, f"{where}['lang']"))
        for i in range(n):
            ps = _strings(prompts[i], f"{where}['prompt'][{i}]")
            gs = _strings(answers[i], f"{where}['ground_truth'][{i}]")
            ls = [langs[i]] * len(ps) if isinstance(langs[i], str) else list(langs[i])
            if len(gs) == 1 and len(ps) > 1:
                gs = gs * len(ps)
            if len(gs) != len(ps) or len(ls) != len(ps):
                raise PolyeditError(f"edit: {where}: request {i} has {len(ps)} prompts, {len(gs)} answers and "
                                    f"{len(ls)} languages")
            out[i] += [Probe(kind, normalize_code(l), p, g) for p, g, l in zip(ps, gs, ls)]
    return out


def cases_from_requests(prompts, target_new, *, subject, ground_truth=None, rephrase_prompts=None,
                        locality_inputs=None, portability_inputs=None, reliability_inputs=None, lang="en",
                        rephrase_langs=None) -> list[EditCase]:
    """One case per request; every probe a request names, in its language."""
    prompts = _strings(prompts, "prompts")
    n = len(prompts)
    if n == 0:
        raise PolyeditError("edit: no prompts")
    targets = _strings(target_new, "target_new") if n > 1 or not isinstance(target_new, str) else [target_new]
    subjects = _strings(subject, "subject") if n > 1 or not isinstance(subject, str) else [subject]
    for name, values in (("target_new", targets), ("subject", subjects)):
        if len(values) != n:
            raise PolyeditError(f"edit: {name} has {len(values)} entries for {n} prompts (one per edit request)")
    truths = [None] * n if ground_truth is None else _per_request(ground_truth, n, "ground_truth")
    langs = [_language(x, "lang") for x in ([lang] * n if isinstance(lang, str) else _per_request(lang, n, "lang"))]
    rephrased = [[] for _ in range(n)] if rephrase_prompts is None else _per_request(rephrase_prompts, n,
                                                                                       "rephrase_prompts")
    r_langs = ([[x] for x in langs] if rephrase_langs is None
               else _per_request(rephrase_langs, n, "rephrase_langs"))
    extra = {kind: _group_probes(kind, inputs, n, langs, arg) for kind, inputs, arg in (
        (RELIABILITY, reliability_inputs, "reliability_inputs"), (LOCALITY, locality_inputs, "locality_inputs"),
        (PORTABILITY, portability_inputs, "portability_inputs"))}
    cases = []
    for i in range(n):
        if subjects[i] not in prompts[i]:
            raise PolyeditError(f"edit: prompt {i} {prompts[i]!r} does not contain its subject {subjects[i]!r}")
        ps = _strings(rephrased[i], f"rephrase_prompts[{i}]")
        ls = list(r_langs[i]) if not isinstance(r_langs[i], str) else [r_langs[i]]
        ls = ls * len(ps) if len(ls) == 1 else ls
        if len(ls) != len(ps):
            raise PolyeditError(f"edit: rephrase_langs[{i}] has {len(ls)} languages for {len(ps)} rephrase prompts")
        general = [Probe(GENERALITY, normalize_code(l), p, targets[i], truths[i]) for p, l in zip(ps, ls)]
        probes = extra[RELIABILITY][i] + general + extra[PORTABILITY][i] + extra[LOCALITY][i]
        cases.append(make_case(f"request-{i}", langs[i], subjects[i], prompts[i], targets[i], truths[i], probes))
    return cases
