"""Probes: how much of a target a frozen representation exposes (pure functions on arrays)."""
from __future__ import annotations

from dataclasses import dataclass


import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..core.schema import check, positive
from .base import EvalContext, metric


def linear_probe(z_train, y_train, z_test, y_test, max_iter: int = 500, seed: int = 0) -> float:
    """Test accuracy of logistic regression on standardized features (the linear evaluation protocol)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def knn_probe(z_train, y_train, z_test, y_test, k: int = 20) -> float:
    """Test accuracy of a k-nearest-neighbour vote with cosine distance (Wu et al. 2018)."""
    clf = KNeighborsClassifier(n_neighbors=min(k, len(z_train)), metric="cosine")
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def mlp_probe(z_train, y_train, z_test, y_test, hidden: int = 64, max_iter: int = 200, seed: int = 0) -> float:
    """Test accuracy of a one-hidden-layer MLP on standardized features (early stopping on 10% of train).

    Reads out non-linearly decodable information that the linear probe misses.
    """
    from sklearn.neural_network import MLPClassifier

    clf = make_pipeline(StandardScaler(), MLPClassifier((hidden,), max_iter=max_iter, early_stopping=True, random_state=seed))
    clf.fit(z_train, y_train)
    return float(clf.score(z_test, y_test))


def r2_probe(z_train, y_train, z_test, y_test, alpha: float = 1.0) -> float:
    """Test R^2 of ridge regression of an ordinal target (scale, position) on standardized features."""
    from sklearn.linear_model import Ridge

    reg = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    reg.fit(z_train, y_train.astype(np.float64))
    return float(reg.score(z_test, y_test.astype(np.float64)))


# --- registered metrics: every target, or the focus target -------------------------------
@dataclass
class LinearParams:
    max_iter: int = check(500, positive, help="iterations of the logistic-regression probe.")


@metric("linear", Params=LinearParams, keys="linear/<target> for every target", paper="the linear evaluation protocol (Kolesnikov et al. 2019)", columns=("linear/{t}",))
def linear(ctx: EvalContext, p: LinearParams) -> dict[str, float]:
    """Logistic-regression accuracy on every target (labels and factors)."""
    e = ctx.emb
    return {f"linear/{t}": linear_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.max_iter, ctx.seed) for t in e.target_names}


@dataclass
class KnnParams:
    k: int = check(20, positive, help="neighbours of the kNN vote.")


@metric("knn", Params=KnnParams, keys="knn/<target> for every target", paper="Wu et al. (2018)", columns=("knn/{t}",))
def knn(ctx: EvalContext, p: KnnParams) -> dict[str, float]:
    """Cosine k-nearest-neighbour accuracy on every target."""
    e = ctx.emb
    return {f"knn/{t}": knn_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.k) for t in e.target_names}


@dataclass
class R2Params:
    alpha: float = check(1.0, positive, help="ridge penalty.")


@metric("r2", Params=R2Params, keys="r2/<target> for ordinal targets (scale, position)", paper="ridge regression read-out",
        applies=lambda ctx: bool(ctx.emb.ordinal))
def r2(ctx: EvalContext, p: R2Params) -> dict[str, float]:
    """Ridge-regression R^2 of every ordinal target."""
    e = ctx.emb
    return {f"r2/{t}": r2_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.alpha) for t in e.target_names if t in e.ordinal}


@dataclass
class MlpParams:
    hidden: int = check(64, positive, help="hidden units of the one-hidden-layer MLP probe.")


@metric("mlp", Params=MlpParams, keys="mlp/<focus target>", paper="a one-hidden-layer MLP read-out", columns=("mlp/{t}",))
def mlp(ctx: EvalContext, p: MlpParams) -> dict[str, float]:
    """One-hidden-layer MLP accuracy on the focus target."""
    e, t = ctx.emb, ctx.focus
    return {f"mlp/{t}": mlp_probe(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.hidden, seed=ctx.seed)}
