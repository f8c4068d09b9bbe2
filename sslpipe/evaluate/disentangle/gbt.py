"""scikit-learn's GradientBoostingClassifier with each stage's per-class trees fitted on threads.

DCI (Eastwood & Williams 2018, as Locatello et al. 2019 run it) fits one exact gradient-boosted
classifier per factor; its wall time was bound by the largest factor (dSprites' orientation: 40
classes, so 40 trees per stage), whatever the number of cores.  Within a stage of multiclass
log-loss boosting the K trees are independent: sklearn computes the negative gradient once per
stage, and tree k only reads its column and updates column k of the raw predictions.  So they
can be fitted on threads (tree building releases the GIL) and give the same model, provided
each tree gets the random stream it would have had: sklearn hands every tree the classifier's
one ``RandomState`` and each tree's splitter draws one ``randint(0, RAND_R_MAX)`` from it when
it is built, so tree k gets a copy of that stream's state after k draws.
``tests/evaluate/disentangle/test_gbt.py`` checks the model is the stock one, tree for tree, and
that the shared stream ends where the stock one ends.  Written against scikit-learn 1.9 (pinned):
it overrides the private ``_fit_stage`` and falls back to it for anything but dense features,
no subsampling and a multiclass loss.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.ensemble._gb import _update_terminal_regions
from sklearn.tree import DecisionTreeRegressor

RAND_R_MAX = 2147483647  # sklearn/tree/_utils.pxd: the bound of the one draw each tree's splitter makes


class ThreadedGradientBoostingClassifier(GradientBoostingClassifier):
    """``GradientBoostingClassifier`` (same parameters, same fitted model) whose per-class trees
    of each stage are fitted on ``threads`` threads (an attribute, set after construction)."""

    threads: int = 1

    def _fit_stage(self, i, X, y, raw_predictions, sample_weight, sample_mask, random_state, X_csc=None, X_csr=None):
        n_trees = self.n_trees_per_iteration_
        if self.threads <= 1 or n_trees == 1 or self.subsample < 1.0 or X_csc is not None or not self._loss.is_multiclass:
            return super()._fit_stage(i, X, y, raw_predictions, sample_weight, sample_mask, random_state, X_csc, X_csr)
        neg_gradient = -self._loss.gradient(y_true=y, raw_prediction=raw_predictions, sample_weight=None)  # [N, K]
        streams = []
        for _ in range(n_trees):  # tree k's stream: the shared one after the draws of trees 0..k-1
            stream = np.random.RandomState()
            stream.set_state(random_state.get_state())
            streams.append(stream)
            random_state.randint(0, RAND_R_MAX)

        def fit(k: int) -> DecisionTreeRegressor:
            tree = DecisionTreeRegressor(
                criterion="squared_error", splitter="best", max_depth=self.max_depth, min_samples_split=self.min_samples_split,
                min_samples_leaf=self.min_samples_leaf, min_weight_fraction_leaf=self.min_weight_fraction_leaf,
                min_impurity_decrease=self.min_impurity_decrease, max_features=self.max_features,
                max_leaf_nodes=self.max_leaf_nodes, random_state=streams[k], ccp_alpha=self.ccp_alpha)
            tree.fit(X, neg_gradient[:, k], sample_weight=sample_weight, check_input=False)
            _update_terminal_regions(self._loss, tree.tree_, X, np.array(y == k, dtype=np.float64), neg_gradient[:, k],
                                     raw_predictions, sample_weight, sample_mask, learning_rate=self.learning_rate, k=k)
            return tree

        with ThreadPoolExecutor(min(self.threads, n_trees)) as pool:
            for k, tree in enumerate(pool.map(fit, range(n_trees))):
                self.estimators_[i, k] = tree
        return raw_predictions
