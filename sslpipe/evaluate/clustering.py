"""Clustering quality: does k-means on the codes recover a label? (NMI and ARI)"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler


def kmeans_scores(z: np.ndarray, y: np.ndarray, n_clusters: int | None = None, seed: int = 0) -> dict[str, float]:
    """k-means (k = number of classes) on standardized codes against the labels: NMI and ARI.

    Both are 1 for a perfect match and about 0 for a random assignment (ARI is chance-corrected).
    """
    k = n_clusters or len(np.unique(y))
    pred = KMeans(k, n_init=3, random_state=seed).fit_predict(StandardScaler().fit_transform(z))
    return {"nmi": float(normalized_mutual_info_score(y, pred)), "ari": float(adjusted_rand_score(y, pred))}
