import numpy as np
import pytest

from sslpipe.evaluate.clustering import kmeans_scores
from sslpipe.evaluate.probes import knn_probe, linear_probe, mlp_probe, r2_probe


@pytest.mark.parametrize("probe", [linear_probe, knn_probe, mlp_probe])
def test_classification_probes_read_a_factor_from_its_dimension_and_not_from_noise(codes, probe):
    ftr, fte = codes["factors"]
    assert probe(codes["disentangled"][0], ftr[:, 0], codes["disentangled"][1], fte[:, 0]) > 0.9
    assert probe(codes["random"][0], ftr[:, 0], codes["random"][1], fte[:, 0]) < 0.35  # 4 classes


def test_mlp_reads_what_a_linear_probe_cannot():
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(3000, 2))
    y = (z[:, 0] * z[:, 1] > 0).astype(int)  # XOR of signs
    assert linear_probe(z[:2000], y[:2000], z[2000:], y[2000:]) < 0.65
    assert mlp_probe(z[:2000], y[:2000], z[2000:], y[2000:]) > 0.9


def test_r2_probe_closed_cases(codes):
    ftr, fte = codes["factors"]
    assert r2_probe(codes["mixed"][0], ftr[:, 2], codes["mixed"][1], fte[:, 2]) > 0.99  # linear in the code
    assert r2_probe(codes["random"][0], ftr[:, 2], codes["random"][1], fte[:, 2]) < 0.02


def test_kmeans_recovers_well_separated_classes_only():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 200)
    z = np.eye(4)[y] * 10 + rng.normal(size=(800, 4))
    s = kmeans_scores(z, y, seed=0)
    assert s["nmi"] > 0.95 and s["ari"] > 0.95
    r = kmeans_scores(rng.normal(size=(800, 4)), y, seed=0)
    assert r["nmi"] < 0.05 and abs(r["ari"]) < 0.05
