"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.schema import check, positive
from ..base import EvalContext, metric, with_factors
from ..uncertainty import resample_counts, rng_for, summarize, weighted_accuracy


def _entropy_norm(p: np.ndarray, base: int) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-12)
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(-1) / np.log(base)


def scores_from_importance(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disentanglement and completeness of importance matrices ``r`` [..., D, K].

    disentanglement = sum_d rho_d (1 - H_K(R[d, :])), rho_d = code d's share of importance;
    completeness = mean_k (1 - H_D(R[:, k])).
    """
    d, k = r.shape[-2:]
    dis_per_code = 1.0 - _entropy_norm(r, k)
    rho = r.sum(-1) / np.maximum(r.sum(axis=(-2, -1))[..., None], 1e-12)
    comp = 1.0 - _entropy_norm(np.swapaxes(r, -1, -2), d) if d > 1 else np.ones(r.shape[:-2] + (k,))
    return (rho * dis_per_code).sum(-1), comp.mean(-1)


def _tree_importance(tree, sums: np.ndarray, cols: dict) -> np.ndarray:
    """Unnormalized impurity importances [B, D] of one regression tree from its leaves' weighted sums.

    ``sums`` [B, 3 L]: per leaf (in ``cols`` order) the resampled count, sum of residuals and sum
    of squared residuals; internal nodes add up their children.  A node's weighted impurity
    (squared error) is S2 - S1^2 / S0, and a split's importance the drop from the node to its
    children, divided by the root's weight (``sklearn.tree._tree.Tree.compute_feature_importances``).
    """
    t = tree.tree_
    n_nodes, n_leaves = t.node_count, len(cols)
    s = np.zeros((3, len(sums), n_nodes))
    for node, c in cols.items():
        s[:, :, node] = sums[:, [c, n_leaves + c, 2 * n_leaves + c]].T
    left, right, feature = t.children_left, t.children_right, t.feature
    for node in range(n_nodes - 1, -1, -1):  # children have larger ids than their parent
        if left[node] >= 0:
            s[:, :, node] = s[:, :, left[node]] + s[:, :, right[node]]
    with np.errstate(invalid="ignore", divide="ignore"):
        impurity = np.where(s[0] > 0, s[2] - s[1] ** 2 / s[0], 0.0)
    out = np.zeros((len(sums), t.n_features))
    for node in np.flatnonzero(left >= 0):
        out[:, feature[node]] += impurity[:, node] - impurity[:, left[node]] - impurity[:, right[node]]
    return out / np.where(s[0, :, 0] > 0, s[0, :, 0], 1.0)[:, None]


def importance_replicates(clf: GradientBoostingClassifier, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``clf.feature_importances_`` [B, D] recomputed on resampled training codes, the trees held fixed.

    ``x``, ``y``: the codes and labels ``clf`` was fitted on; ``w`` [B, N]: resample counts.  Each
    tree was fitted to the negative gradient of the log-loss at the previous stage's predictions
    (one-hot minus softmax, or y minus the logistic for two classes), which the fitted model
    gives back; each resample reweights the samples in every node.  Counts of one reproduce
    ``clf.feature_importances_`` (``tests/evaluate/disentangle/test_mig_dci.py``).
    """
    x = np.asarray(x, dtype=np.float32)  # the trees split float32 features
    n_per_stage = clf.estimators_.shape[1]
    labels = np.searchsorted(clf.classes_, y)
    target = (labels[:, None] == np.arange(len(clf.classes_))[None]) if n_per_stage > 1 else (labels == 1)[:, None]
    total, relevant, raw = np.zeros((len(w), x.shape[1])), 0, None
    for m, after in enumerate(clf.staged_decision_function(x)):
        trees = clf.estimators_[m]
        after = np.asarray(after, dtype=np.float64).reshape(len(x), n_per_stage)
        if raw is None:  # the initial (prior) prediction
            raw = after - clf.learning_rate * np.stack([tr.predict(x) for tr in trees], axis=1)
        if n_per_stage > 1:
            e = np.exp(raw - raw.max(axis=1, keepdims=True))
            resid = target - e / e.sum(axis=1, keepdims=True)
        else:
            resid = target - 1.0 / (1.0 + np.exp(-raw))
        blocks, layout = [], []
        for k, tr in enumerate(trees):
            if tr.tree_.node_count <= 1:
                continue
            leaf = tr.tree_.apply(x)  # the fitted tree's own traversal (x is float32 already)
            ids = np.flatnonzero(tr.tree_.children_left < 0)
            cols = {int(node): c for c, node in enumerate(ids)}
            pos = np.searchsorted(ids, leaf)
            onehot = np.zeros((len(x), len(ids)))
            onehot[np.arange(len(x)), pos] = 1.0
            r = resid[:, k:k + 1]
            blocks.append(np.concatenate([onehot, onehot * r, onehot * r * r], axis=1))
            layout.append((tr, cols))
        if blocks:
            sums = w @ np.concatenate(blocks, axis=1)
            start = 0
            for (tr, cols), b in zip(layout, blocks):
                total += _tree_importance(tr, sums[:, start:start + b.shape[1]], cols)
                start += b.shape[1]
            relevant += len(blocks)
        raw = after
    if relevant == 0:
        return np.zeros_like(total)
    mean = total / relevant
    return mean / np.maximum(mean.sum(axis=1, keepdims=True), 1e-300)


TREE_THREADS_FROM = 5_000  # training codes from which each classifier also fits a stage's trees on threads


def _fit_factor(codes_train, factor_train, codes_test, factor_test, n_estimators: int, seed: int, w_train, threads: int = 1):
    from .gbt import ThreadedGradientBoostingClassifier

    clf = ThreadedGradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
    clf.threads = threads  # each stage's per-class trees on threads: the same model as sklearn's (gbt.py)
    clf.fit(codes_train, factor_train)
    correct = clf.predict(codes_test) == factor_test
    reps = None if w_train is None else importance_replicates(clf, codes_train, factor_train, w_train)
    return np.abs(clf.feature_importances_), float(correct.mean()), correct, reps


def dci(codes_train, factors_train, codes_test, factors_test, n_estimators: int = 100, max_train: int = 10_000, seed: int = 0,
        n_jobs: int = 1, n_boot: int = 0) -> dict[str, float]:
    """Importance matrix R[d, k] from one gradient-boosted-trees classifier per factor.

    disentanglement = sum_d rho_d (1 - H_K(R[d, :])), rho_d = code d's share of importance;
    completeness = mean_k (1 - H_D(R[:, k])); informativeness = mean test accuracy.
    Locatello et al. (2019) use sklearn's GradientBoostingClassifier with its defaults
    (100 trees) on 10,000 training codes, the defaults here.  The factors' classifiers are
    independent and fitted on ``n_jobs`` threads (tree building releases the GIL), the factor
    with the most classes first, and each classifier fits the per-class trees of a boosting stage
    on ``n_jobs`` threads too (:mod:`.gbt`) from ``TREE_THREADS_FROM`` training codes, so the
    largest factor no longer bounds the wall time; the result does not depend on ``n_jobs``.

    ``n_boot`` > 0 adds ``<key>/se`` and 95% percentile intervals from a bootstrap over the
    codes with the classifiers fixed: disentanglement and completeness from the importances
    recomputed on resampled training codes, informativeness from resampled test codes.
    """
    from joblib import Parallel, delayed, effective_n_jobs
    from threadpoolctl import threadpool_limits

    zt, ft = codes_train[:max_train], factors_train[:max_train]
    d, k = codes_train.shape[1], factors_train.shape[1]
    w_train = w_test = None
    if n_boot:
        rng = rng_for(seed, "dci")
        w_train, w_test = resample_counts(len(zt), n_boot, rng), resample_counts(len(codes_test), n_boot, rng)
    order = sorted(range(k), key=lambda j: -len(np.unique(ft[:, j])))  # longest fits first
    # threads inside each classifier pay only where trees are slow to build: on 2 cores, 10,000
    # codes 141 -> 137 s wall (median of 3), 1,000 codes 13.6 -> 16.2 s (docs/evaluation.md)
    tree_threads = effective_n_jobs(n_jobs) if len(zt) >= TREE_THREADS_FROM else 1
    with threadpool_limits(None if n_jobs == 1 else 1, user_api="blas"):  # no BLAS threads inside the fitting threads
        fits = dict(zip(order, Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_fit_factor)(zt, ft[:, j], codes_test, factors_test[:, j], n_estimators, seed, w_train, tree_threads)
            for j in order)))
    r = np.stack([fits[j][0] for j in range(k)], axis=1)
    dis, comp = scores_from_importance(r)
    values = {"disentanglement": float(dis), "completeness": float(comp), "informativeness": float(np.mean([fits[j][1] for j in range(k)]))}
    if not n_boot:
        return values
    dis_b, comp_b = scores_from_importance(np.stack([fits[j][3] for j in range(k)], axis=2))
    info_b = weighted_accuracy(np.stack([fits[j][2] for j in range(k)], axis=1), w_test).mean(axis=1)
    out: dict[str, float] = {}
    for key, reps in (("disentanglement", dis_b), ("completeness", comp_b), ("informativeness", info_b)):
        out |= summarize(key, values[key], reps)
    return out


@dataclass
class DciParams:
    n_estimators: int = check(100, positive, help="trees per factor classifier (sklearn's default, used by Locatello et al.: 100).")
    max_train: int = check(10_000, positive, help="training codes of the classifiers (Locatello et al.: 10,000).")


@metric("dci", Params=DciParams, applies=with_factors, keys="dci/disentanglement, dci/completeness, dci/informativeness",
        paper="Eastwood & Williams (2018); Locatello et al. (2019)", columns=("dci/disentanglement",))
def dci_metric(ctx: EvalContext, p: DciParams) -> dict[str, float]:
    """DCI from gradient-boosted trees, one per factor, fitted on ``max_train`` training codes."""
    e, n = ctx.emb, p.max_train
    res = dci(e.train_z[:n], e.factors("train")[:n], e.test_z, e.factors("test"), n_estimators=p.n_estimators, seed=ctx.seed,
              n_jobs=ctx.n_jobs, n_boot=ctx.n_boot)
    return {f"dci/{k}": v for k, v in res.items()}
