"""Masks for inpainting (Pathak et al. 2016) and masked autoencoders (He et al. 2021).

Image masks are float tensors [B, 1, R, R] with 1 on the pixels to hide and predict.
The context encoder paper uses three kinds (Sec. 3.3): a central square block, random
(possibly overlapping) smaller blocks, and random regions (arbitrary shapes; the paper
takes them from PASCAL segmentations; here they are thresholded smooth random fields, which
give blob-like shapes of an exact area without a second dataset).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.registry import Registry

#: mask kind -> function (batch, resolution, ratio, device, generator) -> [B, 1, R, R]
MASKS: Registry = Registry("mask")


@MASKS.register("central")
def central_block(batch: int, resolution: int, ratio: float = 0.25, device=None, generator=None) -> torch.Tensor:
    """The same centred square of side ``round(R * sqrt(ratio))`` in every image (ratio 0.25: half the side)."""
    side = max(1, round(resolution * math.sqrt(ratio)))
    lo = (resolution - side) // 2
    m = torch.zeros(batch, 1, resolution, resolution, device=device)
    m[:, :, lo:lo + side, lo:lo + side] = 1
    return m


@MASKS.register("blocks")
def random_blocks(batch: int, resolution: int, ratio: float = 0.25, device=None, generator=None, block: int | None = None) -> torch.Tensor:
    """Squares of side ``block`` (default R/4) at random places, added until each image's masked fraction reaches ``ratio``.

    Blocks may overlap (as in the paper), so each image ends with a masked fraction in
    ``[ratio, ratio + block^2 / R^2)``.
    """
    block = block or max(1, resolution // 4)
    m = torch.zeros(batch, 1, resolution, resolution, device=device)
    rows = torch.arange(resolution, device=device)
    target = ratio * resolution * resolution
    # enough rounds for the worst case of every block landing on covered pixels is unbounded;
    # this cap is reached only with vanishing probability and still leaves coverage near ratio
    for _ in range(64 * math.ceil(target / block**2) + 1):
        need = m.sum((1, 2, 3)) < target
        if not need.any():
            break
        r, c = torch.randint(0, resolution - block + 1, (2, batch), generator=generator, device=device)
        inside_r = (rows[None, :] >= r[:, None]) & (rows[None, :] < r[:, None] + block)
        inside_c = (rows[None, :] >= c[:, None]) & (rows[None, :] < c[:, None] + block)
        square = (inside_r[:, :, None] & inside_c[:, None, :]) & need[:, None, None]
        m = torch.maximum(m, square[:, None].float())
    return m


@MASKS.register("region")
def random_region(batch: int, resolution: int, ratio: float = 0.25, device=None, generator=None, smoothness: int = 4) -> torch.Tensor:
    """Random blob-shaped regions of exactly ``round(ratio * R^2)`` pixels.

    A ``smoothness x smoothness`` field of Gaussian noise, upsampled bicubically to R x R,
    is thresholded at each image's own quantile, so the area is exact (ties aside) while
    the shape is random, connected-looking and of arbitrary outline.
    """
    coarse = torch.randn(batch, 1, smoothness, smoothness, generator=generator, device=device)
    field = F.interpolate(coarse, size=(resolution, resolution), mode="bicubic", align_corners=False)
    k = round(ratio * resolution * resolution)
    flat = field.flatten(1)
    m = torch.zeros_like(flat)
    if k > 0:
        top = flat.topk(k, dim=1).indices
        m.scatter_(1, top, 1.0)
    return m.view(batch, 1, resolution, resolution)


def make_mask(kind: str, batch: int, resolution: int, ratio: float, device=None, generator=None) -> torch.Tensor:
    return MASKS.get(kind, "mask")(batch, resolution, ratio, device=device, generator=generator)


# --- MAE token masks --------------------------------------------------------------------
def random_token_mask(batch: int, tokens: int, ratio: float, device=None, generator=None):
    """Per-sample random masking of ``tokens`` patches (He et al. 2021, Sec. 3), by sorting noise.

    Keeps ``tokens - round(ratio * tokens)`` (at least one) patches per image.  Returns
    ``keep`` [B, n_keep] (indices of visible tokens), ``restore`` [B, N] (argsort that puts
    [visible, masked] back in patch order) and ``mask`` [B, N] (1 = masked), as in MAE.
    """
    n_keep = max(1, tokens - round(ratio * tokens))
    noise = torch.rand(batch, tokens, generator=generator, device=device)
    shuffle = noise.argsort(dim=1)
    restore = shuffle.argsort(dim=1)
    keep = shuffle[:, :n_keep]
    mask = torch.ones(batch, tokens, device=device)
    mask[:, :n_keep] = 0
    mask = mask.gather(1, restore)
    return keep, restore, mask
