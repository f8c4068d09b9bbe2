"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier

from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors


def _entropy_norm(p: np.ndarray, base: int) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-12)
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(-1) / np.log(base)


def _fit_factor(codes_train, factor_train, codes_test, factor_test, n_estimators: int, seed: int) -> tuple[np.ndarray, float]:
    clf = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed).fit(codes_train, factor_train)
    return np.abs(clf.feature_importances_), clf.score(codes_test, factor_test)


def dci(codes_train, factors_train, codes_test, factors_test, n_estimators: int = 100, max_train: int = 10_000, seed: int = 0,
        n_jobs: int = 1) -> dict[str, float]:
    """Importance matrix R[d, k] from one gradient-boosted-trees classifier per factor.

    disentanglement = sum_d rho_d (1 - H_K(R[d, :])), rho_d = code d's share of importance;
    completeness = mean_k (1 - H_D(R[:, k])); informativeness = mean test accuracy.
    Locatello et al. (2019) use sklearn's GradientBoostingClassifier with its defaults
    (100 trees), the default here; the study's cheaper value is set in params.yaml.  The factors'
    classifiers are independent and fitted on ``n_jobs`` threads (tree building releases the
    GIL); the result does not depend on ``n_jobs``.
    """
    zt, ft = codes_train[:max_train], factors_train[:max_train]
    d, k = codes_train.shape[1], factors_train.shape[1]
    fits = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_factor)(zt, ft[:, j], codes_test, factors_test[:, j], n_estimators, seed) for j in range(k))
    r = np.stack([imp for imp, _ in fits], axis=1)
    acc = [score for _, score in fits]
    dis_per_code = 1.0 - _entropy_norm(r, k)
    rho = r.sum(1) / max(r.sum(), 1e-12)
    comp_per_factor = 1.0 - _entropy_norm(r.T, d) if d > 1 else np.ones(k)
    return {"disentanglement": float((rho * dis_per_code).sum()), "completeness": float(comp_per_factor.mean()), "informativeness": float(np.mean(acc))}


@dataclass
class DciParams:
    n_estimators: int = check(100, positive, help="trees per factor classifier (sklearn's default, used by Locatello et al.: 100).")
    max_train: int = check(10_000, positive, help="training codes of the classifiers (Locatello et al.: 10,000).")


@metric("dci", Params=DciParams, applies=with_factors, keys="dci/disentanglement, dci/completeness, dci/informativeness",
        paper="Eastwood & Williams (2018); Locatello et al. (2019)", columns=("dci/disentanglement",))
def dci_metric(ctx: EvalContext, p: DciParams) -> dict[str, float]:
    """DCI from gradient-boosted trees, one per factor, fitted on ``max_train`` training codes."""
    e, n = ctx.emb, p.max_train
    res = dci(e.train_z[:n], e.factors("train")[:n], e.test_z, e.factors("test"), n_estimators=p.n_estimators, seed=ctx.seed, n_jobs=ctx.n_jobs)
    return {f"dci/{k}": v for k, v in res.items()}
