"""Geometry of the representation on the hypersphere (Wang & Isola 2020)."""
from __future__ import annotations

import numpy as np


def _normalize(z: np.ndarray) -> np.ndarray:
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def alignment(z1: np.ndarray, z2: np.ndarray, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs of normalized codes (lower = better aligned)."""
    a, b = _normalize(z1), _normalize(z2)
    return float(np.mean(np.linalg.norm(a - b, axis=1) ** alpha))


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of normalized codes (lower = more uniform)."""
    u = _normalize(z)
    sq = np.maximum(2.0 - 2.0 * u @ u.T, 0.0)
    iu = np.triu_indices(len(u), k=1)
    return float(np.log(np.mean(np.exp(-t * sq[iu]))))
