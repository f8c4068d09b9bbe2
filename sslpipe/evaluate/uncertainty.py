"""Uncertainty of a metric from its evaluation sample, reported beside it as ``<key>/se`` (and CIs).

Every metric here is a statistic of a finite sample of codes, so it comes with the spread that
sample gives it:

- a classification accuracy on ``n`` evaluation points gets the binomial standard error
  ``sqrt(p (1 - p) / n)`` (``<key>/se``);
- every other score gets a nonparametric bootstrap over its evaluation codes (Efron &
  Tibshirani 1993): ``n_boot`` resamples with replacement, the score recomputed on each with the
  fitted classifiers held fixed (as for an accuracy: the spread of the evaluation sample, not of
  training), giving ``<key>/se`` (the replicates' standard deviation) and a 95% interval
  ``<key>/ci_low``, ``<key>/ci_high``: the percentile interval, or for the plug-in
  mutual-information scores (MIG, modularity) the basic bootstrap interval
  ``[2 v - q_high, 2 v - q_low]`` (Davison & Hinkley 1997, eq. 5.6).  Plug-in MI is biased
  upwards at small samples and a resample (about 63% distinct codes) is biased further, so
  their percentile interval lies beside the estimate and never covers the population value
  (modularity of 3,000 codes: 0 of 40 simulated samples, ``tests/evaluate/test_uncertainty.py``);
  the basic interval reflects that bias back and covers it in 37 of 40 (in 55% at 600 codes:
  there the bias exceeds the spread, which the fidelity table in docs/evaluation.md measures).

A resample is a vector of counts (how often each code was drawn), so a score that is a smooth
function of weighted sums is recomputed for all resamples at once as a matrix product.
"""
from __future__ import annotations

import zlib

import numpy as np

SUFFIXES = ("/se", "/ci_low", "/ci_high")
LEVEL = 0.95


def is_uncertainty_key(key: str) -> bool:
    """True for the ``/se``, ``/ci_low``, ``/ci_high`` keys that accompany a metric."""
    return key.endswith(SUFFIXES)


def renamed(res: dict[str, float], name) -> dict[str, float]:
    """``res`` with each metric key renamed by ``name(key)``, its uncertainty keys following it."""
    out = {}
    for key, v in res.items():
        suffix = next((sfx for sfx in SUFFIXES if key.endswith(sfx)), "")
        out[name(key[:len(key) - len(suffix)]) + suffix] = v
    return out


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` independent evaluation points."""
    return float(np.sqrt(max(p * (1.0 - p), 0.0) / n)) if n > 0 else float("nan")


def with_binomial(key: str, p: float, n: int) -> dict[str, float]:
    """``{key: p, key/se: binomial standard error}``."""
    return {key: float(p), f"{key}/se": binomial_se(p, n)}


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The bootstrap generator of one metric: fixed by the study seed and the metric's name."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n] float64: how often each of ``n`` points is drawn in each bootstrap resample."""
    idx = rng.integers(0, n, size=(n_boot, n))
    return np.bincount((idx + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def summarize(key: str, value: float, replicates: np.ndarray, interval: str = "percentile") -> dict[str, float]:
    """``{key: value, key/se, key/ci_low, key/ci_high}`` from bootstrap replicates (NaN replicates dropped).

    ``interval``: ``"percentile"`` (the replicates' 2.5% and 97.5% quantiles) or ``"basic"``
    (those quantiles reflected about ``value``: for a biased statistic, see the module docstring).
    """
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if len(reps) < 2:
        return {key: float(value), f"{key}/se": float("nan"), f"{key}/ci_low": float("nan"), f"{key}/ci_high": float("nan")}
    tail = 100 * (1 - LEVEL) / 2
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    if interval == "basic":
        lo, hi = 2 * value - hi, 2 * value - lo
    elif interval != "percentile":
        raise ValueError(f"interval must be 'percentile' or 'basic', not {interval!r}")
    return {key: float(value), f"{key}/se": float(reps.std(ddof=1)), f"{key}/ci_low": float(lo), f"{key}/ci_high": float(hi)}


def weighted_accuracy(correct: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Accuracies [B, ...] of per-point correctness ``correct`` [N, ...] under resample counts ``w`` [B, N]."""
    c = np.asarray(correct, dtype=np.float64).reshape(len(correct), -1)
    return (w @ c / w.sum(axis=1, keepdims=True)).reshape((len(w),) + np.shape(correct)[1:])


def weighted_auc(scores: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC-AUC [B] of ``scores`` [N] for the boolean labels ``positive`` [N] under counts ``w`` [B, N].

    The Mann-Whitney form with ties counted one half, as ``sklearn.metrics.roc_auc_score``;
    NaN for a resample without positives or negatives.
    """
    uniq, group = np.unique(scores, return_inverse=True)
    g, b = len(uniq), len(w)
    flat = (group[None, :] + g * np.arange(b)[:, None]).ravel()
    pos = np.bincount(flat, weights=(w * positive).ravel(), minlength=b * g).reshape(b, g)
    neg = np.bincount(flat, weights=(w * ~positive).ravel(), minlength=b * g).reshape(b, g)
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg), np.nan)


def weighted_counts(index: np.ndarray, size: int, w: np.ndarray) -> np.ndarray:
    """[B, size] histograms of the integer ``index`` [N] (values in [0, size)) under counts ``w`` [B, N]."""
    b = len(w)
    flat = (np.asarray(index)[None, :] + size * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, weights=w.ravel(), minlength=b * size).reshape(b, size)


def mutual_info_from_counts(joint: np.ndarray) -> np.ndarray:
    """Mutual information (nats) of contingency tables ``joint`` [..., X, Y] (``sklearn.metrics.mutual_info_score``)."""
    n = joint.sum(axis=(-2, -1), keepdims=True)
    p = joint / n
    px, py = p.sum(-1, keepdims=True), p.sum(-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / (px * py)), 0.0)
    return np.clip(terms.sum(axis=(-2, -1)), 0.0, None)


def entropy_from_counts(counts: np.ndarray) -> np.ndarray:
    """Entropy (nats) of histograms [..., X]."""
    p = counts / counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def mutual_info_replicates(discrete_codes: np.ndarray, factors: np.ndarray, w: np.ndarray) -> np.ndarray:
    """I(code_j; factor_k) [B, D, K] of discretized codes [N, D] and factors [N, K] under counts ``w`` [B, N]."""
    d, k = discrete_codes.shape[1], factors.shape[1]
    out = np.zeros((len(w), d, k))
    zs = [np.unique(discrete_codes[:, j], return_inverse=True)[1].reshape(-1) for j in range(d)]
    vs = [np.unique(factors[:, f], return_inverse=True)[1].reshape(-1) for f in range(k)]
    for j, zj in enumerate(zs):
        nz = zj.max() + 1
        for f, vf in enumerate(vs):
            nv = vf.max() + 1
            out[:, j, f] = mutual_info_from_counts(weighted_counts(zj * nv + vf, nz * nv, w).reshape(len(w), nz, nv))
    return out


def factor_entropy_replicates(factors: np.ndarray, w: np.ndarray) -> np.ndarray:
    """H(factor_k) [B, K] under counts ``w``."""
    cols = [np.unique(factors[:, f], return_inverse=True)[1].reshape(-1) for f in range(factors.shape[1])]
    return np.stack([entropy_from_counts(weighted_counts(c, c.max() + 1, w)) for c in cols], axis=1)
