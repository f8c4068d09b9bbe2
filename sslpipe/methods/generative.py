"""Generative and disentangling models: an encoder (the representation) and a decoder."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import check, non_negative
from ..losses import gaussian_kl
from ..models.heads import ConvDecoder
from .base import METHODS, Method, MethodParams


@METHODS.register("beta_vae")
class BetaVAE(Method):
    """beta-VAE (Higgins et al. 2017): ELBO with the KL term weighted by beta; beta=1 is the VAE.

    The encoder outputs the mean and log-variance of a diagonal Gaussian posterior; the
    representation evaluated downstream is the mean.  Bernoulli decoder (BCE on [0, 1]).
    """

    family = "generative"

    @dataclass
    class Params(MethodParams):
        beta: float = check(4.0, non_negative, help="weight of the KL term; beta >= 0 (1 = plain VAE).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.encoder = ctx.make_backbone(code_dim=2 * ctx.code_dim)
        bb = ctx.backbone
        self.decoder = ConvDecoder(ctx.code_dim, ctx.channels, ctx.resolution, bb.width, bb.depth)

    def posterior(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def loss(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl_dims = gaussian_kl(mu, logvar).mean(0)
        kl = kl_dims.sum()
        loss = recon + self.params.beta * kl
        return loss, {"recon": recon.item(), "kl": kl.item(), "active_units": int((kl_dims > 0.01).sum())}

    def encode(self, x):
        return self.posterior(x)[0]

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))
