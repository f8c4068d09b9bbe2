"""Codes with known structure: disentangled (one factor per dimension), mixed, and random."""
from types import SimpleNamespace

import numpy as np
import pytest

SIZES = (4, 5, 6)


def factors(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)


def disentangled(f, seed=0, noise=0.05):
    return f.astype(float) + noise * np.random.default_rng(seed).normal(size=f.shape)


MIXING = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])  # invertible; every factor in two dimensions


def mixed(f, seed=0):
    return disentangled(f, seed) @ MIXING


def random_codes(f, seed=0):
    return np.random.default_rng(seed + 3).normal(size=(len(f), f.shape[1]))


class ToySampler:
    """Renders factor indices as the 'image' itself; ``encode`` decides what the code is."""

    def info(self):
        return SimpleNamespace(factor_sizes=list(SIZES))

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)

    def render(self, f):
        return np.asarray(f, dtype=float)


@pytest.fixture
def codes():
    ftr, fte = factors(3000, 0), factors(1000, 1)
    return {
        "factors": (ftr, fte),
        "disentangled": (disentangled(ftr, 0), disentangled(fte, 1)),
        "mixed": (mixed(ftr, 0), mixed(fte, 1)),
        "random": (random_codes(ftr, 0), random_codes(fte, 1)),
    }
