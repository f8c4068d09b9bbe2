import numpy as np
import pytest

from sslpipe.evaluate.disentangle.dci import dci
from sslpipe.evaluate.disentangle.mig import mig


def test_mig_is_high_for_disentangled_low_for_mixed_and_random(codes):
    ftr, _ = codes["factors"]
    s = {k: mig(codes[k][0], ftr)["mig"] for k in ("disentangled", "mixed", "random")}
    assert s["disentangled"] > 0.8 and s["mixed"] < s["disentangled"] - 0.3 and s["random"] < 0.05


def test_mig_ignores_dimension_order_and_scale(codes):
    ftr, _ = codes["factors"]
    z = codes["disentangled"][0]
    assert mig(z, ftr)["mig"] == pytest.approx(mig(z[:, ::-1] * 7.0, ftr)["mig"])


def test_dci_disentangled_codes(codes):
    ftr, fte = codes["factors"]
    good = dci(codes["disentangled"][0][:1000], ftr[:1000], codes["disentangled"][1], fte)
    bad = dci(codes["random"][0][:1000], ftr[:1000], codes["random"][1], fte)
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9 and good["informativeness"] > 0.95
    assert bad["informativeness"] < 0.35 and bad["disentanglement"] < good["disentanglement"] - 0.5


def test_dci_does_not_depend_on_the_number_of_threads(codes):
    ftr, fte = codes["factors"]
    z_train, z_test = codes["mixed"][0], codes["mixed"][1]
    assert dci(z_train, ftr, z_test, fte, n_estimators=20, n_jobs=1) == dci(z_train, ftr, z_test, fte, n_estimators=20, n_jobs=2)


def test_dci_with_threads_inside_each_classifier_is_the_same(codes, monkeypatch):
    """From TREE_THREADS_FROM codes each classifier fits a stage's trees on threads: the same values."""
    from sslpipe.evaluate.disentangle import dci as module

    ftr, fte = codes["factors"]
    z_train, z_test = codes["mixed"][0], codes["mixed"][1]
    plain = dci(z_train, ftr, z_test, fte, n_estimators=10, n_jobs=2, n_boot=5)
    monkeypatch.setattr(module, "TREE_THREADS_FROM", 1)
    assert dci(z_train, ftr, z_test, fte, n_estimators=10, n_jobs=2, n_boot=5) == plain


def reference_dci(x_train, f_train, x_test, f_test):
    """DCI as disentanglement_lib computes it: sklearn's GradientBoostingClassifier with its defaults
    (100 trees) per factor; scipy entropies with a 1e-11 floor; completeness weighted by factor importance."""
    from scipy.stats import entropy
    from sklearn.ensemble import GradientBoostingClassifier

    d, k = x_train.shape[1], f_train.shape[1]
    imp, acc = np.zeros((d, k)), []
    for j in range(k):
        model = GradientBoostingClassifier(random_state=0).fit(x_train, f_train[:, j])
        imp[:, j] = np.abs(model.feature_importances_)
        acc.append(np.mean(model.predict(x_test) == f_test[:, j]))
    dis = np.sum((1.0 - entropy(imp.T + 1e-11, base=k)) * imp.sum(1) / imp.sum())
    comp = np.sum((1.0 - entropy(imp + 1e-11, base=d)) * imp.sum(0) / imp.sum())
    return {"disentanglement": dis, "completeness": comp, "informativeness": np.mean(acc)}


def test_dci_defaults_are_the_reference_computation_with_100_trees():
    rng = np.random.default_rng(7)
    f = np.stack([rng.integers(0, 3, 400), rng.integers(0, 4, 400)], axis=1)
    z = f @ np.array([[1.0, 0.4, 0.0], [0.3, 1.0, 0.8]]) + 0.3 * rng.normal(size=(400, 3))  # entangled
    ours, ref = dci(z[:300], f[:300], z[300:], f[300:]), reference_dci(z[:300], f[:300], z[300:], f[300:])
    assert ours == pytest.approx(ref, abs=1e-9)
    cheap = dci(z[:300], f[:300], z[300:], f[300:], n_estimators=10)
    assert abs(cheap["disentanglement"] - ref["disentanglement"]) > 0.01  # 10 trees is another estimate


@pytest.mark.parametrize("classes", [2, 5])
def test_importance_replicates_with_unit_counts_are_sklearns_importances(classes):
    from sklearn.ensemble import GradientBoostingClassifier

    from sslpipe.evaluate.disentangle.dci import importance_replicates

    rng = np.random.default_rng(classes)
    y = rng.integers(0, classes, 500)
    x = np.stack([y + rng.normal(size=500), rng.normal(size=500), 0.3 * y + rng.normal(size=500)], axis=1).astype(np.float32)
    clf = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, y)
    reps = importance_replicates(clf, x, y, np.ones((2, 500)))
    assert np.allclose(reps, clf.feature_importances_, atol=1e-12)
    resampled = importance_replicates(clf, x, y, np.random.default_rng(0).multinomial(500, np.full(500, 1 / 500), size=3).astype(float))
    assert np.allclose(resampled.sum(1), 1.0) and not np.allclose(resampled, clf.feature_importances_, atol=1e-4)


def test_dci_bootstrap_brackets_the_value(codes):
    ftr, fte = codes["factors"]
    out = dci(codes["mixed"][0][:600], ftr[:600], codes["mixed"][1], fte, n_estimators=10, n_boot=50)
    plain = dci(codes["mixed"][0][:600], ftr[:600], codes["mixed"][1], fte, n_estimators=10)
    for k, v in plain.items():
        assert out[k] == v and 0 < out[f"{k}/se"] < 0.1 and out[f"{k}/ci_low"] <= v <= out[f"{k}/ci_high"]
