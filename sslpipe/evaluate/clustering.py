"""Clustering quality: does k-means on the codes recover a label? (NMI and ARI)"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

from ..core.schema import check, positive
from .base import EvalContext, metric


def kmeans_scores(z: np.ndarray, y: np.ndarray, n_clusters: int | None = None, seed: int = 0, n_init: int = 3) -> dict[str, float]:
    """k-means (k = number of classes) on standardized codes against the labels: NMI and ARI.

    Both are 1 for a perfect match and about 0 for a random assignment (ARI is chance-corrected).
    """
    k = n_clusters or len(np.unique(y))
    pred = KMeans(k, n_init=n_init, random_state=seed).fit_predict(StandardScaler().fit_transform(z))
    return {"nmi": float(normalized_mutual_info_score(y, pred)), "ari": float(adjusted_rand_score(y, pred))}


@dataclass
class KMeansParams:
    n_init: int = check(3, positive, help="k-means restarts.")


@metric("kmeans", Params=KMeansParams, keys="kmeans/<nmi|ari>/<focus target>", paper="k-means clustering (NMI, ARI)", columns=("kmeans/nmi/{t}",))
def kmeans(ctx: EvalContext, p: KMeansParams) -> dict[str, float]:
    """k-means on the test codes against the focus target: NMI and ARI."""
    t = ctx.focus
    return {f"kmeans/{k}/{t}": v for k, v in kmeans_scores(ctx.emb.test_z, ctx.emb.target(t, "test"), seed=ctx.seed, n_init=p.n_init).items()}
