"""Reconstruction tasks: hide or corrupt part of the input and predict it back.

Context encoders (inpainting), denoising autoencoders, split-brain autoencoders and masked
autoencoders.  The representation is always the encoder applied to the whole, clean image.
``decode(z)`` exists only where the decoder reconstructs the whole image from the
representation itself (the denoising autoencoder); the context encoder is trained on the
hidden pixels only, and the split-brain and MAE decoders do not read the pooled code.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..augment.grids import patchify
from ..augment.masks import MASKS, make_mask, random_token_mask
from ..core.schema import check, in_range, non_negative, one_of, positive
from ..models.vit import MaskedTokenDecoder, TinyViT
from .base import METHODS, Method, MethodParams
from .parts.colour import ABQuantizer, light_ab
from .parts.decoders import image_decoder


def pixel_loss(logits: torch.Tensor, target: torch.Tensor, kind: str, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstruction loss of decoder logits (sigmoid -> [0, 1]) against ``target``: BCE or squared
    error, averaged over all pixels, or weighted by ``weight`` [B, 1, R, R] (normalized by its sum)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - target) ** 2
    if weight is None:
        return per_pixel.mean()
    weight = weight.expand_as(per_pixel)
    return (per_pixel * weight).sum() / weight.sum().clamp_min(1.0)


# --- context encoder --------------------------------------------------------------------
class PatchDiscriminator(nn.Module):
    """A small conv discriminator (real image vs inpainted composite) for the adversarial term."""

    def __init__(self, channels: int, resolution: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), nn.Linear(2 * width * (resolution // 4) ** 2, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


@METHODS.register("inpainting")
class Inpainting(Method):
    """Context encoder (Pathak et al. 2016): fill in a hidden region from its context.

    The masked pixels are set to ``fill`` (the paper fills with the dataset mean), the encoder
    maps the masked image to the code and a conv decoder predicts the image; the
    reconstruction loss is taken on the masked pixels only, or, with ``overlap > 0``, also on
    a band of context pixels around them weighted ``overlap_weight`` (the paper's overlap).  Masks (``mask``): the paper's
    central block, random blocks, or random regions covering ``mask_ratio`` of the image.
    With ``adversarial_weight > 0`` the loss adds ``weight * -log D(composite)`` (the
    paper uses 0.001 with 0.999 on the reconstruction) where ``D`` is a small discriminator
    with its own Adam optimizer (``Method.auxiliary``), stepped after the shared step on
    real images vs. the composites of the step.
    """

    family = "reconstruction"

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(205, non_negative, help="training steps of this method (overrides train.steps).")
        mask: str = check("blocks", one_of(*MASKS.names()), help="mask type: central (block), blocks (random blocks) or region (random region).")
        mask_ratio: float = check(0.25, in_range(0, 1, lo_open=True, hi_open=True), help="fraction of the image hidden (the paper: 1/4).")
        fill: float = check(0.0, in_range(0, 1), help="value of the hidden pixels in the input.")
        overlap: int = check(2, non_negative, help="also predict a band of this many visible pixels around the hole (the paper: 4 px at 128 px); 0 = hole only.")
        overlap_weight: float = check(10.0, non_negative, help="loss weight of the overlap band relative to the hole (the paper: 10).")
        recon_loss: str = check("bce", one_of("bce", "l2"), help="bce for [0, 1] images (sharper on binary sprites) or l2 as the paper.")
        adversarial_weight: float = check(0.0, non_negative, help="0 = off; the paper: 0.001.")
        disc_lr: float = check(2e-4, positive, help="learning rate of the discriminator's Adam.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.decoder = image_decoder(ctx, ctx.code_dim, ctx.channels)
        self.disc = None
        if params.adversarial_weight > 0:
            disc = PatchDiscriminator(ctx.channels, ctx.resolution)
            self.auxiliary("disc", disc, self.discriminator_loss, lr=params.disc_lr, betas=(0.5, 0.999))

    def masked(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input with the hidden region filled, mask [B, 1, R, R] with 1 = hidden)."""
        m = make_mask(self.params.mask, len(x), x.shape[-1], self.params.mask_ratio, device=x.device)
        return x * (1 - m) + self.params.fill * m, m

    def loss_weights(self, m: torch.Tensor) -> torch.Tensor:
        """1 on the hole, ``overlap_weight`` on the band of ``overlap`` visible pixels around it, 0 elsewhere."""
        k = self.params.overlap
        if k == 0:
            return m
        band = F.max_pool2d(m, 2 * k + 1, stride=1, padding=k) - m
        return m + self.params.overlap_weight * band

    def views(self, x):
        return self.masked(x)[0]

    def loss(self, x):
        inp, m = self.masked(x)
        logits = self.decoder(self.encoder(inp))
        recon = pixel_loss(logits, x, self.params.recon_loss, self.loss_weights(m))
        logs = {"recon": recon.item()}
        loss = recon
        if self.disc is not None:
            composite = x * (1 - m) + torch.sigmoid(logits) * m
            adv = F.binary_cross_entropy_with_logits(self.disc(composite), torch.ones(len(x), device=x.device))
            w = self.params.adversarial_weight
            loss = (1 - w) * recon + w * adv
            logs["adversarial"] = adv.item()
            self.train_auxiliary("disc", x, composite)
        return loss, logs

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """D's cross-entropy on real images (label 1) against the step's composites (label 0)."""
        logits = self.disc(torch.cat([real, fake]))
        labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels), {}


