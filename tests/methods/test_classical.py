"""Pixel baselines: encode/decode equal scikit-learn's transforms, and the fit survives state_dict."""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA

from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.methods.base import METHODS, MethodContext

TINY = BackboneConfig(width=8, depth=2, code_dim=4)


def sources_and_images(n: int = 300, res: int = 8, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """4 independent uniform sources linearly mixed by fixed random patterns, plus slight noise."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, (n, 4))
    patterns = rng.uniform(0, 0.25, (4, res * res))
    x = s @ patterns + rng.normal(0, 0.002, (n, res * res))
    return s, torch.from_numpy(x.reshape(n, 1, res, res).astype(np.float32))


def images(n: int = 300, res: int = 8, seed: int = 0) -> torch.Tensor:
    return sources_and_images(n, res, seed)[1]


def make(name: str, **params):
    cls = METHODS.get(name)
    return cls(build(cls.Params, params, f"methods.{name}"), MethodContext(1, 8, TINY, seed=0))


def flat(x: torch.Tensor) -> np.ndarray:
    return x.flatten(1).double().numpy()


@pytest.mark.parametrize("name", ["pca", "ica", "kmeans"])
def test_baselines_are_fitted_not_trained(name):
    method = make(name, fit_samples=123)
    assert not method.trainable and method.fit_samples == 123
    logs = method.fit(images())
    assert all(isinstance(v, float) for v in logs.values())


def test_pca_encode_and_decode_equal_sklearn():
    x = images()
    method = make("pca")
    method.fit(x)
    ref = PCA(4, random_state=0).fit(flat(x))
    np.testing.assert_allclose(method.encode(x).numpy(), ref.transform(flat(x)), atol=1e-4)
    z = method.encode(x)
    expected = np.clip(ref.inverse_transform(z.double().numpy()), 0, 1).reshape(x.shape)
    np.testing.assert_allclose(method.decode(z).numpy(), expected, atol=1e-4)


def test_ica_encode_and_decode_equal_sklearn():
    x = images()
    method = make("ica")
    method.fit(x)
    ref = FastICA(4, whiten="unit-variance", max_iter=400, random_state=0).fit(flat(x))
    z = method.encode(x)
    np.testing.assert_allclose(z.numpy(), ref.transform(flat(x)), atol=1e-3)
    expected = np.clip(ref.inverse_transform(z.double().numpy()), 0, 1).reshape(x.shape)
    np.testing.assert_allclose(method.decode(z).numpy(), expected, atol=1e-4)


def test_ica_recovers_linearly_mixed_sources():
    s, x = sources_and_images(1000)
    method = make("ica")
    method.fit(x)
    corr = np.corrcoef(s.T, method.encode(x).double().numpy().T)[:4, 4:]
    assert np.abs(corr).max(1).min() > 0.95  # each source matches one component (up to order and sign)


def test_kmeans_code_is_the_one_hot_nearest_centroid_and_decodes_to_it():
    x = images()
    method = make("kmeans", k=5)
    method.fit(x)
    ref = KMeans(5, n_init=3, random_state=0).fit(flat(x))
    z = method.encode(x)
    assert z.shape == (len(x), 5)
    np.testing.assert_array_equal(z.sum(1).numpy(), 1.0)
    np.testing.assert_array_equal(z.argmax(1).numpy(), ref.predict(flat(x)))
    centroids = np.clip(ref.cluster_centers_[ref.predict(flat(x))], 0, 1).reshape(x.shape)
    np.testing.assert_allclose(method.decode(z).numpy(), centroids, atol=1e-5)


def test_kmeans_k_defaults_to_the_code_dim():
    assert make("kmeans").encode(images(3)).shape == (3, TINY.code_dim)


@pytest.mark.parametrize("name", ["pca", "ica", "kmeans"])
def test_the_fit_lives_in_the_state_dict(name):
    x = images()
    method = make(name)
    method.fit(x)
    restored = make(name)
    restored.load_state_dict(method.state_dict())
    torch.testing.assert_close(restored.encode(x), method.encode(x))
    torch.testing.assert_close(restored.decode(restored.encode(x)), method.decode(method.encode(x)))
    assert not any(p.requires_grad for p in method.parameters())
