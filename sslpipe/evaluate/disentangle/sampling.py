"""Sampling-based disentanglement scores: BetaVAE (Higgins et al. 2017) and FactorVAE (Kim & Mnih 2018).

Both draw batches in which one factor is held fixed (``sampler.sample_factors``) and take the
codes of the images rendered for them (``codes``: factor rows [N, K] -> codes [N, D], the
encoder mean; in the evaluate stage ``EvalContext.encode_factors``, which renders and encodes
each distinct combination once).  Defaults follow Locatello et al. (2019): batches of 64,
10,000 training and 5,000 evaluation points, 10,000 samples for FactorVAE's global variances.
The study's cheaper sizes are departures set in params.yaml (``evaluate.metrics``).  Both
scores are accuracies on ``n_eval`` points and come with their binomial standard error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.schema import check, positive
from ..base import EvalContext, metric, with_renderer
from ..uncertainty import with_binomial


def fixed_factor_batches(sampler, n_points: int, batch_size: int, rng: np.random.Generator, pairs: bool):
    """Factor rows for ``n_points`` batches, each with one random factor k fixed.

    ``pairs``: BetaVAE's layout, two rows per batch element sharing factor k
    ([n_points, 2, batch_size, K]); otherwise FactorVAE's, one batch where every row shares
    the first row's value of k ([n_points, batch_size, K]).  Returns (factors, k).
    """
    sizes = np.asarray(sampler.info().factor_sizes)
    k = rng.integers(0, len(sizes), n_points)
    if pairs:
        f = sampler.sample_factors(n_points * 2 * batch_size, rng).reshape(n_points, 2, batch_size, -1)
        f[np.arange(n_points), 1, :, k] = f[np.arange(n_points), 0, :, k]
    else:
        f = sampler.sample_factors(n_points * batch_size, rng).reshape(n_points, batch_size, -1)
        f[np.arange(n_points), :, k] = f[np.arange(n_points), 0, k][:, None]
    return f, k


def _beta_vae_features(sampler, codes, n_points, batch_size, rng):
    f, k = fixed_factor_batches(sampler, n_points, batch_size, rng, pairs=True)
    z = np.asarray(codes(f.reshape(-1, f.shape[-1])), dtype=np.float64).reshape(n_points, 2, batch_size, -1)
    return np.abs(z[:, 0] - z[:, 1]).mean(axis=1), k


def beta_vae_score(sampler, codes, batch_size: int = 64, n_train: int = 10_000, n_eval: int = 5_000, seed: int = 0) -> dict[str, float]:
    """BetaVAE score (Higgins et al. 2017): accuracy of a linear classifier that names the fixed factor.

    Each point is a batch of ``batch_size`` pairs sharing factor k (the others random); its
    feature is the mean over the batch of |z1 - z2|.  Logistic regression is trained on
    ``n_train`` points and scored on ``n_eval``.  A code whose dimensions each track one factor
    makes the fixed factor's dimension(s) near zero: score near 1.  Chance is 1 / K.
    """
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    xtr, ytr = _beta_vae_features(sampler, codes, n_train, batch_size, rng)
    xte, yte = _beta_vae_features(sampler, codes, n_eval, batch_size, rng)
    if len(np.unique(ytr)) < 2:
        return with_binomial("betavae", float(np.mean(yte == ytr[0])), n_eval)
    clf = LogisticRegression(max_iter=1000, random_state=seed).fit(xtr, ytr)
    return with_binomial("betavae", float(clf.score(xte, yte)), n_eval) | with_binomial("betavae/train", float(clf.score(xtr, ytr)), n_train)


def _factor_vae_votes(sampler, codes, n_points, batch_size, rng, scale, active):
    f, k = fixed_factor_batches(sampler, n_points, batch_size, rng, pairs=False)
    z = np.asarray(codes(f.reshape(-1, f.shape[-1])), dtype=np.float64).reshape(n_points, batch_size, -1)
    local = z.var(axis=1, ddof=1)[:, active] / scale[active]
    return np.flatnonzero(active)[local.argmin(axis=1)], k


def factor_vae_score(sampler, codes, batch_size: int = 64, n_train: int = 10_000, n_eval: int = 5_000,
                     n_var_est: int = 10_000, prune: float = 0.05, seed: int = 0) -> dict[str, float]:
    """FactorVAE score (Kim & Mnih 2018): majority-vote accuracy of "fixed factor <- quietest dimension".

    Codes are divided by their global standard deviation (from ``n_var_est`` samples);
    dimensions with std < ``prune`` are inactive (collapsed).  For a batch with factor k fixed,
    the vote is the active dimension of least normalized variance; the classifier maps each
    dimension to the factor it most often votes for (on ``n_train`` batches) and is scored on
    ``n_eval``.  With no active dimension the score is 0.
    """
    rng = np.random.default_rng(seed)
    z = np.asarray(codes(sampler.sample_factors(n_var_est, rng)), dtype=np.float64)
    scale = z.std(axis=0, ddof=1)
    active = scale >= prune
    if not active.any():
        return {"factorvae": 0.0, "factorvae/se": 0.0, "factorvae/active_dims": 0.0}
    n_factors = len(sampler.info().factor_sizes)
    dims, k = _factor_vae_votes(sampler, codes, n_train, batch_size, rng, scale**2, active)
    votes = np.zeros((z.shape[1], n_factors), np.int64)
    np.add.at(votes, (dims, k), 1)
    classifier = votes.argmax(axis=1)  # dimension -> factor
    train_acc = votes.max(axis=1).sum() / max(votes.sum(), 1)
    dims, k = _factor_vae_votes(sampler, codes, n_eval, batch_size, rng, scale**2, active)
    return (with_binomial("factorvae", float(np.mean(classifier[dims] == k)), n_eval)
            | with_binomial("factorvae/train", float(train_acc), n_train) | {"factorvae/active_dims": float(active.sum())})


@dataclass
class SampledParams:
    batch_size: int = check(64, positive, help="images per point, one factor fixed (Locatello et al.: 64).")
    n_train: int = check(10_000, positive, help="training points (Locatello et al.: 10,000).")
    n_eval: int = check(5_000, positive, help="evaluation points (Locatello et al.: 5,000).")


@metric("betavae", Params=SampledParams, applies=with_renderer, keys="betavae, betavae/train",
        paper="Higgins et al. (2017); Locatello et al. (2019)", columns=("betavae",))
def betavae(ctx: EvalContext, p: SampledParams) -> dict[str, float]:
    """BetaVAE score on batches rendered with one factor fixed."""
    return beta_vae_score(ctx.sampler, ctx.encode_factors, batch_size=p.batch_size, n_train=p.n_train, n_eval=p.n_eval, seed=ctx.seed)


@dataclass
class FactorVaeParams(SampledParams):
    var_samples: int = check(10_000, positive, help="samples for the global variances (Locatello et al.: 10,000).")


@metric("factorvae", Params=FactorVaeParams, applies=with_renderer, keys="factorvae, factorvae/train, factorvae/active_dims",
        paper="Kim & Mnih (2018); Locatello et al. (2019)", columns=("factorvae",))
def factorvae(ctx: EvalContext, p: FactorVaeParams) -> dict[str, float]:
    """FactorVAE majority-vote score on batches rendered with one factor fixed."""
    return factor_vae_score(ctx.sampler, ctx.encode_factors, batch_size=p.batch_size, n_train=p.n_train, n_eval=p.n_eval,
                            n_var_est=p.var_samples, seed=ctx.seed)
