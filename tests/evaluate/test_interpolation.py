"""Interpolation check: known cases where midpoints are / are not on the manifold."""
import numpy as np
import pytest
import torch
from torch import nn

from sslpipe.evaluate.interpolation import interpolation_metrics, manifold_ratios, nearest_distances

RES = 16


def bar(positions: np.ndarray) -> np.ndarray:
    """Images of a vertical bar 2 pixels wide at a (fractional) column: a 1-D manifold."""
    cols = np.arange(RES)[None, :]
    profile = np.clip(1.0 - np.abs(cols - positions[:, None]) / 1.5, 0, 1)
    return np.repeat(profile[:, None, None, :], RES, axis=2).astype(np.float32)


class Oracle(nn.Module):
    """Encodes the bar's position, decodes by rendering it: every decoded code is a real image."""

    def encode(self, x):
        cols = torch.arange(RES, dtype=x.dtype)
        weights = x[:, 0].mean(1)
        return ((weights * cols).sum(1) / weights.sum(1))[:, None]

    def decode(self, z):
        return torch.from_numpy(bar(z[:, 0].numpy()))


class Pixels(nn.Module):
    """The identity code: midpoints are pixel blends (two ghost bars)."""

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.reshape(-1, 1, RES, RES)


def dataset(n=400, seed=0):
    return bar(np.random.default_rng(seed).uniform(2, RES - 3, n))


def test_nearest_distances_brute_force():
    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    d = np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1))
    np.testing.assert_allclose(nearest_distances(q, r), d.min(1))
    dr = np.sqrt(((r[:, None] - r[None]) ** 2).sum(-1)) + np.diag(np.full(9, np.inf))
    np.testing.assert_allclose(nearest_distances(r, r, exclude_self=True), dr.min(1))


def test_real_images_as_midpoints_give_ratio_near_one():
    ref, other = dataset(300, 1), dataset(300, 2)
    m = manifold_ratios(other, other, other, ref)
    assert m["interp/manifold_ratio"] == pytest.approx(1.0, abs=0.35)
    assert m["interp/recon_ratio"] == pytest.approx(1.0)


def test_oracle_decoder_stays_on_the_manifold_and_pixel_blending_does_not():
    images = (dataset() * 255).round().astype(np.uint8)
    oracle = interpolation_metrics(Oracle(), images, n_pairs=200)
    pixels = interpolation_metrics(Pixels(), images, n_pairs=200)
    assert set(oracle) >= {"interp/manifold_ratio", "interp/recon_ratio", "interp/pixel_ratio"}
    assert all(isinstance(v, float) for v in oracle.values())
    assert oracle["interp/manifold_ratio"] < 2.0
    assert pixels["interp/manifold_ratio"] > 3 * oracle["interp/manifold_ratio"]
    assert pixels["interp/manifold_ratio"] == pytest.approx(pixels["interp/pixel_ratio"], rel=1e-5)
    assert 0.5 < pixels["interp/recon_nn"] / pixels["interp/real_nn"] < 2  # its reconstructions are real images
    assert interpolation_metrics(Oracle(), images, n_pairs=200) == oracle  # seeded


def test_too_few_images_is_an_error():
    with pytest.raises(ValueError):
        interpolation_metrics(Pixels(), dataset(3), n_reference=2)
