"""Tuning searches (`polyedit tune` folders) in a report: per method the Pareto front of transfer against
locality on the dev split and the chosen point, the chosen configurations' test-split results, and the
paired bootstrap interval of the difference between methods on the test split.

"At matched locality": every method's chosen point is its best transfer among trials whose dev locality
reaches the same floor, so two methods are compared where both keep (at least) that much locality. A pair
is marked unmatched where the floors, models, test data or case counts differ, and no difference is
computed; where the budgets (trials, dev cases) differ the pair is computed but the row says so. The
test-split locality difference is shown beside the transfer difference: the floor holds on dev, and the
test split shows how far it carried over.

A folder is a tuning search when it holds `tune.json`; its trial runs (`trials/`) are its own and are not
listed as runs of the report; its test run (`test/`) is.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.evaluation.aggregate import paired_difference
from polyedit.evaluation.store import JsonLines
from polyedit.reports.numbers import interval, pct

TUNE_FILE = "tune.json"


@dataclass
class Tuning:
    dir: Path
    record: dict
    pareto: dict
    chosen: dict | None
    test: dict | None
    test_records: list[dict] = field(default_factory=list)

    @property
    def config(self) -> dict:
        return self.record.get("config") or {}

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def floor(self) -> float | None:
        return self.config.get("locality_floor")

    @property
    def transfer_kind(self) -> str:
        return str(self.config.get("transfer", "reliability"))

    @property
    def budget(self) -> tuple:
        return (self.config.get("trials"), self.record.get("n_dev_cases"), self.config.get("dev_data")
                or self.record.get("dev_data"))

    @property
    def control_of(self) -> str | None:
        from polyedit.methods.base import METHODS

        return getattr(METHODS.get(self.method), "control_of", None) if self.method in METHODS else None


def _json(path: Path):
    return read_json(path)


def read_tuning(folder: Path) -> Tuning:
    record = _json(folder / TUNE_FILE)
    pareto = _json(folder / "pareto.json") if (folder / "pareto.json").exists() else {"objectives": [], "trials": []}
    chosen = _json(folder / "chosen.json") if (folder / "chosen.json").exists() else None
    test = _json(folder / "test.json") if (folder / "test.json").exists() else None
    records = []
    if test is not None:
        records = JsonLines(folder / test["folder"] / "results.jsonl").records()
    return Tuning(folder, record, pareto, chosen, test, records)


def find_tunings(paths: list[str | Path]) -> list[Tuning]:
    found = []
    for p in map(Path, paths):
        if p.exists():
            found += sorted({q.parent for q in p.rglob(TUNE_FILE)} | ({p} if (p / TUNE_FILE).exists() else set()))
    tunings = [read_tuning(f) for f in dict.fromkeys(found)]
    # the fronts and test differences here are the single-edit objective's; a lifelong search's choice is
    # read from its chosen.yaml or the file of lifelong settings it wrote
    return ordered([t for t in tunings if t.config.get("objective", "single") == "single"])


def inside_trials(run_dir: Path) -> bool:
    """A trial run of a tuning search (`SEARCH/trials/NNNN`), which the search's front stands for."""
    return run_dir.parent.name == "trials" and (run_dir.parent.parent / TUNE_FILE).exists()


def ordered(tunings: list[Tuning]) -> list[Tuning]:
    """Methods by name, each followed by its controls (MEMLA, then memla-random, memla-lora, ...)."""
    base = sorted((t for t in tunings if not t.control_of), key=lambda t: (t.method, str(t.dir)))
    out = []
    for t in base:
        out.append(t)
        out += sorted((c for c in tunings if c.control_of == t.method), key=lambda c: (c.method, str(c.dir)))
    return out + [t for t in tunings if t not in out]


def label(t: Tuning, tunings: list[Tuning]) -> str:
    twins = [o for o in tunings if o.method == t.method]
    name = t.method + (f" (control of {t.control_of})" if t.control_of else "")
    return name + (f" [{t.dir.name}]" if len(twins) > 1 else "")


