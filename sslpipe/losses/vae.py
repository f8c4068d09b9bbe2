r"""Terms of the VAE family of objectives: pure functions of posterior parameters and samples.

Conventions: the posterior is a diagonal Gaussian :math:`q(z|x) = N(\mu, \mathrm{diag}(e^{\log\sigma^2}))`
given as ``mu, logvar`` of shape [B, D]; the prior is :math:`N(0, I)`.  Per-sample terms
return [B] (or [B, D]); the methods average over the batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "gaussian_kl",
    "gaussian_log_density",
    "bernoulli_nll",
    "gaussian_nll",
    "RECONSTRUCTIONS",
    "active_units",
    "tc_decomposition",
    "dip_covariance",
    "dip_penalty",
    "permute_dims",
]

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample and dimension (Kingma & Welling 2014).

    :math:`\tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)`; returns [B, D] (sum over D for the total).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Elementwise :math:`\log N(z; \mu, e^{\log\sigma^2})` (broadcasting), no sum over dimensions."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


# --- reconstruction terms: -log p(x|z) per sample --------------------------------------
def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Bernoulli decoder: :math:`-\sum_{pixels} [x \log p + (1-x)\log(1-p)]`, p = sigmoid(logits); [B].

    Used with grey levels in [0, 1] as in Higgins et al. (2017) and Locatello et al. (2019).
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(logits: torch.Tensor, x: torch.Tensor, sigma: float = 0.1) -> torch.Tensor:
    r"""Gaussian decoder with mean sigmoid(logits) and fixed std ``sigma``: the full NLL per sample, [B].

    :math:`\sum_{pixels} \tfrac12 ((x - m)/\sigma)^2 + \log\sigma + \tfrac12\log 2\pi`.
    """
    mean = torch.sigmoid(logits)
    per_pixel = 0.5 * ((x - mean) / sigma).pow(2) + math.log(sigma) + 0.5 * LOG_2PI
    return per_pixel.flatten(1).sum(1)


#: decoder likelihood name -> per-sample negative log-likelihood ``fn(logits, x, sigma)``
RECONSTRUCTIONS = {
    "bernoulli": lambda logits, x, sigma: bernoulli_nll(logits, x),
    "gaussian": gaussian_nll,
}


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    r"""Burda et al. (2016): dimensions u with :math:`\mathrm{Cov}_x(E_{q(u|x)}[u]) > 0.01`.

    The variance over the batch of the posterior means; a dimension the encoder ignores has
    the same mean for every input and does not count.
    """
    if mu.shape[0] < 2:
        return 0
    return int((mu.detach().var(0, unbiased=True) > threshold).sum())


# --- beta-TC-VAE: the KL decomposition by minibatch-weighted sampling -------------------
def tc_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> dict[str, torch.Tensor]:
    r"""Chen et al. (2018) decomposition of the (sampled) KL into three batch-averaged terms.

    With :math:`z_i \sim q(z|x_i)` and the minibatch-weighted-sampling estimate (their eq. 4,
    batch size M, dataset size N)

    .. math:: \log q(z_i) \approx \log \textstyle\sum_j q(z_i|x_j) - \log(NM),\qquad
              \log q(z_{i,d}) \approx \log \textstyle\sum_j q(z_{i,d}|x_j) - \log(NM),

    the terms are index-code MI :math:`E[\log q(z|x) - \log q(z)]`, total correlation
    :math:`E[\log q(z) - \sum_d \log q(z_d)]` and dimension-wise KL
    :math:`E[\sum_d \log q(z_d) - \log p(z_d)]`.  They sum exactly to
    ``kl_sample`` :math:`= E[\log q(z|x) - \log p(z)]`, the one-sample Monte Carlo KL.
    Returns ``{"mi", "tc", "dim_kl", "kl_sample"}`` (scalars, differentiable).
    """
    m, _ = z.shape
    log_nm = math.log(dataset_size * m)
    # pairwise[i, j, d] = log q(z_{i,d} | x_j)
    pairwise = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])
    log_qz = torch.logsumexp(pairwise.sum(2), dim=1) - log_nm
    log_qz_product = (torch.logsumexp(pairwise, dim=1) - log_nm).sum(1)
    log_qz_given_x = gaussian_log_density(z, mu, logvar).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return {
        "mi": (log_qz_given_x - log_qz).mean(),
        "tc": (log_qz - log_qz_product).mean(),
        "dim_kl": (log_qz_product - log_pz).mean(),
        "kl_sample": (log_qz_given_x - log_pz).mean(),
    }


# --- DIP-VAE: moment matching of the aggregate posterior ---------------------------------
def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, variant: str) -> torch.Tensor:
    r"""Kumar et al. (2018): the covariance DIP-VAE pushes to the identity, [D, D].

    Variant ``"i"``: :math:`\mathrm{Cov}_{p(x)}[\mu(x)]`; variant ``"ii"``: the covariance of the
    aggregate posterior :math:`\mathrm{Cov}_{q(z)}[z] = E_{p(x)}[\mathrm{diag}\,\sigma^2(x)] + \mathrm{Cov}_{p(x)}[\mu(x)]`.
    Population (biased) covariances over the batch.
    """
    cov_mu = torch.cov(mu.T, correction=0).reshape(mu.shape[1], mu.shape[1])
    if variant == "i":
        return cov_mu
    if variant == "ii":
        return cov_mu + torch.diag(logvar.exp().mean(0))
    raise ValueError(f"DIP-VAE variant must be 'i' or 'ii', got {variant!r}")


def dip_penalty(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two DIP terms of a covariance: :math:`\sum_{i\ne j} C_{ij}^2` and :math:`\sum_i (C_{ii} - 1)^2`.

    The loss weights them by ``lambda_od`` and ``lambda_d`` (Kumar et al. 2018, eq. 6).
    """
    diag = torch.diagonal(cov)
    off_diagonal = cov - torch.diag(diag)
    return off_diagonal.pow(2).sum(), (diag - 1).pow(2).sum()


# --- FactorVAE ---------------------------------------------------------------------------
def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Kim & Mnih (2018), Alg. 1: permute each column of z independently across the batch.

    Samples of :math:`\bar q(z) = \prod_d q(z_d)`: each dimension keeps its marginal, the
    dependence between dimensions is broken.
    """
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(dim=0)
    return z.gather(0, order)
