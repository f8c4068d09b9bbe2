"""Modularity and explicitness (Ridgeway & Mozer 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from ._util import discretize, mutual_info_matrix
from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors


def modularity(mi: np.ndarray) -> float:
    """Mean over codes of 1 - sum_k (m_jk - t_jk)^2 / (theta_j^2 (K - 1)), t_j = m_j's ideal one-hot.

    ``mi`` [D, K]: mutual information of each code with each factor.  A code informative about
    one factor only scores 1; a code with no information is counted 0 (disentanglement_lib).
    """
    d, k = mi.shape
    if k < 2:
        return 1.0
    theta = mi.max(axis=1)
    template = np.zeros_like(mi)
    template[np.arange(d), mi.argmax(axis=1)] = theta
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = ((mi - template) ** 2).sum(axis=1) / (theta**2 * (k - 1))
    per_code = np.where(theta > 0, 1.0 - delta, 0.0)
    return float(per_code.mean())


def _mean_ovr_auc(clf, x, y) -> float:
    proba = clf.predict_proba(x)
    aucs = [roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(clf.classes_) if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(aucs)) if aucs else 0.5


def explicitness(codes_train, factors_train, codes_test, factors_test, seed: int = 0) -> dict[str, float]:
    """Mean over factors of the one-vs-rest ROC-AUC of logistic regression predicting the factor from the code."""
    scaler = StandardScaler().fit(codes_train)
    ztr, zte = scaler.transform(codes_train), scaler.transform(codes_test)
    te = []
    for f in range(factors_train.shape[1]):
        if len(np.unique(factors_train[:, f])) < 2:
            continue
        clf = LogisticRegression(max_iter=300, random_state=seed).fit(ztr, factors_train[:, f])
        te.append(_mean_ovr_auc(clf, zte, factors_test[:, f]))
    return {"explicitness": float(np.mean(te)) if te else 0.5}


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, bins: int = 20, seed: int = 0) -> dict[str, float]:
    """Modularity from the 20-bin discretized mutual-information matrix (Locatello et al. 2019's
    default), explicitness from logistic regression ROC-AUC."""
    mi = mutual_info_matrix(discretize(codes_train, bins), factors_train)
    return {"modularity": modularity(mi), **explicitness(codes_train, factors_train, codes_test, factors_test, seed)}


@dataclass
class ModularityParams:
    bins: int = check(20, positive, help="histogram bins of the modularity MI matrix (Locatello et al.: 20).")
    max_train: int = check(10_000, positive, help="training codes of the explicitness regressions (Locatello et al.: 10,000).")


@metric("modularity", Params=ModularityParams, applies=with_factors, keys="modularity, explicitness",
        paper="Ridgeway & Mozer (2018); Locatello et al. (2019)", columns=("modularity",))
def modularity_metric(ctx: EvalContext, p: ModularityParams) -> dict[str, float]:
    """Modularity of the discretized MI matrix and explicitness (one-vs-rest logistic AUC)."""
    e, n = ctx.emb, p.max_train
    return modularity_explicitness(e.train_z[:n], e.factors("train")[:n], e.test_z, e.factors("test"), p.bins, seed=ctx.seed)
