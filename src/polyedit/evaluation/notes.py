"""What a run must say out loud, read from its per-case records: notes a method left in its handle's
info (`info["notes"]`: a fallback it took, say), an edit that changed nothing at all, and a judge that
answered without ever saying YES or NO.

The summary keeps them (`summary["notes"]`), the Markdown report puts them at the top, and `polyedit
bench` prints that report, so none of it stays buried in results.jsonl.
"""

from __future__ import annotations

from collections import Counter

from polyedit.data.cases import LOCALITY


def edit_changed_nothing(record: dict) -> bool:
    """Whether every score of every probe the edit should move (all but locality) is what it was before:
    the edit did nothing measurable to this case (a method that committed no change, or a no-op edit)."""
    probes = [p for p in record.get("probes", []) if p.get("kind") != LOCALITY]
    return bool(probes) and all(p.get("pre") == p.get("post") for p in probes)


def run_notes(records: list[dict]) -> list[str]:
    counts = Counter(note for r in records for note in (r.get("info") or {}).get("notes", []))
    notes = [f"{note} ({n} of {len(records)} cases)" for note, n in counts.items()]
    unchanged = sum(edit_changed_nothing(r) for r in records)
    if records and unchanged == len(records):
        notes.append(f"the edit changed nothing: in all {len(records)} cases every reliability, generality "
                     "and portability score is exactly what it was before the edit")
    elif unchanged:
        notes.append(f"the edit changed no score at all in {unchanged} of {len(records)} cases")
    judged = [p[stage] for r in records if "judge" in (r.get("protocols") or {})
              for p in r.get("probes", []) for stage in ("pre", "post") if "answer_em" in p.get(stage, {})]
    if judged and not any("judge_correct" in m for m in judged):
        notes.append(f"the judge gave no YES or NO verdict: all {len(judged)} judged answers are unscored (its "
                     "replies are in samples.jsonl)")
    return notes
