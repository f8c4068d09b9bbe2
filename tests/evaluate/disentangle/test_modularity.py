import numpy as np
import pytest

from sslpipe.evaluate.disentangle.modularity import modularity_explicitness
from sslpipe.evaluate.disentangle.modularity import modularity


def test_modularity_closed_form():
    assert modularity(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])) == pytest.approx(1.0)
    # a code equally informative about both of 2 factors: delta = theta^2 / (theta^2 (K-1)) = 1
    assert modularity(np.array([[1.0, 1.0]])) == pytest.approx(0.0)
    assert modularity(np.array([[0.0, 0.0]])) == 0.0  # no information counts as 0


def test_disentangled_codes_are_modular_and_explicit(codes):
    ftr, fte = codes["factors"]
    s = {k: modularity_explicitness(codes[k][0], ftr, codes[k][1], fte) for k in ("disentangled", "mixed", "random")}
    assert s["disentangled"]["modularity"] > 0.95 > s["mixed"]["modularity"]
    assert s["disentangled"]["explicitness"] > 0.9
    assert s["random"]["explicitness"] == pytest.approx(0.5, abs=0.05)  # ROC-AUC of chance


def test_deterministic_for_a_seed(codes):
    ftr, fte = codes["factors"]
    a = modularity_explicitness(codes["mixed"][0], ftr, codes["mixed"][1], fte, seed=3)
    assert a == modularity_explicitness(codes["mixed"][0], ftr, codes["mixed"][1], fte, seed=3)