def matched(a: Tuning, b: Tuning) -> str | None:
    """Why a and b cannot be compared on the test split (None: they can)."""
    if a.test is None or b.test is None or not a.test_records or not b.test_records:
        return "no test run (tune --evaluate-test)"
    for what, get in (("locality floor", lambda t: t.floor), ("model", lambda t: t.config.get("model")),
                      ("test data", lambda t: t.test.get("test_data")), ("test cases", lambda t: t.test.get("n_cases")),
                      ("transfer objective", lambda t: t.transfer_kind)):
        if get(a) != get(b):
            return f"different {what}"
    return None


def pairs(tunings: list[Tuning]) -> list[tuple[Tuning, Tuning]]:
    """Every two methods that are not controls, and every control against the method it controls."""
    plain = [t for t in tunings if not t.control_of]
    out = list(itertools.combinations(plain, 2))
    out += [(base, c) for c in tunings if c.control_of for base in tunings if base.method == c.control_of]
    return out


def differences(tunings: list[Tuning]) -> list[dict]:
    """Per pair: A - B in test transfer and locality, with paired bootstrap intervals over shared cases."""
    out = []
    for a, b in pairs(tunings):
        row = {"a": label(a, tunings), "b": label(b, tunings), "why_not": matched(a, b),
               "same_budget": a.budget == b.budget}
        if row["why_not"] is None:
            row["transfer"] = paired_difference(a.test_records, b.test_records, a.transfer_kind, "answer_em",
                                                other_languages=True)
            row["locality"] = paired_difference(a.test_records, b.test_records, "locality", "answer_unchanged")
        out.append(row)
    return out


def chosen_rows(tunings: list[Tuning]) -> list[list[str]]:
    rows = []
    for t in tunings:
        c = (t.chosen or {}).get("chosen")
        n_trials = (t.chosen or {}).get("finished")
        dev = ("n/a", "n/a") if c is None else (pct(c["transfer"]), pct(c["locality"]))
        floor = "n/a" if t.floor is None else f"{t.floor:g}"
        meets = "n/a" if c is None else ("yes" if c["meets_floor"] else "NO")
        test = t.test
        rows.append([label(t, tunings), f"{n_trials}/{t.config.get('trials')} × {t.record.get('n_dev_cases')}",
                     floor, "n/a" if c is None else str(c["number"]), meets, dev[0], dev[1],
                     "n/a" if test is None else f"{pct(test['transfer'])} {interval(test.get('transfer_ci95'))}",
                     "n/a" if test is None else f"{pct(test['locality'])} {interval(test.get('locality_ci95'))}",
                     "n/a" if test is None else str(test["n_cases"])])
    return rows


CHOSEN_HEADER = ["method", "trials × dev cases", "locality floor", "chosen trial", "meets floor",
                 "dev transfer %", "dev locality %", "test transfer % [95% CI]", "test locality % [95% CI]",
                 "test cases"]


def difference_rows(diffs: list[dict]) -> list[list[str]]:
    rows = []
    for d in diffs:
        if d["why_not"]:
            rows.append([f"{d['a']} − {d['b']}", "n/a", "n/a", "n/a", f"not compared: {d['why_not']}"])
            continue
        t, loc = d["transfer"], d["locality"]
        note = "" if d["same_budget"] else "budgets differ (trials, dev cases or dev data)"
        rows.append([f"{d['a']} − {d['b']}", f"{pct(t['diff'])} {interval(t['ci95'])}", f"{t['p_value']:.3f}",
                     f"{pct(loc['diff'])} {interval(loc['ci95'])}", note or f"{t['n_cases']} shared test cases"])
    return rows


DIFF_HEADER = ["A − B (test split)", "transfer, points [95% CI]", "p (bootstrap)", "locality, points [95% CI]", "note"]
