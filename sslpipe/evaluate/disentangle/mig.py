"""Mutual Information Gap (Chen et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import discretize, entropies, mutual_info_matrix
from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20, n: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Mean over factors of (top - second) I(z_j; v_k), normalized by H(v_k).

    Defaults (Locatello et al. 2019): 20-bin histogram discretization, 10,000 points.
    """
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(codes))[:n]
    m = mutual_info_matrix(discretize(codes[idx], bins), factors[idx])
    top2 = np.sort(m, axis=0)[::-1][:2] if m.shape[0] > 1 else np.vstack([m, np.zeros_like(m)])
    return {"mig": float(np.mean((top2[0] - top2[1]) / entropies(factors[idx])))}


@dataclass
class MigParams:
    bins: int = check(20, positive, help="histogram bins per code dimension (Locatello et al.: 20).")


@metric("mig", Params=MigParams, applies=with_factors, keys="mig", paper="Chen et al. (2018); Locatello et al. (2019)", columns=("mig",))
def mig_metric(ctx: EvalContext, p: MigParams) -> dict[str, float]:
    """Mutual information gap on the training codes."""
    return dict(mig(ctx.emb.train_z, ctx.emb.factors("train"), p.bins, seed=ctx.seed))
