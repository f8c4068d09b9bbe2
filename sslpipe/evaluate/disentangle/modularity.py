"""Modularity and explicitness (Ridgeway & Mozer 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import discretize, mutual_info_matrix
from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors
from ..uncertainty import mutual_info_replicates, resample_counts, rng_for, summarize, weighted_auc


def modularity(mi: np.ndarray) -> float | np.ndarray:
    """Mean over codes of 1 - sum_k (m_jk - t_jk)^2 / (theta_j^2 (K - 1)), t_j = m_j's ideal one-hot.

    ``mi`` [..., D, K]: mutual information of each code with each factor.  A code informative
    about one factor only scores 1; a code with no information is counted 0 (disentanglement_lib).
    """
    d, k = mi.shape[-2:]
    if k < 2:
        return 1.0 if mi.ndim == 2 else np.ones(mi.shape[:-2])
    theta = mi.max(axis=-1)
    template = np.where(np.arange(k) == mi.argmax(axis=-1)[..., None], theta[..., None], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = ((mi - template) ** 2).sum(axis=-1) / (theta**2 * (k - 1))
    per_code = np.where(theta > 0, 1.0 - delta, 0.0)
    return float(per_code.mean()) if mi.ndim == 2 else per_code.mean(axis=-1)


def _mean_ovr_auc(clf, x, y) -> tuple[float, np.ndarray, list]:
    from sklearn.metrics import roc_auc_score

    proba = clf.predict_proba(x)
    used = [(i, c) for i, c in enumerate(clf.classes_) if 0 < np.sum(y == c) < len(y)]
    aucs = [roc_auc_score(y == c, proba[:, i]) for i, c in used]
    return (float(np.mean(aucs)) if aucs else 0.5), proba, used


def explicitness(codes_train, factors_train, codes_test, factors_test, seed: int = 0, n_boot: int = 0) -> dict[str, float]:
    """Mean over factors of the one-vs-rest ROC-AUC of logistic regression predicting the factor from the code.

    ``n_boot`` > 0 adds ``explicitness/se`` and a 95% percentile interval from a bootstrap over
    the test codes, the regressions fixed.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(codes_train)
    ztr, zte = scaler.transform(codes_train), scaler.transform(codes_test)
    te, per_factor = [], []
    w = resample_counts(len(zte), n_boot, rng_for(seed, "explicitness")) if n_boot else None
    for f in range(factors_train.shape[1]):
        if len(np.unique(factors_train[:, f])) < 2:
            continue
        clf = LogisticRegression(max_iter=300, random_state=seed).fit(ztr, factors_train[:, f])
        auc, proba, used = _mean_ovr_auc(clf, zte, factors_test[:, f])
        te.append(auc)
        if w is not None:
            reps = [weighted_auc(proba[:, i], factors_test[:, f] == c, w) for i, c in used]
            per_factor.append(np.nanmean(np.stack(reps), axis=0) if reps else np.full(len(w), 0.5))
    value = float(np.mean(te)) if te else 0.5
    if w is None:
        return {"explicitness": value}
    return summarize("explicitness", value, np.mean(per_factor, axis=0) if per_factor else np.full(len(w), 0.5))


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, bins: int = 20, seed: int = 0,
                            n_boot: int = 0) -> dict[str, float]:
    """Modularity from the 20-bin discretized mutual-information matrix (Locatello et al. 2019's
    default), explicitness from logistic regression ROC-AUC.  ``n_boot`` > 0 adds standard errors
    and 95% intervals: modularity from a bootstrap over the training codes (bins kept; the basic
    interval, as plug-in MI is biased: see ``evaluate.uncertainty``), explicitness over the test codes."""
    dz = discretize(codes_train, bins)
    value = modularity(mutual_info_matrix(dz, factors_train))
    out = explicitness(codes_train, factors_train, codes_test, factors_test, seed, n_boot)
    if not n_boot:
        return {"modularity": value, **out}
    w = resample_counts(len(dz), n_boot, rng_for(seed, "modularity"))
    return summarize("modularity", value, modularity(mutual_info_replicates(dz, factors_train, w)), "basic") | out


@dataclass
class ModularityParams:
    bins: int = check(20, positive, help="histogram bins of the modularity MI matrix (Locatello et al.: 20).")
    max_train: int = check(10_000, positive, help="training codes of the explicitness regressions (Locatello et al.: 10,000).")


@metric("modularity", Params=ModularityParams, applies=with_factors, keys="modularity, explicitness",
        paper="Ridgeway & Mozer (2018); Locatello et al. (2019)", columns=("modularity",))
def modularity_metric(ctx: EvalContext, p: ModularityParams) -> dict[str, float]:
    """Modularity of the discretized MI matrix and explicitness (one-vs-rest logistic AUC)."""
    e, n = ctx.emb, p.max_train
    return modularity_explicitness(e.train_z[:n], e.factors("train")[:n], e.test_z, e.factors("test"), p.bins, seed=ctx.seed,
                                   n_boot=ctx.n_boot)
