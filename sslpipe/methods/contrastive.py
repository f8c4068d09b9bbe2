"""Contrastive methods: positives are two views of one image, negatives the rest of the batch."""
from __future__ import annotations

from dataclasses import dataclass

from ..augment import ViewConfig, build_views
from ..config import check, positive
from ..losses import nt_xent
from ..models.heads import mlp
from .base import METHODS, Method, MethodParams


@METHODS.register("simclr")
class SimCLR(Method):
    """SimCLR (Chen et al. 2020): NT-Xent between projections of two Kornia views."""

    family = "contrastive"

    @dataclass
    class Params(MethodParams):
        temperature: float = check(0.5, positive, help="NT-Xent temperature, e.g. 0.5.")
        proj_dim: int = check(64, positive)
        proj_hidden: int = check(128, positive)
        views: ViewConfig = check(None)

        def __post_init__(self):
            if self.views is None:
                self.views = ViewConfig()

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.projector = mlp(ctx.code_dim, params.proj_hidden, params.proj_dim)
        self.augment = build_views(params.views, ctx.channels, ctx.resolution)

    def loss(self, x):
        z1 = self.projector(self.encoder(self.augment(x)))
        z2 = self.projector(self.encoder(self.augment(x)))
        return nt_xent(z1, z2, self.params.temperature), {}