# --- denoising autoencoder --------------------------------------------------------------
@METHODS.register("denoising_ae")
class DenoisingAE(Method):
    """Denoising autoencoder (Vincent et al. 2008): reconstruct the clean image from a corrupted one.

    Corruption (``noise``): ``masking`` sets a random fraction ``noise_level`` of the pixels
    to 0 (the paper's masking noise), ``gaussian`` adds isotropic Gaussian noise of standard
    deviation ``noise_level``.  The decoder reconstructs the whole image from the code, so
    ``decode(encode(x))`` is the reconstruction of a clean image.
    """

    family = "reconstruction"

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(330, non_negative, help="training steps of this method (overrides train.steps).")
        noise: str = check("masking", one_of("masking", "gaussian"), help="corruption: masking (zero pixels) or gaussian (additive).")
        noise_level: float = check(0.5, in_range(0, 1, hi_open=True), help="fraction of zeroed pixels (masking) or noise std (gaussian).")
        recon_loss: str = check("bce", one_of("bce", "l2"), help="reconstruction loss: bce (cross-entropy, as the paper) or l2.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.decoder = image_decoder(ctx, ctx.code_dim, ctx.channels)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.params.noise == "masking":
            keep = (torch.rand(x.shape[0], 1, *x.shape[2:], device=x.device) >= self.params.noise_level).to(x.dtype)
            return x * keep
        return x + self.params.noise_level * torch.randn_like(x)

    def views(self, x):
        return self.corrupt(x)

    def loss(self, x):
        recon = pixel_loss(self.decoder(self.encoder(self.corrupt(x))), x, self.params.recon_loss)
        return recon, {"recon": recon.item()}

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))


