"""Probes: how much of a target a frozen representation exposes (pure functions on arrays)."""
from __future__ import annotations

from dataclasses import dataclass


import numpy as np

from ..core.schema import check, positive
from .base import EvalContext, metric
from .uncertainty import renamed, resample_counts, rng_for, summarize, with_binomial


def linear_probe(z_train, y_train, z_test, y_test, max_iter: int = 500, seed: int = 0) -> float:
    """Test accuracy of logistic regression on standardized features (the linear evaluation protocol)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def knn_probe(z_train, y_train, z_test, y_test, k: int = 20) -> float:
    """Test accuracy of a k-nearest-neighbour vote with cosine distance (Wu et al. 2018)."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=min(k, len(z_train)), metric="cosine")
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def mlp_probe(z_train, y_train, z_test, y_test, hidden: int = 64, max_iter: int = 200, seed: int = 0) -> float:
    """Test accuracy of a one-hidden-layer MLP on standardized features (early stopping on 10% of train).

    Reads out non-linearly decodable information that the linear probe misses.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), MLPClassifier((hidden,), max_iter=max_iter, early_stopping=True, random_state=seed))
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def r2_probe(z_train, y_train, z_test, y_test, alpha: float = 1.0, n_boot: int = 0, seed: int = 0) -> float | dict[str, float]:
    """Test R^2 of ridge regression of an ordinal target (scale, position) on standardized features.

    ``n_boot`` > 0 returns ``{"r2", "r2/se", "r2/ci_low", "r2/ci_high"}`` from a bootstrap over
    the test codes with the regression fixed.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    reg.fit(z_train, y_train.astype(np.float64))
    y = y_test.astype(np.float64)
    value = float(reg.score(z_test, y))
    if not n_boot:
        return value
    w = resample_counts(len(y), n_boot, rng_for(seed, "r2"))
    res = w @ (y - reg.predict(z_test)) ** 2
    n = w.sum(1)
    tot = w @ y**2 - (w @ y) ** 2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(tot > 0, 1.0 - res / tot, np.nan)
    return summarize("r2", value, reps)


# --- registered metrics: every target, or the focus target -------------------------------
@dataclass
class LinearParams:
    max_iter: int = check(500, positive, help="iterations of the logistic-regression probe.")


@metric("linear", Params=LinearParams, keys="linear/<target> for every target", paper="the linear evaluation protocol (Kolesnikov et al. 2019)", columns=("linear/{t}",))
def linear(ctx: EvalContext, p: LinearParams) -> dict[str, float]:
    """Logistic-regression accuracy on every target (labels and factors)."""
    e, n = ctx.emb, len(ctx.emb.test_z)
    return {k: v for t in e.target_names
            for k, v in with_binomial(f"linear/{t}", linear_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.max_iter, ctx.seed), n).items()}


@dataclass
class KnnParams:
    k: int = check(20, positive, help="neighbours of the kNN vote.")


@metric("knn", Params=KnnParams, keys="knn/<target> for every target", paper="Wu et al. (2018)", columns=("knn/{t}",))
def knn(ctx: EvalContext, p: KnnParams) -> dict[str, float]:
    """Cosine k-nearest-neighbour accuracy on every target."""
    e, n = ctx.emb, len(ctx.emb.test_z)
    return {k: v for t in e.target_names
            for k, v in with_binomial(f"knn/{t}", knn_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.k), n).items()}


@dataclass
class R2Params:
    alpha: float = check(1.0, positive, help="ridge penalty.")


@metric("r2", Params=R2Params, keys="r2/<target> for ordinal targets (scale, position)", paper="ridge regression read-out",
        applies=lambda ctx: bool(ctx.emb.ordinal))
def r2(ctx: EvalContext, p: R2Params) -> dict[str, float]:
    """Ridge-regression R^2 of every ordinal target."""
    e, out = ctx.emb, {}
    for t in e.target_names:
        if t in e.ordinal:
            res = r2_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.alpha, n_boot=ctx.n_boot, seed=ctx.seed)
            out |= renamed(res, lambda k: f"r2/{t}") if isinstance(res, dict) else {f"r2/{t}": res}
    return out


@dataclass
class MlpParams:
    hidden: int = check(64, positive, help="hidden units of the one-hidden-layer MLP probe.")


@metric("mlp", Params=MlpParams, keys="mlp/<focus target>", paper="a one-hidden-layer MLP read-out", columns=("mlp/{t}",))
def mlp(ctx: EvalContext, p: MlpParams) -> dict[str, float]:
    """One-hidden-layer MLP accuracy on the focus target."""
    e, t = ctx.emb, ctx.focus
    return with_binomial(f"mlp/{t}", mlp_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.hidden, seed=ctx.seed), len(e.test_z))
