"""Mutual Information Gap (Chen et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import discretize, entropies, mutual_info_matrix
from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors
from ..uncertainty import factor_entropy_replicates, mutual_info_replicates, resample_counts, rng_for, summarize


def _gap(m: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Mean over factors of (top - second) of the MI matrices ``m`` [..., D, K], normalized by ``h`` [..., K]."""
    top = np.sort(m, axis=-2)[..., ::-1, :]
    second = top[..., 1, :] if m.shape[-2] > 1 else np.zeros_like(top[..., 0, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean((top[..., 0, :] - second) / h, axis=-1)


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20, n: int = 10_000, seed: int = 0, n_boot: int = 0) -> dict[str, float]:
    """Mean over factors of (top - second) I(z_j; v_k), normalized by H(v_k).

    Defaults (Locatello et al. 2019): 20-bin histogram discretization, 10,000 points.
    ``n_boot`` > 0 adds ``mig/se`` and a 95% basic bootstrap interval over the points (the bins
    of the whole sample kept; basic, not percentile, as plug-in MI is biased: ``evaluate.uncertainty``).
    """
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(codes))[:n]
    dz, v = discretize(codes[idx], bins), factors[idx]
    value = float(_gap(mutual_info_matrix(dz, v), entropies(v)))
    if not n_boot:
        return {"mig": value}
    w = resample_counts(len(idx), n_boot, rng_for(seed, "mig"))
    return summarize("mig", value, _gap(mutual_info_replicates(dz, v, w), factor_entropy_replicates(v, w)), "basic")


@dataclass
class MigParams:
    bins: int = check(20, positive, help="histogram bins per code dimension (Locatello et al.: 20).")


@metric("mig", Params=MigParams, applies=with_factors, keys="mig", paper="Chen et al. (2018); Locatello et al. (2019)", columns=("mig",))
def mig_metric(ctx: EvalContext, p: MigParams) -> dict[str, float]:
    """Mutual information gap on the training codes."""
    return dict(mig(ctx.emb.train_z, ctx.emb.factors("train"), p.bins, seed=ctx.seed, n_boot=ctx.n_boot))
