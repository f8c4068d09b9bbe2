"""Classical baselines fitted without gradients on flattened pixels: PCA, ICA and k-means.

Each is an encoder-decoder pair whose fitted state (means, components, centroids) lives in
registered buffers, so the shared checkpoint (``state_dict``) saves it and ``encode`` /
``decode`` run in torch on any device.  scikit-learn does the fitting (``fit`` on
``fit_samples`` training images, seeded by the study seed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.schema import check, positive
from .base import METHODS, Method, MethodParams


class AffineCode(nn.Module):
    """z = (flatten(x) - mean) @ components.T, the transform of sklearn's PCA and FastICA."""

    def __init__(self, n_pixels: int, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_pixels))
        self.register_buffer("components", torch.zeros(dim, n_pixels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.components.T


class NearestCentroid(nn.Module):
    """One-hot code of the nearest centroid (Euclidean): the k-means encoder."""

    def __init__(self, n_pixels: int, k: int):
        super().__init__()
        self.register_buffer("centroids", torch.zeros(k, n_pixels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(x.flatten(1), self.centroids).argmin(1)
        return F.one_hot(nearest, len(self.centroids)).to(x.dtype)


@dataclass
class PixelParams(MethodParams):
    fit_samples: int = check(5000, positive, help="training images the baseline is fitted on.")


class PixelBaseline(Method):
    """Shared by the pixel baselines: fitting on a float64 numpy copy, images from flat pixels."""

    family = "classical"
    trainable = False
    Params = PixelParams

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.fit_samples = params.fit_samples
        self.n_pixels = ctx.channels * ctx.resolution**2

    def fit(self, x):
        return self.fit_pixels(x.detach().flatten(1).double().cpu().numpy())

    def fit_pixels(self, pixels: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def _store(self, buffer: torch.Tensor, value: np.ndarray) -> None:
        buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype))

    def _images(self, flat: torch.Tensor) -> torch.Tensor:
        c, r = self.ctx.channels, self.ctx.resolution
        return flat.reshape(-1, c, r, r).clamp(0, 1)


@METHODS.register("pca")
class PCABaseline(PixelBaseline):
    """Principal component analysis of the pixels (Pearson 1901; Hotelling 1933): code_dim components.

    The linear autoencoder with squared error: encode projects on the top principal
    directions, decode is the inverse transform (the best rank-D reconstruction).
    """

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.encoder = AffineCode(self.n_pixels, ctx.code_dim)

    def fit_pixels(self, pixels):
        from sklearn.decomposition import PCA  # lazy: every stage imports the method registry

        pca = PCA(self.ctx.code_dim, random_state=self.ctx.seed).fit(pixels)
        self._store(self.encoder.mean, pca.mean_)
        self._store(self.encoder.components, pca.components_)
        return {"explained_variance": float(pca.explained_variance_ratio_.sum())}

    def decode(self, z):
        return self._images(z @ self.encoder.components + self.encoder.mean)


@METHODS.register("ica")
class ICABaseline(PixelBaseline):
    """Independent component analysis by FastICA (Hyvarinen & Oja 2000): code_dim unit-variance sources.

    Linear and non-Gaussian: the classical disentangling baseline (it recovers independent
    factors exactly when the mixing is linear).  decode is the mixing matrix.
    """

    @dataclass
    class Params(PixelParams):
        max_iter: int = check(400, positive, help="FastICA iterations.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.encoder = AffineCode(self.n_pixels, ctx.code_dim)
        self.register_buffer("mixing", torch.zeros(self.n_pixels, ctx.code_dim))

    def fit_pixels(self, pixels):
        from sklearn.decomposition import FastICA

        ica = FastICA(self.ctx.code_dim, whiten="unit-variance", max_iter=self.params.max_iter, random_state=self.ctx.seed)
        ica.fit(pixels)
        self._store(self.encoder.mean, ica.mean_)
        self._store(self.encoder.components, ica.components_)
        self._store(self.mixing, ica.mixing_)
        return {"iterations": float(ica.n_iter_)}

    def decode(self, z):
        return self._images(z @ self.mixing.T + self.encoder.mean)


@METHODS.register("kmeans")
class KMeansBaseline(PixelBaseline):
    """k-means (Lloyd 1982) as an encoder-decoder: the code is the one-hot nearest centroid.

    The encoder outputs a one-hot cluster index and the decoder the cluster mean that minimizes
    the reconstruction error (clustering read as a representation: a one-hot code of the nearest centre).
    decode(z) = z @ centroids: the centroid for a one-hot code, their mixture otherwise.
    """

    @dataclass
    class Params(PixelParams):
        k: int | None = check(None, positive, help="number of clusters = code size (empty: backbone.code_dim).")
        n_init: int = check(3, positive, help="k-means++ restarts (the best inertia is kept).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.k = params.k or ctx.code_dim
        self.encoder = NearestCentroid(self.n_pixels, self.k)

    def fit_pixels(self, pixels):
        from sklearn.cluster import KMeans

        km = KMeans(self.k, n_init=self.params.n_init, random_state=self.ctx.seed).fit(pixels)
        self._store(self.encoder.centroids, km.cluster_centers_)
        return {"inertia_per_image": float(km.inertia_ / len(pixels))}

    def decode(self, z):
        return self._images(z @ self.encoder.centroids)
