"""Label efficiency: probe accuracy from few labels (Locatello et al. 2019, Sec. 5 / Fig. 5-6)."""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..core.schema import check
from .base import EvalContext, metric
from .uncertainty import binomial_se, renamed, resample_counts, rng_for, summarize, weighted_accuracy

def _logistic(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))


def _boosted_trees(seed: int):
    # Locatello et al. use sklearn's GradientBoostingClassifier; the histogram variant gives the
    # same kind of model (boosted trees) at a fraction of the cost for many classes.
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=50, random_state=seed)


CLASSIFIERS = {"lr": _logistic, "gbt": _boosted_trees}


def labelled_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn at random, with at least one example of as many classes as ``n`` allows."""
    classes = np.unique(y)
    first = np.array([rng.choice(np.flatnonzero(y == c)) for c in rng.permutation(classes)[:n]])
    rest = np.setdiff1d(np.arange(len(y)), first)
    return np.concatenate([first, rng.choice(rest, size=n - len(first), replace=False)]).astype(np.int64)


def _fit_correct(kind: str, x, y, x_test, y_test, seed: int) -> np.ndarray:
    """Per test point: is the classifier trained on (x, y) right?"""
    if len(np.unique(y)) < 2:  # a single class seen: predict it
        return y_test == y[0]
    return CLASSIFIERS[kind](seed).fit(x, y).predict(x_test) == y_test


def low_shot(z_train, y_train, z_test, y_test, sizes=(10, 100, 1000, 10_000), kinds=("lr", "gbt"), seed: int = 0,
             n_boot: int = 0) -> dict[str, float]:
    """Test accuracy of each classifier trained on ``n`` labelled samples, keyed ``<kind>@<n>``.

    Sizes above the number of training codes are skipped.  ``efficiency`` is the statistical
    efficiency of Locatello et al. (2019): accuracy@100 / accuracy@10,000 of logistic regression
    (the largest available size stands in for 10,000 when there are fewer codes).  Each
    accuracy comes with its binomial standard error (``<key>/se``); ``n_boot`` > 0 adds the
    efficiency's from a bootstrap over the test codes (both classifiers fixed).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    correct: dict[str, np.ndarray] = {}
    usable = [n for n in sizes if n <= len(y_train)]
    for n in usable:
        idx = labelled_subset(y_train, n, rng)
        for kind in kinds:
            c = correct[f"{kind}@{n}"] = _fit_correct(kind, z_train[idx], y_train[idx], z_test, y_test, seed)
            out[f"{kind}@{n}"] = float(np.mean(c))
            out[f"{kind}@{n}/se"] = binomial_se(out[f"{kind}@{n}"], len(c))
    if "lr" in kinds and 100 in usable and len(usable) > 1 and max(usable) > 100:
        top = f"lr@{max(usable)}"
        out["efficiency"] = out["lr@100"] / max(out[top], 1e-12)
        if n_boot:
            w = resample_counts(len(y_test), n_boot, rng_for(seed, "efficiency"))
            reps = weighted_accuracy(correct["lr@100"], w) / np.maximum(weighted_accuracy(correct[top], w), 1e-12)
            out |= summarize("efficiency", out["efficiency"], reps)
    return out


def _sizes(v) -> str | None:
    return None if v and all(isinstance(n, int) and n > 0 for n in v) else "must be a non-empty list of positive integers"


@dataclass
class LowShotParams:
    sizes: list[int] = check([10, 100, 1000, 10_000], _sizes, help="labelled-sample counts (Locatello et al.: 10, 100, 1,000, 10,000; sizes above evaluate.embed.n_train are skipped).")


@metric("lowshot", Params=LowShotParams, keys="lowshot/<lr|gbt>@<n>/<focus target>, efficiency/<focus target>",
        paper="Locatello et al. (2019), Sec. 5", columns=("lowshot/lr@100/{t}",))
def lowshot(ctx: EvalContext, p: LowShotParams) -> dict[str, float]:
    """Accuracy from few labels and the statistical efficiency (accuracy@100 / accuracy@max)."""
    e, t = ctx.emb, ctx.focus
    res = low_shot(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.sizes, seed=ctx.seed, n_boot=ctx.n_boot)
    return renamed(res, lambda k: f"efficiency/{t}" if k == "efficiency" else f"lowshot/{k}/{t}")
