"""CIE Lab colour channels and the quantized ab space of colorization (Zhang et al. 2016).

Shared by colorization (L predicts ab) and the split-brain autoencoder (L and ab predict
each other, Zhang et al. 2017).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def light_ab(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lightness in [0, 1] [B, 1, R, R] and ab [B, 2, R, R] of RGB images in [0, 1]."""
    from kornia.color import rgb_to_lab

    lab = rgb_to_lab(x.clamp(0, 1))
    return lab[:, :1] / 100.0, lab[:, 1:]


class ABQuantizer(nn.Module):
    """Quantized ab colour space (Zhang et al. 2016, Sec. 2.1): a grid of ``step``-wide bins, in-gamut only.

    The bins are those hit by a ``lattice``^3 grid of sRGB colours converted with Kornia's
    CIE Lab: 264 bins for step 10 (Zhang et al. count 313 with their conversion and data).
    ``quantize`` maps ab values to their bin, or for thin slivers of bins at the gamut's edge
    that the lattice missed, to the nearest kept bin (a lookup table over the full grid);
    ``dequantize`` maps a bin to its centre, so ``quantize(dequantize(k)) == k``.
    """

    LIMIT = 120.0  # |a|, |b| < 120 for every sRGB colour

    def __init__(self, step: float = 10.0, lattice: int = 33):
        from kornia.color import rgb_to_lab

        super().__init__()
        self.step = step
        self.side = int(math.ceil(2 * self.LIMIT / step))
        levels = torch.linspace(0, 1, lattice)
        rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, -1, 1)
        ab = rgb_to_lab(rgb[None])[0, 1:].reshape(2, -1)
        occupied = torch.unique(self._cell(ab[0]) * self.side + self._cell(ab[1]))
        centres = torch.stack([occupied // self.side, occupied % self.side], 1).float()
        centres = (centres + 0.5) * step - self.LIMIT
        grid = (torch.arange(self.side) + 0.5) * step - self.LIMIT
        every = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
        self.register_buffer("centres", centres, persistent=False)  # [Q, 2]
        self.register_buffer("lookup", torch.cdist(every, centres).argmin(1), persistent=False)  # grid cell -> bin

    def _cell(self, v: torch.Tensor) -> torch.Tensor:
        return ((v + self.LIMIT) / self.step).floor().long().clamp(0, self.side - 1)

    @property
    def bins(self) -> int:
        return len(self.centres)

    def quantize(self, ab: torch.Tensor) -> torch.Tensor:
        """ab [B, 2, H, W] -> bin indices [B, H, W]."""
        return self.lookup[self._cell(ab[:, 0]) * self.side + self._cell(ab[:, 1])]

    def dequantize(self, bins: torch.Tensor) -> torch.Tensor:
        """Bin indices [B, H, W] -> ab bin centres [B, 2, H, W]."""
        return self.centres[bins].permute(0, 3, 1, 2)
