"""VAE terms against torch.distributions, brute-force loops and known cases."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from sslpipe.losses.vae import (
    active_units,
    bernoulli_nll,
    dip_covariance,
    dip_penalty,
    gaussian_kl,
    gaussian_log_density,
    gaussian_nll,
    permute_dims,
    tc_decomposition,
)


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def posterior(b=16, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(b, d, generator=g)
    logvar = torch.randn(b, d, generator=g) * 0.5 - 1.0
    z = mu + torch.randn(b, d, generator=g) * (0.5 * logvar).exp()
    return z, mu, logvar


def test_gaussian_kl_is_the_closed_form_of_torch_distributions():
    _, mu, logvar = posterior()
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_gaussian_log_density_matches_normal_log_prob():
    z, mu, logvar = posterior()
    torch.testing.assert_close(gaussian_log_density(z, mu, logvar), Normal(mu, (0.5 * logvar).exp()).log_prob(z))


def test_reconstruction_terms_are_negative_log_likelihoods():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 1, 4, 4, generator=g)
    x = (torch.rand(5, 1, 4, 4, generator=g) > 0.5).double()
    torch.testing.assert_close(bernoulli_nll(logits, x), -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1))
    grey = torch.rand(5, 1, 4, 4, generator=g)
    expected = -Normal(torch.sigmoid(logits), 0.2).log_prob(grey).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(logits, grey, sigma=0.2), expected)


def test_active_units_counts_dimensions_whose_posterior_mean_varies():
    mu = torch.zeros(100, 4)
    mu[:, 0] = torch.linspace(-1, 1, 100)  # variance ~0.34
    mu[:, 1] = torch.linspace(-0.05, 0.05, 100)  # variance ~0.0009: inactive
    mu[:, 3] = 3.0  # constant: inactive
    assert active_units(mu) == 1


def test_tc_terms_sum_to_the_sampled_kl():
    z, mu, logvar = posterior(32, 5)
    t = tc_decomposition(z, mu, logvar, dataset_size=1000)
    torch.testing.assert_close(t["mi"] + t["tc"] + t["dim_kl"], t["kl_sample"], atol=1e-10, rtol=0)


def test_tc_decomposition_against_a_loop_over_the_minibatch():
    """Chen et al. (2018) eq. 4 written out: q(z_i) ~ 1/(NM) sum_j prod_d N(z_id; mu_jd, s_jd)."""
    z, mu, logvar = posterior(6, 3)
    n_data, m = 50, 6
    std = (0.5 * logvar).exp()

    def pdf(v, mean, s):
        return math.exp(-0.5 * ((v - mean) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    mi = tc = dim_kl = 0.0
    for i in range(m):
        log_q_cond = sum(math.log(pdf(z[i, d], mu[i, d], std[i, d])) for d in range(3))
        log_qz = math.log(sum(math.prod(pdf(z[i, d], mu[j, d], std[j, d]) for d in range(3)) for j in range(m)) / (n_data * m))
        log_marg = sum(math.log(sum(pdf(z[i, d], mu[j, d], std[j, d]) for j in range(m)) / (n_data * m)) for d in range(3))
        log_p = sum(math.log(pdf(z[i, d], 0.0, 1.0)) for d in range(3))
        mi += (log_q_cond - log_qz) / m
        tc += (log_qz - log_marg) / m
        dim_kl += (log_marg - log_p) / m
    t = tc_decomposition(z, mu, logvar, dataset_size=n_data)
    for key, ref in (("mi", mi), ("tc", tc), ("dim_kl", dim_kl)):
        assert t[key].item() == pytest.approx(ref, rel=1e-9, abs=1e-9), key


def test_sampled_kl_is_unbiased_for_the_closed_form():
    _, mu, logvar = posterior(8, 3, seed=2)
    g = torch.Generator().manual_seed(3)
    samples = [tc_decomposition(mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp(), mu, logvar, 100)["kl_sample"]
               for _ in range(4000)]
    closed = gaussian_kl(mu, logvar).sum(1).mean()
    assert torch.stack(samples).mean().item() == pytest.approx(closed.item(), abs=0.03)


def test_tc_is_larger_for_dependent_latents():
    """Posteriors spread along a line (z_1 = z_0) have a larger TC estimate than axis-independent ones."""
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(256, generator=g), torch.randn(256, generator=g)
    logvar = torch.full((256, 2), -4.0)
    dependent = torch.stack([a, a], 1)
    independent = torch.stack([a, b], 1)
    tc_dep = tc_decomposition(dependent, dependent, logvar, 256)["tc"]
    tc_ind = tc_decomposition(independent, independent, logvar, 256)["tc"]
    assert tc_dep > tc_ind + 1.0


def test_dip_covariances_and_penalty():
    _, mu, logvar = posterior(64, 3)
    cov_i = dip_covariance(mu, logvar, "i")
    np.testing.assert_allclose(cov_i.numpy(), np.cov(mu.numpy().T, bias=True), atol=1e-12)
    cov_ii = dip_covariance(mu, logvar, "ii")
    np.testing.assert_allclose((cov_ii - cov_i).numpy(), np.diag(logvar.exp().mean(0).numpy()), atol=1e-12)
    assert [v.item() for v in dip_penalty(torch.eye(3))] == [0.0, 0.0]
    od, d = dip_penalty(torch.tensor([[2.0, 0.5], [0.5, 1.0]]))
    assert od.item() == pytest.approx(0.5) and d.item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        dip_covariance(mu, logvar, "iii")


def test_permute_dims_keeps_each_marginal_and_breaks_dependence():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(4096, generator=g)
    z = torch.stack([a, a, 2 * a + 1], 1)  # perfectly dependent columns
    p = permute_dims(z, generator=g)
    for d in range(3):  # each column is a permutation of its input column
        torch.testing.assert_close(p[:, d].sort().values, z[:, d].sort().values, rtol=0, atol=0)
    corr = np.corrcoef(p.numpy().T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.1
    assert not torch.equal(p[:, 0], z[:, 0])
