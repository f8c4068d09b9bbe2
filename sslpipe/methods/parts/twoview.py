"""The two-view skeleton of the contrastive and non-contrastive families.

Two Kornia views of each image go through the shared backbone and a projection head, and a
loss compares the two projections (SimCLR, Chen et al. 2020; BYOL, Grill et al. 2020).  The
representation evaluated downstream is the backbone output, never the projection.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ...augment import build_views, views_with
from ...core.schema import check, positive
from ...models.heads import mlp
from ..base import Method, MethodParams

#: Views for small sprites on a black background: mild crops (aggressive ones cut the sprite
#: out), flips, brightness/contrast, light blur.
SpriteViews = views_with("SpriteViews", crop_scale=[0.5, 1.0], blur_p=0.2)


@dataclass
class TwoViewParams(MethodParams):
    proj_hidden: int = check(128, positive, help="hidden width of the projection MLP.")
    proj_dim: int = check(64, positive, help="size of the projected embedding the loss sees.")
    views: SpriteViews = field(default_factory=SpriteViews)


class TwoViewMethod(Method):
    """Two views -> backbone -> projector; subclasses define ``objective(z1, z2)``."""

    family = "contrastive"
    #: end the projector in a non-affine BN (SimSiam)
    projector_last_bn = False

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.projector = mlp(ctx.code_dim, params.proj_hidden, params.proj_dim, last_bn=self.projector_last_bn)
        self.augment = build_views(params.views, ctx.channels, ctx.resolution)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """Two random views of every image, stacked: [2B, C, R, R]."""
        return self.augment(torch.cat([x, x]))

    def embed(self, views: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(views))

    def loss(self, x):
        z1, z2 = self.embed(self.views(x)).chunk(2)
        loss = self.objective(z1, z2)
        with torch.no_grad():
            cos = F.cosine_similarity(z1, z2, dim=1).mean().item()
        return loss, {"positive_cosine": cos}

    def objective(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
