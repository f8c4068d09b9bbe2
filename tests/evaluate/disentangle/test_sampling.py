import numpy as np
import pytest

from sslpipe.evaluate.disentangle.sampling import beta_vae_score, factor_vae_score
from sslpipe.evaluate.disentangle.sampling import fixed_factor_batches

from ..conftest import SIZES, ToySampler


def codes_of(encode):
    """Factor rows -> codes: the toy sampler renders a row as itself."""
    return lambda f: encode(ToySampler().render(f))


def identity(x):
    return x


def mixing(x):
    return x @ np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])


def noise(x):
    """A code that ignores the image."""
    return np.random.default_rng(len(x) + int(np.asarray(x).sum())).normal(size=(len(x), 3))


def constant(x):
    return np.zeros((len(x), 3))


def test_batches_hold_the_chosen_factor_fixed():
    rng = np.random.default_rng(0)
    f, k = fixed_factor_batches(ToySampler(), 20, 8, rng, pairs=True)
    assert f.shape == (20, 2, 8, 3)
    assert all((f[i, 0, :, k[i]] == f[i, 1, :, k[i]]).all() for i in range(20))
    f, k = fixed_factor_batches(ToySampler(), 20, 8, rng, pairs=False)
    assert f.shape == (20, 8, 3) and all((f[i, :, k[i]] == f[i, 0, k[i]]).all() for i in range(20))
    assert len(set(k)) == len(SIZES)


def test_beta_vae_score_is_one_for_identity_and_chance_for_noise():
    kw = dict(batch_size=16, n_train=200, n_eval=100, seed=0)
    assert beta_vae_score(ToySampler(), codes_of(identity), **kw)["betavae"] == pytest.approx(1.0)
    assert beta_vae_score(ToySampler(), codes_of(noise), **kw)["betavae"] < 0.5  # chance: 1/3


def test_factor_vae_score_identity_mixing_and_collapsed_codes():
    kw = dict(batch_size=16, n_train=200, n_eval=100, n_var_est=500, seed=0)
    assert factor_vae_score(ToySampler(), codes_of(identity), **kw)["factorvae"] == pytest.approx(1.0)
    assert factor_vae_score(ToySampler(), codes_of(mixing), **kw)["factorvae"] < 0.8  # two factors share each dimension
    assert factor_vae_score(ToySampler(), codes_of(noise), **kw)["factorvae"] < 0.6
    collapsed = factor_vae_score(ToySampler(), codes_of(constant), **kw)
    assert collapsed["factorvae"] == 0.0 and collapsed["factorvae/active_dims"] == 0.0


def test_sampling_scores_are_deterministic_for_a_seed():
    kw = dict(batch_size=8, n_train=50, n_eval=30, seed=5)
    assert beta_vae_score(ToySampler(), codes_of(mixing), **kw) == beta_vae_score(ToySampler(), codes_of(mixing), **kw)
