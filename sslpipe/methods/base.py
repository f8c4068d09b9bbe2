"""The method contract shared by every self-supervised objective.

A method is an ``nn.Module`` registered by name with a ``Params`` dataclass (its
``methods.<name>`` section of params.yaml).  It gets float images in [0, 1] on the
training device and builds its own views (with Kornia, see ``sslpipe.augment``).
``loss(x)`` returns ``(loss, logs)``; ``encode(x)`` returns the representation that
is evaluated downstream.  Methods never touch files, MLflow or the command line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..core.schema import check, non_negative, positive
from ..models.backbones import BackboneConfig
from ..models.backbones import build_backbone
from ..core.registry import Registry

METHODS: Registry[type["Method"]] = Registry("method")


@dataclass
class MethodParams:
    """Per-method overrides of the ``train`` section (None = use ``train``)."""

    steps: int | None = check(None, non_negative, help="training steps of this method (overrides train.steps).")
    lr: float | None = check(None, positive, help="use a positive learning rate such as 0.001.")
    batch_size: int | None = check(None, positive, help="use a batch size of at least 1.")


@dataclass
class MethodContext:
    """What a method may know about its data and the shared architecture."""

    channels: int
    resolution: int
    backbone: BackboneConfig
    seed: int = 0

    @property
    def code_dim(self) -> int:
        return self.backbone.code_dim

    def make_backbone(self, in_channels: int | None = None, code_dim: int | None = None) -> nn.Module:
        return build_backbone(self.backbone, in_channels or self.channels, self.resolution, code_dim)


class Method(nn.Module):
    name: ClassVar[str]
    Params: ClassVar[type] = MethodParams
    family: ClassVar[str] = "other"
    #: needs colour images (refused on grey datasets at validation time)
    needs_color: ClassVar[bool] = False
    #: trained by gradient descent in the shared loop; False for baselines fitted by ``fit``
    trainable: ClassVar[bool] = True
    #: how many training images ``fit`` wants (non-gradient baselines)
    fit_samples: ClassVar[int] = 0

    def __init__(self, params, ctx: MethodContext):
        super().__init__()
        self.params = params
        self.ctx = ctx
        self.encoder = ctx.make_backbone()

    # --- validation -----------------------------------------------------------
    @classmethod
    def incompatible(cls, source_cls, source_params) -> str | None:
        """Why this method cannot run on a dataset, or None (checked before any work)."""
        if cls.needs_color and source_cls.channels(source_params) < 3:
            return "it needs colour images and this dataset is grey."
        return None

    # --- training -------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective on a batch of images in [0, 1]; returns (scalar loss, logs)."""
        raise NotImplementedError

    def optim_parameters(self):
        """Parameters the shared optimizer trains (exclude auxiliary nets with their own optimizer)."""
        return [p for p in self.parameters() if p.requires_grad]

    def views(self, x: torch.Tensor):
        """The method's input views of a batch (what ``loss`` builds), for ``sslpipe bench``; None = no views."""
        return None

    def on_step_end(self, step: int) -> None:
        """Called after each optimizer step (momentum encoders, queues, schedules)."""

    def fit(self, x: torch.Tensor) -> dict[str, float]:
        """Non-gradient baselines: fit on ``fit_samples`` training images; returns logs."""
        return {}

    def extra_state(self) -> dict:
        """State outside ``state_dict`` to checkpoint (e.g. an auxiliary optimizer)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # --- representation -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation evaluated downstream: [B, D]."""
        return self.encoder(x)

    # --- decoders (generative and reconstruction methods) ---------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from codes; only methods with a decoder override this."""
        raise NotImplementedError(f"method {self.name!r} has no decoder")

    @property
    def has_decoder(self) -> bool:
        return type(self).decode is not Method.decode


def build_method(name: str, params, ctx: MethodContext) -> Method:
    return METHODS.get(name)(params, ctx)
