"""SAP, the Separated Attribute Predictability score (Kumar et al. 2018)."""
from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from ..base import EvalContext, NoParams, metric, with_factors


def _gap(scores: np.ndarray) -> float:
    """Mean over factors of the gap between the two most predictive dimensions; scores [D, K]."""
    if scores.shape[0] < 2:
        return float(scores.mean())
    top = np.sort(scores, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def sap(codes_train, factors_train, codes_test, factors_test, continuous: bool = False, seed: int = 0) -> dict[str, float]:
    """SAP = mean_k (s[j1, k] - s[j2, k]), j1/j2 the two dimensions that best predict factor k.

    Discrete (default, as Locatello et al. 2019): s[j, k] is the test accuracy of a linear SVM
    (C = 0.01, balanced classes) on the single dimension j.  Continuous: s[j, k] is the R^2 of
    a 1-D linear regression, cov(z_j, v_k)^2 / (var z_j var v_k), on the training codes.
    """
    d, k = codes_train.shape[1], factors_train.shape[1]
    s = np.zeros((d, k))
    for j in range(d):
        for f in range(k):
            if continuous:
                zc, vc = codes_train[:, j] - codes_train[:, j].mean(), factors_train[:, f] - factors_train[:, f].mean()
                den = (zc @ zc) * (vc @ vc)
                s[j, f] = (zc @ vc) ** 2 / den if den > 0 else 0.0
            elif len(np.unique(factors_train[:, f])) > 1:
                clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed).fit(codes_train[:, j:j + 1], factors_train[:, f])
                s[j, f] = clf.score(codes_test[:, j:j + 1], factors_test[:, f])
    return {"sap_continuous" if continuous else "sap": _gap(s)}


@metric("sap", applies=with_factors, keys="sap, sap_continuous", paper="Kumar et al. (2018); Locatello et al. (2019)", columns=("sap",))
def sap_metric(ctx: EvalContext, p: NoParams) -> dict[str, float]:
    """SAP for discrete factors (linear SVMs) and with continuous factors (R^2 of 1-D regressions)."""
    e = ctx.emb
    ztr, ftr, zte, fte = e.train_z, e.factors("train"), e.test_z, e.factors("test")
    return sap(ztr, ftr, zte, fte, seed=ctx.seed) | sap(ztr, ftr, zte, fte, continuous=True, seed=ctx.seed)
