"""dSprites (Matthey et al. 2017), generated from its published factor specification.

64x64 binary images of one sprite: shape (square, ellipse, heart), scale (6 values in
[0.5, 1]), orientation (40 values in [0, 2pi)), position x and y (32 values each in
[0, 1]); 737,280 combinations.  Rendered on demand for any factor combination (the
BetaVAE/FactorVAE metrics need this), then area-averaged to ``resolution``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import check
from .sources import SOURCES, FactorGridSource, SourceInfo, SourceParams, downsample, resolution_check, sprite_masks

SHAPES = ("square", "ellipse", "heart")
FACTOR_SIZES = (3, 6, 40, 32, 32)
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)
NATIVE = 64
HALF_SIZE = 10.0  # sprite half-extent in pixels at scale 1 (about a sixth of the frame's width in all)
MARGIN = 12.0  # > every sprite's radius (the square's corner: 0.8 * sqrt(2) * HALF_SIZE), so it stays in the frame
GRID = int(np.prod(FACTOR_SIZES))


def _square(u, v):
    return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)


def _ellipse(u, v):
    return u * u + (v / 0.55) ** 2 <= 1.0


def _heart(u, v):
    x, y = u * 1.25, v * 1.25 + 0.15  # the implicit heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0
    return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0


INSIDE = (_square, _ellipse, _heart)  # inside-tests in sprite coordinates (u right, v up; unit half-extent)


def render_native(factors: np.ndarray) -> np.ndarray:
    """uint8 [N, 1, 64, 64] binary images (0/255) for factor indices [N, 5].

    Higher ``pos_x`` moves the sprite right (larger column); higher ``pos_y`` moves it
    down (larger row index), as in the image arrays of the original dataset.
    """
    masks = sprite_masks(np.asarray(factors, dtype=np.int64), 0, INSIDE, SCALES, ORIENTATIONS, POSITIONS, HALF_SIZE, MARGIN, NATIVE)
    return masks[:, None].view(np.uint8) * np.uint8(255)


@dataclass
class DSpritesParams(SourceParams):
    resolution: int = check(32, resolution_check, help="images are rendered at 64x64 and area-averaged to this size.")

    def validate(self, key: str) -> None:
        DSprites.validate_grid(self, key)


@SOURCES.register("dsprites")
class DSprites(FactorGridSource):
    Params = DSpritesParams
    factor_sizes = FACTOR_SIZES
    native = NATIVE
    split_salt = 0x5D

    @classmethod
    def channels(cls, params) -> int:
        return 1

    def info(self) -> SourceInfo:
        return SourceInfo(1, self.params.resolution, list(FACTOR_NAMES), list(FACTOR_NAMES), list(FACTOR_SIZES),
                          ordinal=["scale", "pos_x", "pos_y"])

    def render(self, factors: np.ndarray) -> np.ndarray:
        return downsample(render_native(factors), self.params.resolution)
