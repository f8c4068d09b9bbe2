"""The conv image decoder of the pretext and reconstruction methods, sized from the shared backbone."""
from __future__ import annotations

import math

from ...models.heads import ConvDecoder


def decoder_depth(out_resolution: int, depth: int) -> int:
    """The conv decoder's depth for an output of ``out_resolution`` (its start map must be >= 1 pixel)."""
    return max(1, min(depth, int(math.log2(out_resolution))))


def image_decoder(ctx, code_dim: int, out_channels: int, resolution: int | None = None) -> ConvDecoder:
    """The conv decoder from a code to ``out_channels`` maps at ``resolution`` (default: the input's),
    mirroring the backbone's width and depth."""
    res = resolution or ctx.resolution
    bb = ctx.backbone
    return ConvDecoder(code_dim, out_channels, res, bb.width, decoder_depth(res, bb.depth))
