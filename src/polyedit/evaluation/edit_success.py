"""Whether each edit reached its own objective, apart from whether it transferred: an edit whose loss stayed
far above its target is a failed edit, not failed transfer, and a run says how many there were.

Each case's record carries its edit's outcome (`convergence`: {loss, steps, target, converged}, from the
method's `info["edits"]`, see `polyedit.methods.convergence`; absent for methods without an objective, such
as in-context editing). The summary counts the edits that did not converge and gives the headline
reliability of those and of the converged ones separately, each with its interval.
"""

from __future__ import annotations

from polyedit.data.cases import RELIABILITY
from polyedit.evaluation.aggregate import ANSWER_SCORER, _entry, headline_metrics, rows, summarize


def case_outcome(info: dict, index: int) -> dict | None:
    """The outcome of edit `index` of a handle's edits (None where the method records none)."""
    edits = info.get("edits")
    if isinstance(edits, list) and index < len(edits) and "converged" in (edits[index] or {}):
        return {k: edits[index][k] for k in ("loss", "steps", "target", "converged")}
    return None


def reliability(records: list[dict], answer_scorer: str = ANSWER_SCORER) -> dict | None:
    """The headline reliability entry (post, ci95, n ...) over these records' probes, every language."""
    table = rows(records)
    metric = headline_metrics(table, answer_scorer)[0].get(RELIABILITY, (None, None))[0]
    return _entry([r for r in table if r["kind"] == RELIABILITY and r["metric"] == metric], metric, None)


def convergence_summary(records: list[dict], answer_scorer: str = ANSWER_SCORER) -> dict | None:
    """{n_edits, not_converged, reliability: {converged, not_converged}} over the records whose edit has an
    outcome; None when none has."""
    known = [r for r in records if r.get("convergence")]
    if not known:
        return None
    failed = [r for r in known if not r["convergence"]["converged"]]
    done = [r for r in known if r["convergence"]["converged"]]
    return {"n_edits": len(known), "not_converged": len(failed),
            "reliability": {"converged": reliability(done, answer_scorer) if done else None,
                            "not_converged": reliability(failed, answer_scorer) if failed else None}}


def _share(entry: dict | None) -> str:
    if not entry:
        return "no reliability probe"
    lo, hi = entry["ci95"] if entry.get("ci95") else (None, None)
    ci = f" [{100 * lo:.1f}-{100 * hi:.1f}]" if lo is not None else ""
    return f"{entry['metric']} {100 * entry['post']:.1f}{ci}"


def convergence_note(summary: dict | None) -> str | None:
    """One line for the run's notes when some edit did not reach its objective's target."""
    if not summary or not summary["not_converged"]:
        return None
    rel = summary["reliability"]
    rest = ("none converged" if summary["not_converged"] == summary["n_edits"]
            else f"{_share(rel['converged'])} on the converged ones")
    return (f"{summary['not_converged']} of {summary['n_edits']} edits did not converge (their objective stayed "
            f"above its target): reliability {_share(rel['not_converged'])} on them, {rest}")


#: the metric that says, before the edit, whether the model generated a probe's old answer (`answer` protocol)
OLD_ANSWER = "old_answer_em"


def knew_old_answer(record: dict) -> bool | None:
    """Whether the unedited model generated the old answer (target_true) to the edit's own reliability
    prompt, in the edit's language; None where the probe has no old answer or no such probe was scored."""
    lang = record["edit"]["lang"]
    for p in record.get("probes", []):
        if p["kind"] == RELIABILITY and p["lang"] == lang and OLD_ANSWER in (p.get("pre") or {}):
            return bool(p["pre"][OLD_ANSWER])
    return None


def known_share(records: list[dict]) -> dict[str, dict]:
    """Per probe language: the share of cases whose old answer the unedited model generated to the
    reliability prompt in that language ({share, n_cases})."""
    by_lang: dict[str, list[float]] = {}
    for r in records:
        for p in r.get("probes", []):
            if p["kind"] == RELIABILITY and OLD_ANSWER in (p.get("pre") or {}):
                by_lang.setdefault(p["lang"], []).append(float(p["pre"][OLD_ANSWER]))
    return {lang: {"share": sum(v) / len(v), "n_cases": len(v)} for lang, v in sorted(by_lang.items())}


def known_facts(records: list[dict], answer_scorer: str = ANSWER_SCORER) -> dict:
    """What the model knew before the edit: the per-language share (`known_share`) and, labelled "known
    facts", every headline restricted to the cases whose old answer it generated in the edit's language
    (`summarize(records)["mean"]` of those: each entry with its interval). Where the data gives no old
    answer, `n_with_old_answer` is 0 and says so."""
    judged = [r for r in records if knew_old_answer(r) is not None]
    known = [r for r in judged if knew_old_answer(r)]
    return {"label": "known facts: cases whose old answer (target_true) the unedited model generated in the "
                     "edit's language",
            "n_with_old_answer": len(judged), "n_known": len(known), "per_language": known_share(records),
            "mean": summarize(known, answer_scorer=answer_scorer)["mean"] if known else {}}


def known_note(summary: dict) -> str | None:
    """One line: how much of the old knowledge the model had (or that the data gives no old answer)."""
    if not summary["n_with_old_answer"]:
        return "the data gives no old answer (target_true): what the model knew before the edit is not measured"
    return (f"the unedited model generated the old answer in {summary['n_known']} of "
            f"{summary['n_with_old_answer']} cases (edit language); summary.json's known_facts restricts "
            f"every headline to them")


#: `--filter`: which cases a run keeps, decided on the unedited model before anything is written
FILTERS = ("known",)


def known_cases(backend, cases: list, max_new_tokens: int | None = None) -> tuple[list, int]:
    """`--filter known`: the cases whose old answer (`target_true`) the unedited model generates to the edit
    prompt (greedy, the `answer` protocol's stops, normalised exact match), and how many were left out. A
    case without an old answer cannot be known; data without any is refused in one line."""
    from polyedit.data import normalize
    from polyedit.evaluation.protocols_answer import budget
    from polyedit.errors import SpecError

    have = [c for c in cases if c.edit.target_true]
    if not have:
        raise SpecError("filter", "known: the data gives no old answer (target_true), so no case can be known")
    n = max_new_tokens or budget(max(len(backend.tokenize(c.edit.target_true)) for c in have))
    answers = backend.generate([c.edit.prompt for c in have], n)
    keep = [c for c, g in zip(have, answers)
            if normalize.exact_match(normalize.cut_answer(g.text, normalize.answer_stops(c.edit.prompt)),
                                     (c.edit.target_true,), c.edit.lang)]
    return keep, len(cases) - len(keep)


def settings_note(lm, method, data: str) -> str | None:
    """When fields of the method's settings come from the model's `editing.yaml` and the model names its own
    data (`dataset.txt`, the data those settings were chosen on) while this run edits other data: one line
    naming both, since settings tuned on one dataset need not suit another."""
    from polyedit.data.dataset import DatasetSpec
    from polyedit.methods.base import recommended_hparams

    own = (getattr(lm, "meta", None) or {}).get("dataset")
    if own is None or method.given is None:
        return None
    filled = sorted(set(recommended_hparams(lm, method.name)) - set(method.given))
    if not filled or DatasetSpec.parse(own).name == DatasetSpec.parse(data).name:
        return None
    return (f"{method.name}'s {', '.join(filled)} come from {lm.name}'s editing.yaml, chosen on its own data "
            f"({own}), not on {data}")
