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
    good = dci(*codes["disentangled"][:1], ftr, codes["disentangled"][1], fte)
    bad = dci(*codes["random"][:1], ftr, codes["random"][1], fte)
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9 and good["informativeness"] > 0.95
    assert bad["informativeness"] < 0.35 and bad["disentanglement"] < good["disentanglement"] - 0.5


def test_dci_does_not_depend_on_the_number_of_threads(codes):
    ftr, fte = codes["factors"]
    z_train, z_test = codes["mixed"][0], codes["mixed"][1]
    assert dci(z_train, ftr, z_test, fte, n_jobs=1) == dci(z_train, ftr, z_test, fte, n_jobs=2)
