"""evaluation/uncertainty.py against known answers: the 95% bootstrap interval covers the truth in about
95% of datasets drawn from a known distribution, and the paired p-value equals the exact binomial one."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from polyedit.evaluation.uncertainty import bootstrap_ci, paired_bootstrap


def test_the_95_percent_interval_covers_the_true_mean_in_about_95_percent_of_draws():
    # 300 datasets of 50 cases from N(0.3, 1), fixed seeds: the 95% interval covers 0.3 in 93.3% of them
    # (the percentile bootstrap runs a little short at 50 cases); a 90% interval covers it in 88%, a 99% one
    # in 97.7%, both outside the band
    rng = np.random.default_rng(12345)
    truth, n, draws = 0.3, 50, 300
    covered = 0
    for d in range(draws):
        values = rng.normal(truth, 1.0, n)
        lo, hi = bootstrap_ci([(f"c{i}", "en", float(v)) for i, v in enumerate(values)], resamples=400, seed=d)
        covered += lo <= truth <= hi
    assert 0.91 <= covered / draws <= 0.97, covered / draws


def test_the_interval_ends_are_the_bootstrap_distributions_percentiles():
    # one language, 10 cases of which 7 are right: a resample's mean is Binomial(10, 0.7) / 10, whose 2.5%
    # and 97.5% points are 0.4 and 1.0
    rows = [(f"c{i}", "en", float(i < 7)) for i in range(10)]
    assert bootstrap_ci(rows, resamples=20000) == [0.4, 1.0]


def _binom_cdf(k: int, n: int, p: float) -> float:
    return sum(comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k + 1))


def test_the_paired_p_value_is_the_exact_binomial_one():
    # 10 shared cases: A beats B on 7 (+1), loses on 3 (-1). A resampled difference is (2X - 10) / 10 with
    # X ~ Binomial(10, 0.7); it is <= 0 when X <= 5, so the two-sided p-value is 2 P(X <= 5) = 0.3005
    a = [(f"c{i}", "en", float(i < 7)) for i in range(10)]
    b = [(f"c{i}", "en", float(i >= 7)) for i in range(10)]
    exact = 2 * _binom_cdf(5, 10, 0.7)
    d = paired_bootstrap(a, b, resamples=40000)
    assert d["diff"] == pytest.approx(0.4)
    assert d["p_value"] == pytest.approx(exact, abs=0.015)  # Monte Carlo error ~0.005
    assert d["ci95"] == pytest.approx([-0.2, 1.0])  # the 2.5% and 97.5% points of (2X - 10) / 10
