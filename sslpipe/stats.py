"""Statistics across seeds: a metric's mean, spread and confidence interval, and a method against a baseline.

Seeds and hyperparameters move the metrics of self-supervised and disentangling models as much
as the choice of method does (Locatello et al. 2019), so a comparison is only stated with its
evidence: the difference of the means with its 95% confidence interval and a t-test across
seeds (Welch's, which does not assume equal variances).  Pure functions of lists of numbers;
scipy does the distributions.
"""
from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95  # confidence level of every interval
ALPHA = 1 - LEVEL  # significance level of every test

#: the verdicts of :func:`compare`
YES, NO, NOT_SIGNIFICANT, CANNOT_CLAIM = "yes", "no", "not significant", "cannot claim"


def _finite(values) -> np.ndarray:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    return x[np.isfinite(x)]


def describe(values) -> dict:
    """Mean, sample standard deviation and the t-based 95% confidence interval of the mean.

    ``sd`` and ``ci95`` are None for a single value (no spread can be estimated); a zero
    spread gives the degenerate interval [mean, mean].
    """
    from scipy import stats

    x = _finite(values)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "ci95": None}
    sd = float(x.std(ddof=1))
    if sd == 0:
        ci = (mean, mean)
    else:
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(LEVEL)
    return {"n": n, "mean": mean, "sd": sd, "ci95": [float(ci[0]), float(ci[1])]}


def fdr_adjust(pvalues) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values) of a family of tests; None stays None.

    A study makes one test per (dataset, method, variant) against random_init; with 40 rows
    about two would be significant at 0.05 by chance alone.  Declaring the rows with q < 0.05
    significant keeps the expected share of false claims among them at 5% (Benjamini &
    Hochberg 1995; ``scipy.stats.false_discovery_control``).
    """
    from scipy import stats

    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if idx:
        for i, q in zip(idx, stats.false_discovery_control([pvalues[i] for i in idx], method="bh")):
            out[i] = float(q)
    return out


def compare(values, baseline) -> dict:
    """``values`` (a method's metric over its seeds) against ``baseline`` (e.g. random_init's).

    Returns the difference of means ``diff`` with its 95% interval ``diff_ci95``, the test and
    its two-sided p-value, and the verdict: ``yes`` (significantly higher), ``no``
    (significantly lower), ``not significant``, or ``cannot claim`` when neither side has two
    seeds.  With two or more seeds on both sides the test is Welch's t; when one side has a
    single seed the other side's seed variance stands for both (Student's t: is the single
    value outside the other's seed spread?), which the ``test`` field says.
    """
    from scipy import stats

    a, b = _finite(values), _finite(baseline)
    na, nb = len(a), len(b)
    out = {"n": na, "n_baseline": nb, "diff": None, "diff_ci95": None, "test": None, "p": None, "verdict": CANNOT_CLAIM}
    if na == 0 or nb == 0:
        return out
    diff = float(a.mean() - b.mean())
    out["diff"] = diff
    if na < 2 and nb < 2:
        return out
    va = float(a.var(ddof=1)) if na > 1 else 0.0
    vb = float(b.var(ddof=1)) if nb > 1 else 0.0
    if va == 0 and vb == 0:  # no spread on either side: the difference is exact
        out.update(diff_ci95=[diff, diff], test="exact (no spread)", p=1.0 if diff == 0 else 0.0)
    elif na >= 2 and nb >= 2:
        res = stats.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(LEVEL)
        out.update(diff_ci95=[float(ci[0]), float(ci[1])], test="Welch t", p=float(res.pvalue))
    else:
        df = na + nb - 2
        res = stats.ttest_ind_from_stats(a.mean(), math.sqrt(va), na, b.mean(), math.sqrt(vb), nb, equal_var=True)
        se = math.sqrt((((na - 1) * va + (nb - 1) * vb) / df) * (1 / na + 1 / nb))
        half = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
        out.update(diff_ci95=[diff - half, diff + half], test="Student t (1 seed)", p=float(res.pvalue))
    out["verdict"] = (YES if diff > 0 else NO) if out["p"] < ALPHA else NOT_SIGNIFICANT
    return out
