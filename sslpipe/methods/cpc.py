"""Contrastive Predictive Coding on images (Oord, Li & Vinyals 2018; CPC v2: Henaff et al. 2020).

The image is cut into a grid of overlapping patches; a small conv net encodes every patch to
a code :math:`z_{ij}` (D = code_dim); a row-causal (masked) conv context network summarizes
the rows above and including row i into :math:`c_{ij}`; for each step k, a linear map
:math:`W_k` predicts :math:`z_{i+k,j}` from :math:`c_{ij}` and InfoNCE tells the true code
from the codes of the other images at the same position.  The representation is the mean of
the patch codes over the grid (D = code_dim).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import build_views, views_with
from ..core.schema import check, positive
from ..core.errors import ConfigError
from ..losses import info_nce
from .base import METHODS, Method, MethodParams, budget_steps

#: CPC's own views: no crop (the grid is the spatial task), flips and brightness/contrast.
CPCViews = views_with("CPCViews", crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], blur_p=0.0)


class PositionNorm(nn.LayerNorm):
    """Layer norm over the channels at each grid position (CPC v2 uses layer norm: batch norm
    statistics over the patches would leak the answer of the prediction task)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class PatchEncoder(nn.Module):
    """Image -> grid of patch codes; ``forward`` mean-pools them into the representation [B, code_dim].

    A small conv net per patch of ``patch`` pixels at stride ``patch / 2`` (half-overlapping, as
    CPC's 64-pixel patches at stride 32).  It is computed convolutionally over the whole image:
    without padding, its receptive field is exactly one patch and its stride the patch stride,
    so each code depends on its own patch only (same result as encoding each patch crop separately,
    with the overlaps computed once).  Layers: a 4x4 stride-2 conv, 3x3 stride-2 convs up to the
    patch size, a 1x1 conv, then a 1x1 projection to code_dim.
    """

    def __init__(self, channels: int, patch: int, width: int, code_dim: int):
        super().__init__()
        self.patch, self.stride = patch, patch // 2
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2), PositionNorm(width), nn.ReLU(inplace=True)]
        rf, c = 4, width
        while rf < patch:
            layers += [nn.Conv2d(c, 2 * width, 3, 2), PositionNorm(2 * width), nn.ReLU(inplace=True)]
            rf, c = 2 * rf, 2 * width
        layers += [nn.Conv2d(c, 4 * width, 1), PositionNorm(4 * width), nn.ReLU(inplace=True), nn.Conv2d(4 * width, code_dim, 1)]
        self.net = nn.Sequential(*layers)
        self.code_dim = code_dim

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """[B, code_dim, G, G]."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes(x).mean(dim=(2, 3))


class RowCausalConv(nn.Conv2d):
    """A conv whose output at row i sees only rows <= i (a masked conv, van den Oord et al. 2016)."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__(cin, cout, kernel, padding=0)
        self.pad = (kernel // 2, kernel // 2, kernel - 1, 0)  # left, right, top, bottom

    def forward(self, x):
        return super().forward(F.pad(x, self.pad))


@METHODS.register("cpc")
class CPC(Method):
    """CPC v2 style on images: predict the codes of the patch rows below from a row-causal context."""

    family = "contrastive"

    @dataclass
    class Params(MethodParams):
        steps: int | None = budget_steps(220)
        patch_size: int = check(8, positive, help="patch side in pixels (a power of 2, at least 4); patches overlap by half.")
        steps_ahead: int = check(2, positive, help="predict the rows 1..K below (K = steps_ahead).")
        context_dim: int = check(64, positive, help="channels of the context network.")
        temperature: float = check(0.1, positive, help="InfoNCE temperature (on cosine scores).")
        views: CPCViews = field(default_factory=CPCViews)

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        p = params
        if p.patch_size < 4 or p.patch_size & (p.patch_size - 1) or p.patch_size > ctx.resolution:
            raise ConfigError("methods.cpc.patch_size", f"{p.patch_size} is not a power of 2 in [4, {ctx.resolution}].", "use 8 at resolution 32.")
        grid = (ctx.resolution - p.patch_size) // (p.patch_size // 2) + 1
        if grid <= p.steps_ahead:
            raise ConfigError("methods.cpc.steps_ahead", f"{p.steps_ahead} leaves nothing to predict on a {grid}x{grid} patch grid.", f"use at most {grid - 1}.")
        self.encoder = PatchEncoder(ctx.channels, p.patch_size, ctx.backbone.width, ctx.code_dim)
        self.context = nn.Sequential(
            RowCausalConv(ctx.code_dim, p.context_dim, 3), nn.ReLU(inplace=True),
            RowCausalConv(p.context_dim, p.context_dim, 3), nn.ReLU(inplace=True),
        )
        self.predictors = nn.ModuleList(nn.Conv2d(p.context_dim, ctx.code_dim, 1) for _ in range(p.steps_ahead))
        self.augment = build_views(p.views, ctx.channels, ctx.resolution)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment(x)

    def loss(self, x):
        z = self.encoder.codes(self.views(x))  # [B, D, G, G]
        c = self.context(z)
        logs, total = {}, 0.0
        for k, predict in enumerate(self.predictors, start=1):
            pred = predict(c)[:, :, :-k]  # row i predicts row i + k
            target = z[:, :, k:]
            # one InfoNCE problem per grid position: the other images' codes there are the negatives
            q = pred.flatten(2).permute(2, 0, 1)  # [positions, B, D]
            t = target.flatten(2).permute(2, 0, 1)
            step_loss = info_nce(q, t, None, self.params.temperature)
            logs[f"loss_step{k}"] = step_loss.item()
            total = total + step_loss
        return total / len(self.predictors), logs
