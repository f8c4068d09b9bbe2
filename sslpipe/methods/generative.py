"""Autoencoders and disentangling VAEs: an encoder (the representation) and a conv decoder.

All VAEs share :class:`VariationalAutoencoder`: a diagonal-Gaussian posterior from the shared
backbone (2 x code_dim outputs: mean and log-variance), the reparameterized sample, a Bernoulli
or Gaussian decoder, and an optional linear warm-up of the regularizer.  Each method only says
what it adds to the reconstruction term (``regularizer``).  The representation evaluated
downstream is the posterior mean.  Formula pieces live in :mod:`sslpipe.losses.vae`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.schema import check, non_negative, one_of, positive
from ..losses.vae import RECONSTRUCTIONS, active_units, dip_covariance, dip_penalty, gaussian_kl, permute_dims, tc_decomposition
from ..models.heads import ConvDecoder
from .base import METHODS, Method, MethodParams


@dataclass
class ReconstructionParams(MethodParams):
    decoder: str = check("bernoulli", one_of(*RECONSTRUCTIONS), help="decoder likelihood: bernoulli (BCE) or gaussian (squared error).")
    decoder_sigma: float = check(0.1, positive, help="standard deviation of the gaussian decoder (ignored by bernoulli), e.g. 0.1.")


@dataclass
class VAEParams(ReconstructionParams):
    kl_warmup: int = check(0, non_negative, help="steps over which the KL weight rises linearly from 0 to its value (0 = no warm-up).")


class Reconstructing(Method):
    """Shared by every model with a decoder: the mirrored ConvDecoder and the reconstruction NLL."""

    family = "generative"
    Params = ReconstructionParams

    def __init__(self, params, ctx, encoder_dim: int):
        super().__init__(params, ctx)
        self.encoder = ctx.make_backbone(code_dim=encoder_dim)
        bb = ctx.backbone
        self.decoder = ConvDecoder(ctx.code_dim, ctx.channels, ctx.resolution, bb.width, bb.depth)

    def reconstruction(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per sample, [B]."""
        return RECONSTRUCTIONS[self.params.decoder](logits, x, self.params.decoder_sigma)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))


@METHODS.register("ae")
class AutoEncoder(Reconstructing):
    """Deterministic autoencoder: minimize the reconstruction error through a code_dim bottleneck.

    The non-linear generalization of PCA (a linear AE with squared error spans the principal
    subspace; Baldi & Hornik 1989); see Hinton & Salakhutdinov (2006).
    """

    def __init__(self, params, ctx):
        super().__init__(params, ctx, ctx.code_dim)

    def loss(self, x):
        recon = self.reconstruction(self.decoder(self.encoder(x)), x).mean()
        return recon, {"recon": recon.item()}


