"""Pretext tasks: a label made from the image itself, predicted by a head on the backbone."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import rotations
from .base import METHODS, Method, MethodParams


@METHODS.register("rotation")
class Rotation(Method):
    """Predict which of 4 rotations (0, 90, 180, 270 degrees) was applied (Gidaris et al. 2018)."""

    family = "pretext"

    @dataclass
    class Params(MethodParams):
        pass

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(ctx.code_dim, 4))

    def loss(self, x):
        views, labels = rotations(x)
        logits = self.head(self.encoder(views))
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        return loss, {"accuracy": acc.item()}
