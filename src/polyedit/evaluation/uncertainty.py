"""95% intervals for the summary's means, and the paired difference between two methods.

Probes of one case are not independent (the same edit, asked in 12 languages and four ways), so the
resampling unit is the case: a percentile bootstrap over cases, recomputing in every resample the same
statistic the summary reports (the mean over languages of each language's mean over its probes). With
one language this is the cluster bootstrap of that language's mean; with 0/1 metrics it needs no normal
approximation (a Wilson interval would treat the probes as independent and come out too narrow).

`paired_bootstrap` resamples the cases two runs share with the same draws for both, so the interval of
the difference reflects only how the methods differ on the same cases.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

RESAMPLES = 1000
SEED = 0
CI_METHOD = (f"95% percentile bootstrap over cases (B={RESAMPLES}, seed {SEED}); each resample recomputes "
             "the mean over languages of the per-language means")

Row = tuple[str, str, float]  # (case_id, language, value)


def _matrices(rows: Iterable[Row], cases: list[str] | None = None):
    rows = list(rows)
    cases = cases if cases is not None else sorted({r[0] for r in rows})
    langs = sorted({r[1] for r in rows})
    ci, li = {c: i for i, c in enumerate(cases)}, {x: j for j, x in enumerate(langs)}
    s, n = np.zeros((len(cases), len(langs))), np.zeros((len(cases), len(langs)))
    for c, lang, v in rows:
        if c in ci:
            s[ci[c], li[lang]] += v
            n[ci[c], li[lang]] += 1
    return s, n


def _macro(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean over languages (last axis) of sum/count, ignoring languages without probes."""
    with np.errstate(invalid="ignore", divide="ignore"):
        per_lang = s / n
    return np.nanmean(np.where(n > 0, per_lang, np.nan), axis=-1)


def macro_mean(rows: Iterable[Row]) -> float:
    s, n = _matrices(rows)
    return float(_macro(s.sum(0), n.sum(0)))


def _weights(n_cases: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_cases, np.full(n_cases, 1 / n_cases), size=resamples).astype(float)


def bootstrap_ci(rows: Iterable[Row], resamples: int = RESAMPLES, seed: int = SEED) -> list[float]:
    """[low, high] of the mean over languages, resampling cases; a single case gives a zero-width interval."""
    s, n = _matrices(rows)
    if s.size == 0:
        return [float("nan"), float("nan")]
    w = _weights(s.shape[0], resamples, seed)
    with np.errstate(invalid="ignore"):  # a resample may miss a language entirely: it is left out there
        stats = _macro(w @ s, w @ n)
    lo, hi = np.nanpercentile(stats, [2.5, 97.5])
    return [float(lo), float(hi)]


def paired_bootstrap(a: Iterable[Row], b: Iterable[Row], resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """Mean over languages of run `a` minus run `b`, on the cases both scored: the difference, its 95%
    interval, and the share of resamples in which the sign flips (a two-sided bootstrap p-value)."""
    a, b = list(a), list(b)
    shared = sorted({r[0] for r in a} & {r[0] for r in b})
    if not shared:
        raise ValueError("the two runs share no case")
    sa, na = _matrices(a, shared)
    sb, nb = _matrices(b, shared)
    diff = float(_macro(sa.sum(0), na.sum(0)) - _macro(sb.sum(0), nb.sum(0)))
    w = _weights(len(shared), resamples, seed)
    with np.errstate(invalid="ignore"):
        stats = _macro(w @ sa, w @ na) - _macro(w @ sb, w @ nb)
    lo, hi = np.nanpercentile(stats, [2.5, 97.5])
    flips = float(np.mean(stats <= 0) if diff > 0 else np.mean(stats >= 0))
    return {"diff": diff, "ci95": [float(lo), float(hi)], "p_value": min(1.0, 2 * flips), "n_cases": len(shared),
            "method": CI_METHOD.replace("95% percentile bootstrap over cases", "paired percentile bootstrap over shared cases")}
