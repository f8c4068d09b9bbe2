"""Geometry of the representation on the hypersphere (Wang & Isola 2020), as metrics.

The same functions as the training losses (``sslpipe.losses.alignment`` / ``uniformity``),
evaluated on numpy codes in float64.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import losses
from .base import EvalContext, NoParams, metric


def alignment(z1: np.ndarray, z2: np.ndarray, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs of normalized codes (lower = better aligned)."""
    return float(losses.alignment(torch.from_numpy(np.asarray(z1, np.float64)), torch.from_numpy(np.asarray(z2, np.float64)), alpha))


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of normalized codes (lower = more uniform)."""
    return float(losses.uniformity(torch.from_numpy(np.asarray(z, np.float64)), t))


@metric("geometry", keys="alignment, uniformity", paper="Wang & Isola (2020)", columns=("alignment", "uniformity"),
        applies=lambda ctx: ctx.has_pairs)
def geometry(ctx: EvalContext, p: NoParams) -> dict[str, float]:
    """Alignment of augmented test pairs and uniformity of (up to 2,000) test codes."""
    return {"alignment": alignment(ctx.emb.pair_z1, ctx.emb.pair_z2), "uniformity": uniformity(ctx.emb.test_z[:2000])}
