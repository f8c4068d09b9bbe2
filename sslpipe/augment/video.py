"""Clip views: one random augmentation per clip, the same on every frame, batched on the device.

A video method's views must not change between the frames of a clip (a crop or a colour
jitter that differs per frame would itself be motion or change for the method to read).
Kornia's ``VideoSequential`` draws the parameters once per clip and applies them to every
frame of a [B, T, C, R, R] batch in one call.  The ops are those of
:class:`sslpipe.augment.ViewConfig` (a method's ``views`` section in params.yaml).
"""
from __future__ import annotations

import kornia.augmentation as K
from torch import nn

from . import ViewConfig, view_ops, views_with

#: Default clip views: mild crops (small sprites must stay in view), flips and brightness /
#: contrast; no hue/saturation jitter or blur (the slowest ops on a CPU, and colour is the
#: target of video colorization).
ClipViews = views_with("ClipViews", crop_scale=[0.6, 1.0], saturation=0.0, hue=0.0, grayscale_p=0.0, blur_p=0.0)


def build_clip_views(cfg: ViewConfig, channels: int, resolution: int) -> nn.Module:
    """A Kornia pipeline over clips [B, T, C, R, R]: the same random view on every frame of a clip."""
    return K.VideoSequential(*view_ops(cfg, channels, resolution), data_format="BTCHW", same_on_frame=True)


def no_views() -> ViewConfig:
    """Clip views that leave clips unchanged (for tests and ablations)."""
    return ClipViews(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], flip_p=0.0, jitter_p=0.0)
