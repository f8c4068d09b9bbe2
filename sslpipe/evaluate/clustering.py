"""Clustering quality: does k-means on the codes recover a label? (NMI and ARI)"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import check, positive
from .base import EvalContext, metric
from .uncertainty import entropy_from_counts, mutual_info_from_counts, renamed, resample_counts, rng_for, summarize, weighted_counts


def _comb2(x: np.ndarray) -> np.ndarray:
    return x * (x - 1) / 2


def nmi_ari_from_counts(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NMI (arithmetic normalization) and ARI of contingency tables [..., L, C], as sklearn's scores."""
    mi = mutual_info_from_counts(joint)
    h_y, h_c = entropy_from_counts(joint.sum(-1)), entropy_from_counts(joint.sum(-2))
    with np.errstate(invalid="ignore", divide="ignore"):
        nmi = np.where((h_y == 0) & (h_c == 0), 1.0, mi / np.maximum((h_y + h_c) / 2, 1e-300))
        a, b = _comb2(joint.sum(-1)).sum(-1), _comb2(joint.sum(-2)).sum(-1)
        expected = a * b / _comb2(joint.sum(axis=(-2, -1)))
        ari = (_comb2(joint).sum(axis=(-2, -1)) - expected) / ((a + b) / 2 - expected)
    return nmi, ari


def kmeans_scores(z: np.ndarray, y: np.ndarray, n_clusters: int | None = None, seed: int = 0, n_init: int = 3,
                  n_boot: int = 0) -> dict[str, float]:
    """k-means (k = number of classes) on standardized codes against the labels: NMI and ARI.

    Both are 1 for a perfect match and about 0 for a random assignment (ARI is chance-corrected).
    ``n_boot`` > 0 adds ``<key>/se`` and 95% percentile intervals from a bootstrap over the
    points with their cluster assignments fixed.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.preprocessing import StandardScaler

    k = n_clusters or len(np.unique(y))
    pred = KMeans(k, n_init=n_init, random_state=seed).fit_predict(StandardScaler().fit_transform(z))
    out = {"nmi": float(normalized_mutual_info_score(y, pred)), "ari": float(adjusted_rand_score(y, pred))}
    if not n_boot:
        return out
    labels, clusters = np.unique(y, return_inverse=True)[1].reshape(-1), np.unique(pred, return_inverse=True)[1].reshape(-1)
    nl, nc = labels.max() + 1, clusters.max() + 1
    w = resample_counts(len(y), n_boot, rng_for(seed, "kmeans"))
    nmi, ari = nmi_ari_from_counts(weighted_counts(labels * nc + clusters, nl * nc, w).reshape(n_boot, nl, nc))
    return summarize("nmi", out["nmi"], nmi) | summarize("ari", out["ari"], ari)


@dataclass
class KMeansParams:
    n_init: int = check(3, positive, help="k-means restarts.")


@metric("kmeans", Params=KMeansParams, keys="kmeans/<nmi|ari>/<focus target>", paper="k-means clustering (NMI, ARI)", columns=("kmeans/nmi/{t}",))
def kmeans(ctx: EvalContext, p: KMeansParams) -> dict[str, float]:
    """k-means on the test codes against the focus target: NMI and ARI."""
    t = ctx.focus
    res = kmeans_scores(ctx.emb.test_z, ctx.emb.target(t, "test"), seed=ctx.seed, n_init=p.n_init, n_boot=ctx.n_boot)
    return renamed(res, lambda k: f"kmeans/{k}/{t}")
