"""Discretization and discrete mutual information shared by the information-based metrics."""
from __future__ import annotations

import numpy as np


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Per-dimension histogram bin index with ``bins`` equal-width bins (disentanglement_lib's default)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(code_j; factor_k) in nats, [D, K]."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(factors[:, k], discrete_codes[:, j]) for k in range(factors.shape[1])] for j in range(discrete_codes.shape[1])])


def entropies(factors: np.ndarray) -> np.ndarray:
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])
