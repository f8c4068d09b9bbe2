"""Encoders shared by every method: a backbone maps images [B, C, R, R] to codes [B, code_dim].

All methods of a study use the same backbone (kind, width, depth, code_dim from the
``backbone`` section), so that differences in the evaluation come from the objective,
not the architecture (Kolesnikov et al. 2019 show architecture matters as much).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.registry import Registry
from ..core.schema import check, in_range, positive

BACKBONES: Registry[type[nn.Module]] = Registry("backbone")


@dataclass
class BackboneConfig:
    kind: str = check("conv", help="a registered backbone: see `sslpipe backbones`.")
    width: int = check(32, positive)
    depth: int = check(3, in_range(1, 6))
    code_dim: int = check(10, positive, help="size of the representation evaluated downstream.")


def conv_widths(width: int, depth: int) -> list[int]:
    """Channel widths per stride-2 stage: ``width`` doubling once after the second stage."""
    return [width * (2 if i >= 2 else 1) for i in range(depth)]


@BACKBONES.register("conv")
class ConvEncoder(nn.Module):
    """The Locatello et al. (2019) encoder shape: 4x4 stride-2 convs, then FC 256, then FC code_dim.

    ``depth`` stride-2 stages of ``width`` (x2 from the third) channels with batch norm.
    """

    def __init__(self, in_channels: int, resolution: int, width: int, depth: int, code_dim: int):
        super().__init__()
        if resolution % (2**depth) or resolution // (2**depth) < 2:
            raise ValueError(f"resolution {resolution} is too small for {depth} stride-2 stages")
        layers: list[nn.Module] = []
        c = in_channels
        for w in conv_widths(width, depth):
            layers += [nn.Conv2d(c, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        out_size = resolution // (2**depth)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * out_size**2, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, code_dim),
        )
        self.code_dim = code_dim

    def spatial(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        """Per-location features [B, D, R / stride, R / stride]: the activations after the stage of that stride."""
        stages = _stages_for(stride, len(self.features) // 3)
        return self.features[: 3 * stages](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _stages_for(stride: int, depth: int) -> int:
    """How many stride-2 stages give ``stride`` (a power of 2, at most 2**depth)."""
    stages = max(stride, 1).bit_length() - 1
    if stride < 2 or 2**stages != stride or stages > depth:
        raise ValueError(f"stride {stride} must be a power of 2 between 2 and {2**depth} (the backbone has {depth} stride-2 stages)")
    return stages


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity() if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


@BACKBONES.register("resnet")
class SmallResNet(nn.Module):
    """A small ResNet (He et al. 2016): a stem, ``depth`` stride-2 basic blocks, global pooling, FC code_dim."""

    def __init__(self, in_channels: int, resolution: int, width: int, depth: int, code_dim: int):
        super().__init__()
        if resolution % (2**depth):
            raise ValueError(f"resolution {resolution} is not divisible by 2**{depth}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        blocks, c = [], width
        for w in conv_widths(width, depth):
            blocks.append(_BasicBlock(c, w, 2))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, code_dim))
        self.code_dim = code_dim

    def spatial(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        """Per-location features [B, D, R / stride, R / stride]: the activations after the block of that stride."""
        return self.blocks[: _stages_for(stride, len(self.blocks))](self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def build_backbone(cfg: BackboneConfig, in_channels: int, resolution: int, code_dim: int | None = None) -> nn.Module:
    cls = BACKBONES.get(cfg.kind, "backbone.kind")
    return cls(in_channels, resolution, cfg.width, cfg.depth, code_dim if code_dim is not None else cfg.code_dim)
