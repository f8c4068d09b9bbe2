"""Label efficiency: probe accuracy from few labels (Locatello et al. 2019, Sec. 5 / Fig. 5-6)."""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..core.schema import check
from .base import EvalContext, metric

CLASSIFIERS = {
    "lr": lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed)),
    # Locatello et al. use sklearn's GradientBoostingClassifier; the histogram variant gives the
    # same kind of model (boosted trees) at a fraction of the cost for many classes.
    "gbt": lambda seed: HistGradientBoostingClassifier(max_iter=50, random_state=seed),
}


def labelled_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn at random, with at least one example of as many classes as ``n`` allows."""
    classes = np.unique(y)
    first = np.array([rng.choice(np.flatnonzero(y == c)) for c in rng.permutation(classes)[:n]])
    rest = np.setdiff1d(np.arange(len(y)), first)
    return np.concatenate([first, rng.choice(rest, size=n - len(first), replace=False)]).astype(np.int64)


def _fit_score(kind: str, x, y, x_test, y_test, seed: int) -> float:
    if len(np.unique(y)) < 2:  # a single class seen: predict it
        return float(np.mean(y_test == y[0]))
    return float(CLASSIFIERS[kind](seed).fit(x, y).score(x_test, y_test))


def low_shot(z_train, y_train, z_test, y_test, sizes=(10, 100, 1000, 10_000), kinds=("lr", "gbt"), seed: int = 0) -> dict[str, float]:
    """Test accuracy of each classifier trained on ``n`` labelled samples, keyed ``<kind>@<n>``.

    Sizes above the number of training codes are skipped.  ``efficiency`` is the statistical
    efficiency of Locatello et al. (2019): accuracy@100 / accuracy@10,000 of logistic regression
    (the largest available size stands in for 10,000 when there are fewer codes).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    usable = [n for n in sizes if n <= len(y_train)]
    for n in usable:
        idx = labelled_subset(y_train, n, rng)
        for kind in kinds:
            out[f"{kind}@{n}"] = _fit_score(kind, z_train[idx], y_train[idx], z_test, y_test, seed)
    if "lr" in kinds and 100 in usable and len(usable) > 1 and max(usable) > 100:
        out["efficiency"] = out["lr@100"] / max(out[f"lr@{max(usable)}"], 1e-12)
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
    res = low_shot(e.train_z, e.target(t, "train"), e.test_z, e.target(t, "test"), p.sizes, seed=ctx.seed)
    return {f"lowshot/{k}/{t}" if k != "efficiency" else f"efficiency/{t}": v for k, v in res.items()}
