import numpy as np
import pytest

from sslpipe.evaluate.disentangle.sap import sap


@pytest.mark.parametrize("continuous", [False, True])
def test_sap_orders_disentangled_above_mixed_above_random(codes, continuous):
    ftr, fte = codes["factors"]
    key = "sap_continuous" if continuous else "sap"
    s = {k: sap(*codes[k][:1], ftr, codes[k][1], fte, continuous=continuous)[key] for k in ("disentangled", "mixed", "random")}
    assert s["disentangled"] > 0.3 and s["disentangled"] > s["mixed"] + 0.2
    assert s["random"] < 0.05


def test_sap_is_invariant_to_dimension_order_and_scale(codes):
    ftr, fte = codes["factors"]
    ztr, zte = codes["disentangled"]
    perm, scale = [2, 0, 1], np.array([3.0, 0.5, 10.0])
    a = sap(ztr, ftr, zte, fte, continuous=True)["sap_continuous"]
    b = sap(ztr[:, perm] * scale, ftr, zte[:, perm] * scale, fte, continuous=True)["sap_continuous"]
    assert a == pytest.approx(b)


def test_continuous_sap_closed_form_for_a_duplicated_factor():
    f = np.repeat(np.arange(10), 10)[:, None]
    z = np.stack([f[:, 0], f[:, 0]], axis=1).astype(float)  # two perfect dimensions: no gap
    assert sap(z, f, z, f, continuous=True)["sap_continuous"] == pytest.approx(0.0)
    z[:, 1] = 0.0  # one perfect, one constant: gap = R^2 = 1
    assert sap(z, f, z, f, continuous=True)["sap_continuous"] == pytest.approx(1.0)
