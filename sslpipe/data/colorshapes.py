"""Colour shapes: a 2-D colour dataset in the spirit of 3dshapes (Burgess & Kim 2018).

One shape on a plain background, 64x64 RGB, area-averaged to ``resolution``.  Seven
factors, in this order:

- ``bg_hue``, ``obj_hue``: 10 hues each, evenly spaced in [0, 1) as in 3dshapes.  The
  object is fully saturated and bright (HSV s=1, v=1); the background is muted and
  darker (s=0.45, v=0.6), so the object stays visible when both hues are equal.
- ``shape``: square, ellipse, triangle, cross.
- ``scale``: 8 values in [0.75, 1.25] (3dshapes' range).
- ``orientation``: 15 values in [-30, 30] degrees (3dshapes' range); narrower than every
  shape's rotational symmetry (90 degrees for square and cross), so each angle is distinct.
- ``pos_x``, ``pos_y``: 16 values each, across the frame with a margin that keeps every
  shape inside it; higher ``pos_y`` is lower in the image (larger row), as in dSprites.

12,288,000 combinations; any of them is rendered on demand (vectorized numpy).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..core.schema import check
from .sources import SOURCES, FactorGridSource, SourceInfo, SourceParams, block_sums, resolution_check, sprite_masks

FACTOR_NAMES = ("bg_hue", "obj_hue", "shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (10, 10, 4, 8, 15, 16, 16)
SHAPES = ("square", "ellipse", "triangle", "cross")
HUES = np.arange(10) / 10
OBJ_SV, BG_SV = (1.0, 1.0), (0.45, 0.6)
SCALES = np.linspace(0.75, 1.25, 8)
ORIENTATIONS = np.deg2rad(np.linspace(-30.0, 30.0, 15))
POSITIONS = np.linspace(0.0, 1.0, 16)
NATIVE = 64
HALF_SIZE = 10.0  # shape half-extent in pixels at scale 1
MARGIN = 15.0  # > the largest shape's radius (1.15 * 1.25 * HALF_SIZE) at every orientation
GRID = int(np.prod(FACTOR_SIZES))
CHUNK = 1024


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """[..., 3] HSV in [0, 1] -> RGB in [0, 1]: the hexcone model (Smith 1978), the same
    arithmetic as matplotlib.colors.hsv_to_rgb, without importing matplotlib in every stage."""
    h, s, v = (np.asarray(hsv, dtype=np.float64)[..., c] for c in range(3))
    i = (h * 6.0).astype(int)
    f = h * 6.0 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    sector = i % 6
    rgb = np.select([sector[..., None] == k for k in range(6)],
                    [np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.where((s == 0)[..., None], np.stack([v, v, v], -1), rgb)


def _rgb(s: float, v: float) -> np.ndarray:
    hsv = np.stack([HUES, np.full(10, s), np.full(10, v)], axis=1)
    return np.rint(hsv_to_rgb(hsv) * 255).astype(np.float32)  # [10, 3]


OBJ_RGB, BG_RGB = _rgb(*OBJ_SV), _rgb(*BG_SV)


def _square(u, v):
    return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)


def _ellipse(u, v):
    return u * u + (v / 0.6) ** 2 <= 1.0


def _triangle(u, v):  # equilateral, apex up, centroid at the origin, circumradius 1.15
    r3 = np.sqrt(3.0)
    return (v >= -0.575) & (r3 * u + v <= 1.15) & (-r3 * u + v <= 1.15)


def _cross(u, v):
    a, b = np.abs(u), np.abs(v)
    return ((a <= 1.0) & (b <= 0.33)) | ((a <= 0.33) & (b <= 1.0))


INSIDE = (_square, _ellipse, _triangle, _cross)  # inside-tests in shape coordinates (u right, v up)


def render_mask(factors: np.ndarray) -> np.ndarray:
    """bool [N, 64, 64]: the object's pixels for factor indices [N, 7] (hues are ignored)."""
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(FACTOR_SIZES))
    return sprite_masks(factors, 2, INSIDE, SCALES, ORIENTATIONS, POSITIONS, HALF_SIZE, MARGIN, NATIVE, CHUNK)


def render(factors: np.ndarray, resolution: int = NATIVE) -> np.ndarray:
    """uint8 [N, 3, R, R] images for factor indices [N, 7], rendered at 64x64 and area-averaged.

    Area-averaging the RGB image equals blending object and background colours by the
    mask's coverage of each output pixel, which is what is computed (one channel, not three).
    """
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(FACTOR_SIZES))
    if NATIVE % resolution:
        raise ValueError(f"resolution {resolution} must divide {NATIVE}")
    f = NATIVE // resolution
    out = np.empty((len(factors), 3, resolution, resolution), np.uint8)
    colours = blend_table(f * f)  # [bg hue, obj hue, channel, covered pixels of the block]
    channel = np.arange(3)[None, :, None, None]
    for start in range(0, len(factors), CHUNK):
        fc = factors[start:start + CHUNK]
        covered = block_sums(render_mask(fc).view(np.uint8)[:, None], f)  # [n, 1, R, R]
        out[start:start + CHUNK] = colours[fc[:, 0, None, None, None], fc[:, 1, None, None, None], channel, covered]
    return out


@functools.cache
def blend_table(count: int) -> np.ndarray:
    """uint8 [10, 10, 3, count + 1]: rint(bg + c * (obj - bg)) in float32 for every hue pair and
    coverage c = float32(k) / float32(count), k of the block's ``count`` pixels covered (the
    renderer looks its pixels up here: the same float32 values as blending each pixel)."""
    cover = np.arange(count + 1, dtype=np.float32) / np.float32(count)
    bg, obj = BG_RGB[:, None, :, None], OBJ_RGB[None, :, :, None]
    return np.clip(np.rint(bg + cover * (obj - bg)), 0, 255).astype(np.uint8)


@dataclass
class ColorShapesParams(SourceParams):
    resolution: int = check(32, resolution_check, help="images are rendered at 64x64 and area-averaged to this size.")

    def validate(self, key: str) -> None:
        ColorShapes.validate_grid(self, key)


@SOURCES.register("colorshapes")
class ColorShapes(FactorGridSource):
    Params = ColorShapesParams
    factor_sizes = FACTOR_SIZES
    native = NATIVE
    split_salt = 0xC5

    @classmethod
    def channels(cls, params) -> int:
        return 3

    def info(self) -> SourceInfo:
        return SourceInfo(3, self.params.resolution, list(FACTOR_NAMES), list(FACTOR_NAMES), list(FACTOR_SIZES),
                          ordinal=["scale", "orientation", "pos_x", "pos_y"])

    def render(self, factors: np.ndarray) -> np.ndarray:
        return render(factors, self.params.resolution)
