"""Heads on top of the backbone: MLP projector/predictor and a conv decoder."""
from __future__ import annotations

import torch
from torch import nn

from .backbones import conv_widths


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2, batch_norm: bool = True, last_bn: bool = False) -> nn.Sequential:
    """An MLP head (SimCLR projector, BYOL predictor): Linear-BN-ReLU blocks, then Linear."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden, bias=not batch_norm)]
        if batch_norm:
            mods.append(nn.BatchNorm1d(hidden))
        mods.append(nn.ReLU(inplace=True))
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    if last_bn:
        mods.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*mods)


class ConvDecoder(nn.Module):
    """Mirror of the conv encoder: FC 256, FC to a feature map, 4x4 stride-2 transposed convs.

    Returns logits [B, out_channels, R, R]; apply a sigmoid for Bernoulli/[0, 1] images.
    """

    def __init__(self, code_dim: int, out_channels: int, resolution: int, width: int, depth: int):
        super().__init__()
        widths = conv_widths(width, depth)[::-1]
        self.size = resolution // (2**depth)
        self.c0 = widths[0]
        self.fc = nn.Sequential(
            nn.Linear(code_dim, 256), nn.ReLU(inplace=True),
            nn.Linear(256, self.c0 * self.size**2), nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for i, w in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else out_channels
            layers.append(nn.ConvTranspose2d(w, out, 4, 2, 1))
            if i + 1 < len(widths):
                layers.append(nn.ReLU(inplace=True))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(-1, self.c0, self.size, self.size))
