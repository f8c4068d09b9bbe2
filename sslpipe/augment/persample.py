"""Per-sample views, the way image libraries usually make them: one PIL image at a time on the
CPU, in DataLoader worker processes (torchvision's ``transforms`` over a ``Dataset``).

The same SimCLR recipe as :func:`sslpipe.augment.build_views` (Chen et al. 2020, Appendix A:
random resized crop, horizontal flip, optional affine, colour jitter, grayscale, Gaussian blur,
solarize, each with its probability) from the same :class:`ViewConfig`, with PIL's operations
in place of Kornia's.  It is the reference that ``sslpipe bench`` times the batched Kornia
views against; training never uses it.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from . import ViewConfig


def _crop_box(rng: np.random.Generator, side: int, scale, ratio) -> tuple[int, int, int, int]:
    """A random crop of ``scale`` x the area and aspect ratio in ``ratio`` (log-uniform), as torchvision draws it."""
    area = side * side
    for _ in range(10):
        a = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
        if 0 < w <= side and 0 < h <= side:
            x, y = int(rng.integers(0, side - w + 1)), int(rng.integers(0, side - h + 1))
            return x, y, x + w, y + h
    return 0, 0, side, side  # the whole image, as torchvision falls back to


class PerSampleViews:
    """``view(image)``: one random view of one uint8 image [C, R, R] -> float tensor [C, R, R] in [0, 1]."""

    def __init__(self, cfg: ViewConfig, channels: int, resolution: int, seed: int = 0):
        self.cfg, self.channels, self.resolution = cfg, channels, resolution
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def view(self, image: np.ndarray) -> torch.Tensor:
        from PIL import Image, ImageEnhance, ImageFilter, ImageOps

        cfg, rng, colour = self.cfg, self.rng, self.channels == 3
        img = Image.fromarray(image.transpose(1, 2, 0) if colour else image[0], "RGB" if colour else "L")
        box = _crop_box(rng, image.shape[-1], cfg.crop_scale, cfg.crop_ratio)
        img = img.resize((self.resolution, self.resolution), Image.BILINEAR, box=box)
        if rng.random() < cfg.flip_p:
            img = ImageOps.mirror(img)
        if cfg.affine_p > 0 and rng.random() < cfg.affine_p:
            t = cfg.translate * self.resolution
            img = img.rotate(rng.uniform(-cfg.degrees, cfg.degrees), Image.BILINEAR,
                             translate=(rng.uniform(-t, t), rng.uniform(-t, t)))
        if rng.random() < cfg.jitter_p:
            if cfg.brightness:
                img = ImageEnhance.Brightness(img).enhance(rng.uniform(max(0.0, 1 - cfg.brightness), 1 + cfg.brightness))
            if cfg.contrast:
                img = ImageEnhance.Contrast(img).enhance(rng.uniform(max(0.0, 1 - cfg.contrast), 1 + cfg.contrast))
            if colour and cfg.saturation:
                img = ImageEnhance.Color(img).enhance(rng.uniform(max(0.0, 1 - cfg.saturation), 1 + cfg.saturation))
            if colour and cfg.hue:
                h, s, v = img.convert("HSV").split()
                shift = int(round(rng.uniform(-cfg.hue, cfg.hue) * 255))
                h = h.point(lambda p: (p + shift) % 256)
                img = Image.merge("HSV", (h, s, v)).convert("RGB")
        if colour and rng.random() < cfg.grayscale_p:
            img = ImageOps.grayscale(img).convert("RGB")
        if rng.random() < cfg.blur_p:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(*cfg.blur_sigma)))
        if cfg.solarize_p > 0 and rng.random() < cfg.solarize_p:
            img = ImageOps.solarize(img, threshold=int(0.1 * 255))
        out = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
        out = out.permute(2, 0, 1) if colour else out[None]
        return out.float().div_(255.0)


class PairDataset(torch.utils.data.IterableDataset):
    """Two per-sample views of each image of ``images`` [N, C, R, R] uint8, split across DataLoader workers."""

    def __init__(self, images: np.ndarray, views: PerSampleViews, seed: int = 0):
        self.images, self.views, self.seed = images, views, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        wid, n = (info.id, info.num_workers) if info is not None else (0, 1)
        self.views.reseed(self.seed * 1000 + wid)  # each worker its own stream
        for i in range(wid, len(self.images), n):
            yield self.views.view(self.images[i]), self.views.view(self.images[i])


def per_sample_loader(images: np.ndarray, cfg: ViewConfig, channels: int, resolution: int, batch_size: int,
                      workers: int, seed: int = 0) -> torch.utils.data.DataLoader:
    """Batches of two views per image, made one image at a time in ``workers`` processes (0: in this process)."""
    ds = PairDataset(images, PerSampleViews(cfg, channels, resolution, seed), seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers,
                                       persistent_workers=False, multiprocessing_context="fork" if workers else None)