# --- split-brain autoencoder --------------------------------------------------------------
class SplitEncoder(nn.Module):
    """Two backbones on complementary channel groups (L and ab); the code is their concatenation."""

    def __init__(self, ctx):
        super().__init__()
        half = ctx.code_dim // 2
        self.light = ctx.make_backbone(in_channels=1, code_dim=half)
        self.colour = ctx.make_backbone(in_channels=2, code_dim=ctx.code_dim - half)

    @staticmethod
    def channels(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L scaled to [0, 1] and ab scaled to about [-1, 1] of RGB images in [0, 1]."""
        light, ab = light_ab(x)
        return light, ab / ABQuantizer.LIMIT

    def forward(self, x):
        light, ab = self.channels(x)
        return torch.cat([self.light(light), self.colour(ab)], dim=1)


@METHODS.register("split_brain")
class SplitBrain(Method):
    """Split-brain autoencoder (Zhang et al. 2017): L predicts ab and ab predicts L.

    Two sub-networks, each seeing one channel group of CIE Lab and predicting the other
    through a conv decoder from its half-code (``code_dim // 2`` and the rest, so the
    concatenated representation has ``code_dim`` dimensions).  ``loss: classification``
    predicts quantized targets (in-gamut ab bins; ``l_bins`` lightness bins), the paper's
    best variant; ``regression`` uses L2.  Needs colour: on grey images there is no
    natural pair of channel groups to split (the paper's depth/RGB split needs a second
    modality), so grey datasets are refused at validation.
    """

    family = "reconstruction"
    needs_color = True

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(150, non_negative, help="training steps of this method (overrides train.steps).")
        loss: str = check("classification", one_of("classification", "regression"), help="cross-channel loss: classification over bins or L2 regression.")
        bin_size: float = check(10.0, positive, help="ab bin width (10 -> 313 bins).")
        l_bins: int = check(50, positive, help="number of lightness bins.")
        stride: int = check(4, one_of(1, 2, 4), help="predict at 1/stride resolution (1/4 as in colorization).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.encoder = SplitEncoder(ctx)
        self.quantizer = ABQuantizer(params.bin_size)
        classify = params.loss == "classification"
        res = ctx.resolution // params.stride
        half = ctx.code_dim // 2
        self.to_ab = image_decoder(ctx, half, self.quantizer.bins if classify else 2, res)
        self.to_light = image_decoder(ctx, ctx.code_dim - half, params.l_bins if classify else 1, res)

    def views(self, x):
        return torch.cat(SplitEncoder.channels(x), dim=1)

    def loss(self, x):
        light, ab = SplitEncoder.channels(x)
        enc, s = self.encoder, self.params.stride
        pred_ab = self.to_ab(enc.light(light))
        pred_light = self.to_light(enc.colour(ab))
        light_t, ab_t = (F.avg_pool2d(light, s), F.avg_pool2d(ab, s)) if s > 1 else (light, ab)
        if self.params.loss == "regression":
            l_ab, l_light = F.mse_loss(pred_ab, ab_t), F.mse_loss(pred_light, light_t)
        else:
            l_ab = F.cross_entropy(pred_ab, self.quantizer.quantize(ab_t * ABQuantizer.LIMIT))
            light_bins = (light_t[:, 0] * self.params.l_bins).long().clamp(0, self.params.l_bins - 1)
            l_light = F.cross_entropy(pred_light, light_bins)
        return l_ab + l_light, {"l_to_ab": l_ab.item(), "ab_to_l": l_light.item()}


# --- masked autoencoder -----------------------------------------------------------------
@METHODS.register("mae")
class MAE(Method):
    """Masked autoencoder (He et al. 2021) with the tiny ViT of :mod:`sslpipe.models.vit`.

    Patchify, keep a random ``1 - mask_ratio`` of the patches, encode only those, decode
    all patches with a light transformer decoder (mask tokens at the hidden positions) and
    take the mean squared error on the masked patches, on per-patch normalized pixels
    when ``norm_pix_loss`` (the paper's default).  The encoder is always the tiny ViT
    (``backbone.width``/``depth``/``code_dim``), whatever ``backbone.kind``: dropping
    tokens needs a token encoder.  Representation: the mean of the encoder's tokens of the
    whole, unmasked image projected to ``code_dim`` (``TinyViT.forward``); the decoder reads
    tokens, not that code, so there is no ``decode``.

    The MAE loss never reaches that projection (``TinyViT.head``); left random it would
    keep an arbitrary ``code_dim``-dimensional view of the tokens.  It is trained instead
    as a linear autoencoder of the stop-gradient pooled tokens (``unproject(head(t)) ~ t``),
    which finds their principal subspace (the most variance that ``code_dim`` linear
    features can keep) without changing the encoder.
    """

    family = "reconstruction"

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(165, non_negative, help="training steps of this method (overrides train.steps).")
        mask_ratio: float = check(0.75, in_range(0, 1, hi_open=True), help="fraction of patches masked (the paper: 0.75).")
        norm_pix_loss: bool = check(True, help="normalize each target patch by its mean and std (the paper's default).")
        decoder_dim: int = check(64, positive, help="token size of the decoder (a multiple of 4).")
        decoder_depth: int = check(1, positive, help="transformer blocks of the decoder.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        bb = ctx.backbone
        self.encoder = TinyViT(ctx.channels, ctx.resolution, bb.width, bb.depth, ctx.code_dim)
        patch_dim = self.encoder.patch_size**2 * ctx.channels
        self.decoder = MaskedTokenDecoder(self.encoder.dim, params.decoder_dim, params.decoder_depth, self.encoder.grid, patch_dim)
        self.unproject = nn.Linear(ctx.code_dim, self.encoder.dim)

    def views(self, x):
        _, _, mask = random_token_mask(len(x), self.encoder.num_patches, self.params.mask_ratio, device=x.device)
        return mask

    def loss(self, x):
        enc = self.encoder
        tokens = enc.embed(x)
        keep, restore, mask = random_token_mask(len(x), enc.num_patches, self.params.mask_ratio, device=x.device)
        visible = tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        encoded = enc.encode_tokens(visible)
        pred = self.decoder(encoded, restore)
        target = patchify(x, enc.patch_size)
        if self.params.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = ((pred - target) ** 2).mean(-1)
        loss = (per_patch * mask).sum() / mask.sum().clamp_min(1.0)
        pooled = encoded.mean(1).detach()
        projection = F.mse_loss(self.unproject(enc.head(pooled)), pooled)
        return loss + projection, {"masked_mse": loss.item(), "projection_mse": projection.item()}
