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
