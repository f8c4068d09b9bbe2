"""Geometry of the representation on the hypersphere (Wang & Isola 2020), as metrics.

The same functions as the training losses (``sslpipe.losses.alignment`` / ``uniformity``),
evaluated on numpy codes in float64, with standard errors: alignment is a mean over
independent pairs (its standard error of the mean); uniformity is the log of a U-statistic of
degree 2, whose variance is 4 Var(h1) / n with h1(x_i) the mean kernel value of point i
(Hoeffding 1948), carried through the log by the delta method.
"""
from __future__ import annotations

import numpy as np

from .. import losses
from .base import EvalContext, NoParams, metric


def alignment(z1: np.ndarray, z2: np.ndarray, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs of normalized codes (lower = better aligned)."""
    import torch

    return float(losses.alignment(torch.from_numpy(np.asarray(z1, np.float64)), torch.from_numpy(np.asarray(z2, np.float64)), alpha))


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of normalized codes (lower = more uniform)."""
    import torch

    return float(losses.uniformity(torch.from_numpy(np.asarray(z, np.float64)), t))


def _unit(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def alignment_se(z1: np.ndarray, z2: np.ndarray) -> float:
    """Standard error of ``alignment`` (alpha = 2): the spread of the pairs' squared distances / sqrt(pairs)."""
    d = ((_unit(z1) - _unit(z2)) ** 2).sum(1)
    return float(d.std(ddof=1) / np.sqrt(len(d)))


def uniformity_se(z: np.ndarray, t: float = 2.0) -> float:
    """Standard error of ``uniformity``: sqrt(4 Var(h1) / n) / U, U the mean kernel over distinct pairs."""
    u = _unit(z)
    n = len(u)
    k = np.exp(-t * np.clip(2.0 - 2.0 * u @ u.T, 0.0, None))
    np.fill_diagonal(k, 0.0)
    h1 = k.sum(1) / (n - 1)
    return float(2.0 * h1.std(ddof=1) / np.sqrt(n) / max(h1.mean(), 1e-300))


@metric("geometry", keys="alignment, uniformity", paper="Wang & Isola (2020)", columns=("alignment", "uniformity"),
        applies=lambda ctx: ctx.has_pairs)
def geometry(ctx: EvalContext, p: NoParams) -> dict[str, float]:
    """Alignment of augmented test pairs and uniformity of (up to 2,000) test codes, with standard errors."""
    z1, z2, z = ctx.emb.pair_z1, ctx.emb.pair_z2, ctx.emb.test_z[:2000]
    return {"alignment": alignment(z1, z2), "alignment/se": alignment_se(z1, z2), "uniformity": uniformity(z), "uniformity/se": uniformity_se(z)}
