import numpy as np
import pytest

from sslpipe.evaluate.geometry import alignment, uniformity


def test_alignment_closed_cases():
    z = np.random.default_rng(0).normal(size=(50, 4))
    assert alignment(z, 3 * z) == pytest.approx(0.0)  # scale-free: codes are normalized
    assert alignment(z, -z) == pytest.approx(4.0)  # antipodal pairs: ||2u||^2


def test_uniformity_of_collapsed_and_spread_codes():
    assert uniformity(np.ones((20, 3))) == pytest.approx(0.0)  # every pair coincides
    spread = np.random.default_rng(0).normal(size=(500, 8))
    assert uniformity(spread) < -3.0  # close to the uniform limit on S^7
