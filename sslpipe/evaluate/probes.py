"""Probes: how much of a target a frozen representation exposes (pure functions on arrays)."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


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
