"""SAP, the Separated Attribute Predictability score (Kumar et al. 2018)."""
from __future__ import annotations

import numpy as np

from ..base import EvalContext, NoParams, metric, with_factors
from ..uncertainty import resample_counts, rng_for, summarize, weighted_accuracy


def _gap(scores: np.ndarray) -> np.ndarray:
    """Mean over factors of the gap between the two most predictive dimensions; scores [..., D, K]."""
    if scores.shape[-2] < 2:
        return scores.mean(axis=(-2, -1))
    top = np.sort(scores, axis=-2)[..., ::-1, :]
    return np.mean(top[..., 0, :] - top[..., 1, :], axis=-1)


def _r2_matrix(moments: np.ndarray, d: int, k: int) -> np.ndarray:
    """R^2 [..., D, K] of 1-D regressions from weighted moments [..., 1 + 2D + 2K + DK] of centred data."""
    n = moments[..., :1]
    m = moments[..., 1:] / n
    mz, mz2 = m[..., :d], m[..., d:2 * d]
    mv, mv2 = m[..., 2 * d:2 * d + k], m[..., 2 * d + k:2 * d + 2 * k]
    mzv = m[..., 2 * d + 2 * k:].reshape(m.shape[:-1] + (d, k))
    cov = mzv - mz[..., :, None] * mv[..., None, :]
    den = (mz2 - mz**2)[..., :, None] * (mv2 - mv**2)[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, cov**2 / np.where(den > 0, den, 1.0), 0.0)


def _moment_columns(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    z, v = z - z.mean(0), v - v.mean(0)  # centred: R^2 is shift-invariant, and the sums lose fewer digits
    return np.concatenate([np.ones((len(z), 1)), z, z**2, v, v**2, (z[:, :, None] * v[:, None, :]).reshape(len(z), -1)], axis=1)


def sap(codes_train, factors_train, codes_test, factors_test, continuous: bool = False, seed: int = 0, n_boot: int = 0) -> dict[str, float]:
    """SAP = mean_k (s[j1, k] - s[j2, k]), j1/j2 the two dimensions that best predict factor k.

    Discrete (default, as Locatello et al. 2019): s[j, k] is the test accuracy of a linear SVM
    (C = 0.01, balanced classes) on the single dimension j.  Continuous: s[j, k] is the R^2 of
    a 1-D linear regression, cov(z_j, v_k)^2 / (var z_j var v_k), on the training codes.
    ``n_boot`` > 0 adds ``<key>/se`` and a 95% percentile interval from a bootstrap over the
    codes the scores are measured on (test codes, the SVMs fixed; training codes for the
    continuous variant).
    """
    from sklearn.svm import LinearSVC

    d, k = codes_train.shape[1], factors_train.shape[1]
    key = "sap_continuous" if continuous else "sap"
    if continuous:
        s = np.zeros((d, k))
        for j in range(d):
            for f in range(k):
                zc, vc = codes_train[:, j] - codes_train[:, j].mean(), factors_train[:, f] - factors_train[:, f].mean()
                den = (zc @ zc) * (vc @ vc)
                s[j, f] = (zc @ vc) ** 2 / den if den > 0 else 0.0
        value = float(_gap(s))
        if not n_boot:
            return {key: value}
        cols = _moment_columns(np.asarray(codes_train, np.float64), np.asarray(factors_train, np.float64))
        w = resample_counts(len(cols), n_boot, rng_for(seed, key))
        return summarize(key, value, _gap(_r2_matrix(w @ cols, d, k)))
    correct = np.zeros((len(codes_test), d, k), bool)
    for j in range(d):
        for f in range(k):
            if len(np.unique(factors_train[:, f])) > 1:
                clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed).fit(codes_train[:, j:j + 1], factors_train[:, f])
                correct[:, j, f] = clf.predict(codes_test[:, j:j + 1]) == factors_test[:, f]
    value = float(_gap(correct.mean(axis=0)))
    if not n_boot:
        return {key: value}
    w = resample_counts(len(codes_test), n_boot, rng_for(seed, key))
    return summarize(key, value, _gap(weighted_accuracy(correct, w)))


@metric("sap", applies=with_factors, keys="sap, sap_continuous", paper="Kumar et al. (2018); Locatello et al. (2019)", columns=("sap",))
def sap_metric(ctx: EvalContext, p: NoParams) -> dict[str, float]:
    """SAP for discrete factors (linear SVMs) and with continuous factors (R^2 of 1-D regressions)."""
    e = ctx.emb
    ztr, ftr, zte, fte = e.train_z, e.factors("train"), e.test_z, e.factors("test")
    return sap(ztr, ftr, zte, fte, seed=ctx.seed, n_boot=ctx.n_boot) | sap(ztr, ftr, zte, fte, continuous=True, seed=ctx.seed, n_boot=ctx.n_boot)
