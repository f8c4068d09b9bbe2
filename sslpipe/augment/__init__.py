"""Kornia view builders: batched, on the training device, parameters recorded in params.yaml.

Every view pipeline takes float images in [0, 1] of shape [B, C, R, R] and returns the
same shape.  Grey (1-channel) images get no saturation, hue or grayscale ops (they are
undefined there); Kornia raises on them.

Each method has its own ``views`` section; :func:`views_with` makes a ViewConfig type with
that method's defaults, so a partial ``views:`` mapping in params.yaml keeps the method's
other defaults (not the generic ones).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from ..core.schema import check, in_range, non_negative, positive


@dataclass
class ViewConfig:
    """The SimCLR family of views (Chen et al. 2020, Appendix A); each op applied with its probability."""

    crop_scale: list[float] = check([0.2, 1.0], help="random-resized-crop area range, e.g. [0.2, 1.0].")
    crop_ratio: list[float] = check([0.75, 1.3333333333333333], help="random-resized-crop aspect-ratio range.")
    flip_p: float = check(0.5, in_range(0, 1))
    affine_p: float = check(0.0, in_range(0, 1), help="probability of a random rotation/translation (off in SimCLR).")
    degrees: float = check(0.0, in_range(0, 180), help="rotation range +-degrees of the affine op.")
    translate: float = check(0.0, in_range(0, 1), help="translation range as a fraction of the image side.")
    jitter_p: float = check(0.8, in_range(0, 1))
    brightness: float = check(0.4, non_negative)
    contrast: float = check(0.4, non_negative)
    saturation: float = check(0.4, non_negative)
    hue: float = check(0.1, in_range(0, 0.5))
    grayscale_p: float = check(0.2, in_range(0, 1))
    blur_p: float = check(0.5, in_range(0, 1))
    blur_sigma: list[float] = check([0.1, 2.0])
    blur_kernel: int = check(3, positive)
    solarize_p: float = check(0.0, in_range(0, 1))

    def validate(self, key: str) -> None:
        from ..core.errors import ConfigError

        lo, hi = (self.crop_scale + [None, None])[:2]
        if len(self.crop_scale) != 2 or not 0 < lo <= hi <= 1:
            raise ConfigError(f"{key}.crop_scale", f"{self.crop_scale!r} is not a range [lo, hi] with 0 < lo <= hi <= 1.", "use e.g. [0.2, 1.0].")
        if len(self.crop_ratio) != 2 or not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ConfigError(f"{key}.crop_ratio", f"{self.crop_ratio!r} is not a range [lo, hi] with 0 < lo <= hi.", "use e.g. [0.75, 1.333].")
        if len(self.blur_sigma) != 2 or not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ConfigError(f"{key}.blur_sigma", f"{self.blur_sigma!r} is not a range [lo, hi] with 0 < lo <= hi.", "use e.g. [0.1, 2.0].")
        if self.blur_kernel % 2 == 0:
            raise ConfigError(f"{key}.blur_kernel", f"{self.blur_kernel} must be odd.", "use 3 or 5.")


def build_views(cfg: ViewConfig, channels: int, resolution: int) -> nn.Module:
    """A Kornia pipeline producing one random view per image (call it twice for two views)."""
    import kornia.augmentation as K

    return K.AugmentationSequential(*view_ops(cfg, channels, resolution))


def view_ops(cfg: ViewConfig, channels: int, resolution: int) -> list[nn.Module]:
    """The Kornia ops of ``cfg``, in order (shared by image views and clip views)."""
    import kornia.augmentation as K

    ops: list[nn.Module] = [
        # "resample": every crop in one batched warp.  Kornia's default ("slice") crops and resizes one
        # image at a time: 256 small kernel chains per batch, which made CUDA views 55x slower
        # (681 against 37,655 images/s at 32 px, H100; README "Measured") and CPU crops 1.5x slower.
        K.RandomResizedCrop((resolution, resolution), scale=tuple(cfg.crop_scale), ratio=tuple(cfg.crop_ratio), cropping_mode="resample"),
        K.RandomHorizontalFlip(p=cfg.flip_p),
    ]
    if cfg.affine_p > 0 and (cfg.degrees or cfg.translate):
        ops.append(K.RandomAffine(cfg.degrees, translate=(cfg.translate, cfg.translate), p=cfg.affine_p))
    colour = channels == 3
    if cfg.jitter_p > 0 and (cfg.brightness or cfg.contrast or (colour and (cfg.saturation or cfg.hue))):
        ops.append(
            K.ColorJitter(
                brightness=cfg.brightness,
                contrast=cfg.contrast,
                saturation=cfg.saturation if colour else 0.0,
                hue=cfg.hue if colour else 0.0,
                p=cfg.jitter_p,
            )
        )
    if colour and cfg.grayscale_p > 0:
        ops.append(K.RandomGrayscale(p=cfg.grayscale_p))
    if cfg.blur_p > 0:
        ops.append(K.RandomGaussianBlur((cfg.blur_kernel, cfg.blur_kernel), tuple(cfg.blur_sigma), p=cfg.blur_p))
    if cfg.solarize_p > 0:
        ops.append(K.RandomSolarize(thresholds=0.1, additions=0.0, p=cfg.solarize_p))
    return ops


def views_with(name: str, **defaults) -> type[ViewConfig]:
    """A ViewConfig subclass named ``name`` whose fields default to ``defaults`` (checks kept).

    Used as the type of a method's ``views`` field, so that params.yaml keys left out of
    ``methods.<m>.views`` fall back to the method's defaults.
    """
    base = {f.name: f for f in dataclasses.fields(ViewConfig)}
    unknown = set(defaults) - set(base)
    if unknown:
        raise TypeError(f"ViewConfig has no field(s) {sorted(unknown)}")
    fields = [
        (k, base[k].type, check(v, *base[k].metadata.get("checks", ()), help=base[k].metadata.get("help", "")))
        for k, v in defaults.items()
    ]
    return dataclasses.make_dataclass(name, fields, bases=(ViewConfig,), namespace={"__module__": __name__})


def view_pair(augment: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent random views of every image, made in one batched call."""
    views = augment(torch.cat([x, x]))
    return views[: len(x)], views[len(x):]


def standard_views(channels: int, resolution: int) -> nn.Module:
    """The method-independent augmentation used for alignment/uniformity positive pairs."""
    return build_views(ViewConfig(), channels, resolution)


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four 90-degree rotations of each image and their labels 0..3 (Gidaris et al. 2018)."""
    views = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return views, labels