class VariationalAutoencoder(Reconstructing):
    """The VAE machinery (Kingma & Welling 2014) with a pluggable regularizer.

    loss = recon + w(step) * regularizer, where w rises linearly from 0 to 1 over ``kl_warmup``
    steps (Bowman et al. 2016; Sonderby et al. 2016).  The step count is a buffer updated by
    ``on_step_end``, so it is checkpointed with the weights.  Every step logs ``recon``,
    ``kl`` (closed form, batch mean), ``active_units`` (Burda et al. 2016) and the
    method's own terms.
    """

    Params = VAEParams

    def __init__(self, params, ctx):
        super().__init__(params, ctx, 2 * ctx.code_dim)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def posterior(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def regularizer(self, z, mu, logvar, kl) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """What the method adds to the reconstruction term, and the terms to log."""
        raise NotImplementedError

    def warmup_weight(self) -> float:
        n = self.params.kl_warmup
        return min(1.0, int(self.steps_done) / n) if n else 1.0

    def loss(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.reconstruction(self.decoder(z), x).mean()
        kl = gaussian_kl(mu, logvar).sum(1).mean()
        reg, terms = self.regularizer(z, mu, logvar, kl)
        weight = self.warmup_weight()
        loss = recon + weight * reg
        logs = {"recon": recon.item(), "kl": kl.item(), "active_units": float(active_units(mu)), "kl_weight": weight}
        return loss, {**logs, **{k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}}

    def on_step_end(self, step):
        self.steps_done.fill_(step + 1)
        super().on_step_end(step)

    def encode(self, x):
        return self.posterior(x)[0]


@METHODS.register("beta_vae")
class BetaVAE(VariationalAutoencoder):
    """beta-VAE (Higgins et al. 2017): recon + beta * KL; beta > 1 pressures a factorized code."""

    @dataclass
    class Params(VAEParams):
        beta: float = check(4.0, non_negative, help="weight of the KL term; beta >= 0 (1 = plain VAE).")

    @property
    def beta(self) -> float:
        return self.params.beta

    def regularizer(self, z, mu, logvar, kl):
        return self.beta * kl, {}


@METHODS.register("vae")
class VAE(BetaVAE):
    """The VAE (Kingma & Welling 2014): the beta-VAE with beta = 1 (the ELBO)."""

    Params = VAEParams
    beta = 1.0


@METHODS.register("annealed_vae")
class AnnealedVAE(VariationalAutoencoder):
    """Controlled capacity increase (Burgess et al. 2018): recon + gamma * |KL - C|.

    The target capacity C (nats) grows linearly from 0 to ``c_max`` over ``capacity_steps``,
    so the code gains information gradually, most informative factors first.
    """

    @dataclass
    class Params(VAEParams):
        gamma: float = check(100.0, non_negative, help="weight of the capacity constraint (Burgess et al. use 1000).")
        c_max: float = check(15.0, non_negative, help="final KL capacity in nats.")
        capacity_steps: int = check(450, positive, help="steps over which the capacity rises from 0 to c_max (about the training steps).")

    def capacity(self) -> float:
        return self.params.c_max * min(1.0, int(self.steps_done) / self.params.capacity_steps)

    def regularizer(self, z, mu, logvar, kl):
        c = self.capacity()
        return self.params.gamma * (kl - c).abs(), {"capacity": c}


def discriminator(code_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """FactorVAE's discriminator: an MLP with LeakyReLU(0.2) giving 2 logits (joint, product of marginals)."""
    mods: list[nn.Module] = []
    d = code_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
        d = hidden
    mods.append(nn.Linear(d, 2))
    return nn.Sequential(*mods)


@METHODS.register("factor_vae")
class FactorVAE(VariationalAutoencoder):
    r"""FactorVAE (Kim & Mnih 2018): recon + KL + gamma * TC(z), TC estimated by a discriminator.

    The discriminator D tells samples of q(z) from samples of :math:`\prod_d q(z_d)` (latents
    permuted per dimension, :func:`permute_dims`); then :math:`TC \approx E[\log D(z)/(1-D(z))]`
    = E[logit_joint - logit_product].  D has its own Adam (lr 1e-4, betas (0.5, 0.9) as in the
    paper; ``Method.auxiliary``), and is stepped after the shared step on the detached
    latents of the last batch (the paper draws a second batch; reusing this one halves the
    encoder cost).
    """

    @dataclass
    class Params(VAEParams):
        gamma: float = check(10.0, non_negative, help="weight of the total-correlation penalty (Kim & Mnih use 10-100).")
        disc_hidden: int = check(256, positive, help="discriminator width (the paper: 1000).")
        disc_layers: int = check(3, positive, help="discriminator hidden layers (the paper: 6).")
        disc_lr: float = check(1e-4, positive, help="learning rate of the discriminator's Adam.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        net = discriminator(ctx.code_dim, params.disc_hidden, params.disc_layers)
        self.auxiliary("discriminator", net, self.discriminator_loss, lr=params.disc_lr, betas=(0.5, 0.9), state_key="disc_opt")

    def regularizer(self, z, mu, logvar, kl):
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logits = torch.func.functional_call(self.discriminator, frozen, (z,))
        tc = (logits[:, 0] - logits[:, 1]).mean()
        self.train_auxiliary("discriminator", z)
        return kl + self.params.gamma * tc, {"tc": tc, **self.auxiliaries["discriminator"].logs}

    def discriminator_loss(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of D on q(z) samples (label 0) against permuted samples (label 1), and its logs."""
        inputs = torch.cat([z, permute_dims(z)])
        labels = torch.arange(2, device=z.device).repeat_interleave(len(z))
        logits = self.discriminator(inputs)
        loss = F.cross_entropy(logits, labels)
        return loss, {"disc_loss": loss.item(), "disc_accuracy": (logits.argmax(1) == labels).float().mean().item()}


@METHODS.register("beta_tcvae")
class BetaTCVAE(VariationalAutoencoder):
    r"""beta-TC-VAE (Chen et al. 2018): the KL split into index-code MI + TC + dimension-wise KL, beta on TC.

    Minimizes recon + KL + (beta - 1) * TC, with TC by minibatch-weighted sampling
    (:func:`tc_decomposition`); in expectation this is Chen et al.'s MI + beta TC + dim-KL,
    with the closed-form KL for the other two terms (lower variance; as disentanglement_lib).
    ``dataset_size`` is the N of the estimator (the number of training images).
    """

    @dataclass
    class Params(VAEParams):
        beta: float = check(6.0, non_negative, help="weight of the total-correlation term (1 = VAE).")
        dataset_size: int = check(20000, positive, help="training-set size N of the minibatch-weighted-sampling estimator.")

    def regularizer(self, z, mu, logvar, kl):
        terms = tc_decomposition(z, mu, logvar, self.params.dataset_size)
        return kl + (self.params.beta - 1.0) * terms["tc"], terms


@METHODS.register("dip_vae")
class DIPVAE(VariationalAutoencoder):
    r"""DIP-VAE (Kumar et al. 2018): recon + KL + lambda_od * sum_{i!=j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2.

    C is the covariance of the posterior means (variant ``i``) or of the aggregate posterior
    (variant ``ii``), see :func:`dip_covariance`.  ``lambda_d`` defaults to 10 lambda_od for
    variant i and lambda_od for variant ii (the disentanglement_lib settings).
    """

    @dataclass
    class Params(VAEParams):
        variant: str = check("i", one_of("i", "ii"), help="i: covariance of the means; ii: of the aggregate posterior.")
        lambda_od: float = check(10.0, non_negative, help="weight of the off-diagonal covariance penalty.")
        lambda_d: float | None = check(None, non_negative, help="weight of the diagonal penalty (empty: 10 lambda_od for i, lambda_od for ii).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        default_d = {"i": 10.0, "ii": 1.0}[params.variant] * params.lambda_od
        self.lambda_d = default_d if params.lambda_d is None else params.lambda_d

    def regularizer(self, z, mu, logvar, kl):
        off_diagonal, diagonal = dip_penalty(dip_covariance(mu, logvar, self.params.variant))
        reg = kl + self.params.lambda_od * off_diagonal + self.lambda_d * diagonal
        return reg, {"dip_off_diagonal": off_diagonal, "dip_diagonal": diagonal}
