"""Terms of the VAE family of objectives: pure functions of posterior parameters and samples."""
from __future__ import annotations

import torch


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample and dimension (Kingma & Welling 2014).

    :math:`\tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)`; returns [B, D] (sum over D for the total).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)
