"""The threaded classifier is scikit-learn's, tree for tree (``sslpipe.evaluate.disentangle.gbt``)."""
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from sslpipe.evaluate.disentangle.gbt import ThreadedGradientBoostingClassifier


def _data(n=600, classes=5, seed=0):
    """Codes with exact duplicate columns: equally good splits, so the trees' random feature order decides."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([0.6, 0.0, 0.3, 0.0])
    x = np.round(np.concatenate([x, x[:, :2]], axis=1), 1)  # columns 4, 5 repeat 0, 1; rounding adds tied thresholds
    return x, y


def _trees(clf):
    return [(t.tree_.feature.tolist(), t.tree_.threshold.tolist(), t.tree_.value.ravel().tolist()) for t in clf.estimators_.ravel()]


@pytest.mark.parametrize("classes,threads", [(5, 2), (5, 3), (3, 2), (2, 2)])
def test_same_model_as_sklearn(classes, threads):
    x, y = _data(classes=classes)
    stock = GradientBoostingClassifier(n_estimators=15, random_state=3).fit(x, y)
    clf = ThreadedGradientBoostingClassifier(n_estimators=15, random_state=3)
    clf.threads = threads
    clf.fit(x, y)
    assert _trees(clf) == _trees(stock)
    assert np.array_equal(clf.feature_importances_, stock.feature_importances_)
    assert np.array_equal(clf.predict_proba(x), stock.predict_proba(x))
    a, b = clf._rng.get_state(), stock._rng.get_state()  # the shared stream ends where sklearn's ends
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_the_tied_columns_matter():
    """Without each tree's own place in the stream the model differs: the test above can fail."""
    x, y = _data()
    models = [_trees(GradientBoostingClassifier(n_estimators=15, random_state=seed).fit(x, y)) for seed in (3, 4)]
    assert models[0] != models[1]
    features = {f for trees in models for tree in trees for f in tree[0] if f >= 0}
    assert {0, 4} <= features or {1, 5} <= features  # a duplicated column is chosen in one tree, its twin in another
