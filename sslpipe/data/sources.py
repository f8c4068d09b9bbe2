"""The data-source contract: generate labelled uint8 images per split, and render factors.

Sources of another modality (``modality = "text"``: token-id splits, see ``data/text.py``)
override :meth:`DataSource.records` and :meth:`DataSource.manifest_fields`, which is all the
shard writer needs.

A source is registered by name (``@SOURCES.register("dsprites")``) and configured by
its ``Params`` dataclass (the ``data.<name>`` section of params.yaml).  Sources with
ground-truth factors also ``render`` any factor combination, which the sampling-based
disentanglement metrics (BetaVAE, FactorVAE) need.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..core.errors import ConfigError, DataError
from ..core.schema import check, positive
from ..core.registry import Registry

SOURCES: Registry[type["DataSource"]] = Registry("dataset")

SPLITS = ("train", "val", "test")
RESOLUTIONS = (16, 32, 64, 128)


def resolution_check(v) -> str | None:
    return None if v in RESOLUTIONS else f"is not a supported resolution; use one of {', '.join(map(str, RESOLUTIONS))}"


@dataclass
class SourceParams:
    n_train: int = check(20000, positive)
    n_val: int = check(1000, positive)
    n_test: int = check(5000, positive)
    resolution: int = check(32, resolution_check, help="images are stored square at this size.")
    chunk_size: int = check(256, positive, help="images per WebDataset record (one .npy batch per tar entry reads ~50x faster than one image per entry).")
    shard_chunks: int = check(40, positive, help="records per tar shard.")


@dataclass
class SourceInfo:
    """What downstream stages need to know about a source (stored in manifest.json)."""

    channels: int
    resolution: int
    targets: list[str]  # every integer target stored per sample (labels and factors)
    factors: list[str] = field(default_factory=list)  # targets that are ground-truth generative factors
    factor_sizes: list[int] = field(default_factory=list)
    ordinal: list[str] = field(default_factory=list)  # targets whose values are ordered (scale, position)


@dataclass
class ClipInfo(SourceInfo):
    """A video source's info: ``targets`` etc. describe clips; the ``frame_*`` fields describe frames.

    The frame fields make the frame stream of a video dataset an image dataset with factors
    (per-frame probes and disentanglement metrics on per-frame codes); ``arrays`` names the
    extra per-clip arrays stored beside images and targets in every record.
    """

    frames: int = 0
    arrays: list[str] = field(default_factory=list)
    frame_targets: list[str] = field(default_factory=list)
    frame_factors: list[str] = field(default_factory=list)
    frame_factor_sizes: list[int] = field(default_factory=list)
    frame_ordinal: list[str] = field(default_factory=list)

    def frame_info(self) -> SourceInfo:
        """The frame stream described as an image source (targets = per-frame factor indices)."""
        return SourceInfo(self.channels, self.resolution, list(self.frame_targets), list(self.frame_factors),
                          list(self.frame_factor_sizes), list(self.frame_ordinal))


@dataclass
class Split:
    images: np.ndarray  # uint8 [N, C, H, W], or clips [N, T, C, H, W]
    targets: np.ndarray  # int64 [N, T], columns as SourceInfo.targets
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-sample arrays [N, ...] (ClipInfo.arrays)


class DataSource:
    name: ClassVar[str]
    Params: ClassVar[type] = SourceParams
    #: what a record holds: "image" (uint8 image chunks) or "text" (token-id chunks)
    modality: ClassVar[str] = "image"

    def __init__(self, params, seed: int):
        self.params = params
        self.seed = seed

    @classmethod
    def channels(cls, params) -> int:
        """Channels of the images this source makes with ``params`` (1 = grey, 3 = colour)."""
        raise NotImplementedError

    @classmethod
    def frames(cls, params) -> int:
        """Frames per clip of a video source (0: a source of still images)."""
        return 0

    def info(self) -> SourceInfo:
        raise NotImplementedError

    def split(self, name: str) -> Split:
        """The images and targets of split ``name`` (one of SPLITS); deterministic for the seed."""
        raise NotImplementedError

    # --- sources with ground-truth factors ------------------------------------
    @property
    def has_renderer(self) -> bool:
        return type(self).render is not DataSource.render

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor-index rows drawn uniformly from the factor grid."""
        sizes = self.info().factor_sizes
        return np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1).astype(np.int64)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """uint8 [N, C, R, R] images for integer factor indices [N, K]."""
        raise NotImplementedError(f"dataset {self.name!r} has no renderer")

    def split_sizes(self) -> dict[str, int]:
        p = self.params
        return {"train": p.n_train, "val": p.n_val, "test": p.n_test}

    # --- what the shard writer stores ------------------------------------------
    def records(self, split: str):
        """(record entries, sample count) per WebDataset record: chunks of ``chunk_size`` images with their targets."""
        s = self.split(split)
        if s.images.dtype != np.uint8 or s.images.ndim != 4:
            raise DataError(f"dataset {self.name!r}: split {split} must be uint8 [N, C, R, R], got {s.images.dtype} {s.images.shape}")
        n, size = len(s.images), self.params.chunk_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            yield {"images.npy": s.images[start:stop], "targets.npy": s.targets[start:stop]}, stop - start

    def manifest_fields(self) -> dict:
        """The source's part of manifest.json (between ``params`` and ``splits``)."""
        import dataclasses

        return {"info": dataclasses.asdict(self.info())}

    def split_summary(self, split: str) -> dict:
        """Extra per-split manifest entries beside ``count`` (e.g. sentences of a text split)."""
        return {}


def downsample(images: np.ndarray, resolution: int) -> np.ndarray:
    """Area-average uint8 [N, C, S, S] images to ``resolution`` (S a multiple of it) or nearest-upsample.

    The mean of each f x f block, rounded half to even: float32(sum) / float32(f * f), then
    ``rint``, which is what ``mean(dtype=float32)`` gives for integers (their sum is exact in
    float32).  Block sums are taken in integers and mapped through a table of those values,
    ten times faster than averaging in float32 (the sampling-based metrics render hundreds of
    thousands of images; ``tests/data/test_sources.py`` checks it against the float mean).
    """
    n, c, s, _ = images.shape
    if s == resolution:
        return images
    if s > resolution:
        f = s // resolution
        return mean_table(f * f)[block_sums(images, f)]
    f = resolution // s
    return images.repeat(f, axis=2).repeat(f, axis=3)


def block_sums(images: np.ndarray, f: int) -> np.ndarray:
    """Integer sums of the f x f blocks of uint8 [N, C, S, S] images: [N, C, S / f, S / f]."""
    n, c, s, _ = images.shape
    r = s // f
    blocks = images.reshape(n * c * r, f, r, f)
    sums = np.zeros((n * c * r, r), np.uint16 if f * f * 255 < 1 << 16 else np.uint32)
    for i in range(f):  # f * f strided adds: an order of magnitude faster than a sum over two axes
        for j in range(f):
            sums += blocks[:, i, :, j]
    return sums.reshape(n, c, r, r)


@functools.cache
def mean_table(count: int) -> np.ndarray:
    """uint8 [count * 255 + 1]: rint(float32(k) / float32(count)) for every sum k of ``count`` uint8 pixels."""
    k = np.arange(count * 255 + 1, dtype=np.float32)
    return np.clip(np.rint(k / np.float32(count)), 0, 255).astype(np.uint8)


def sprite_masks(factors: np.ndarray, first: int, inside: tuple, scales: np.ndarray, orientations: np.ndarray,
                 positions: np.ndarray, half_size: float, margin: float, native: int, chunk: int = 2048) -> np.ndarray:
    """bool [N, native, native]: the sprites of factor index rows [N, K] (dsprites, colorshapes).

    Columns ``first`` .. ``first + 4`` hold shape, scale, orientation, x and y: shape ``s`` is drawn
    with ``inside[s]``, at half-size ``scales[i] * half_size`` pixels, angle ``orientations[j]`` and
    centre ``margin + positions[p] * (native - 2 * margin)``; ``margin`` bounds every sprite's radius.
    """
    out = np.zeros((len(factors), native, native), bool)
    for shape, test in enumerate(inside):
        idx = np.flatnonzero(factors[:, first] == shape)
        for start in range(0, len(idx), chunk):
            sel = idx[start:start + chunk]
            f = factors[sel, first + 1:first + 5]
            scale = (scales[f[:, 0]] * half_size).astype(np.float32)
            theta = orientations[f[:, 1]].astype(np.float32)
            cx, cy = ((margin + positions[f[:, c]] * (native - 2 * margin)).astype(np.float32) for c in (2, 3))
            out[sel] = rasterize(test, scale, theta, cx, cy, native, margin)
    return out


def rasterize(inside, scale: np.ndarray, theta: np.ndarray, cx: np.ndarray, cy: np.ndarray, native: int,
              radius: float) -> np.ndarray:
    """bool [N, native, native]: the pixels of N rotated, scaled sprites (dsprites, colorshapes).

    A pixel (centre ``(col + 0.5, row + 0.5)``) is set where ``inside(u, v)`` holds for its
    sprite coordinates ``u = (cos t dx + sin t dy) / s``, ``v = (cos t dy - sin t dx) / s``
    (``dx`` right, ``dy`` up from the centre ``(cx, cy)``).  ``radius`` bounds every sprite's
    extent in pixels, so only a window of ``2 * ceil(radius) + 2`` pixels around each centre is
    tested: the same float32 arithmetic pixel by pixel as testing the whole frame (bit-identical,
    ``tests/data/test_sources.py``), on about a sixth of the pixels for dSprites.  Inputs are
    float32 [N].
    """
    n = len(scale)
    out = np.zeros((n, native, native), bool)
    if n == 0:
        return out
    w = min(native, 2 * int(np.ceil(radius)) + 2)
    col0 = np.clip(np.floor(cx - radius - 0.5), 0, native - w).astype(np.int64)
    row0 = np.clip(np.floor(cy - radius - 0.5), 0, native - w).astype(np.int64)
    step = np.arange(w)
    cols, rows = col0[:, None] + step, row0[:, None] + step  # [N, w] pixel indices of each window
    half = np.float32(0.5)
    dx = (cols.astype(np.float32) + half)[:, None, :] - cx[:, None, None]
    dy = cy[:, None, None] - (rows.astype(np.float32) + half)[:, :, None]  # positive v points to smaller rows (up)
    theta, scale = theta[:, None, None], scale[:, None, None]
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    mask = inside(cos * dx + sin * dy, cos * dy - sin * dx)
    out[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = mask
    return out


class FactorGridSource(DataSource):
    """A source rendered from a grid of factor indices (dsprites, colorshapes).

    Splits are disjoint: distinct grid points drawn without replacement (seeded with
    ``split_salt``) and shared out to train / val / test; any combination renders on demand.
    """

    factor_sizes: ClassVar[tuple[int, ...]]
    native: ClassVar[int] = 64
    split_salt: ClassVar[int]

    @classmethod
    def grid_size(cls) -> int:
        return int(np.prod(cls.factor_sizes))

    @classmethod
    def validate_grid(cls, params, key: str) -> None:
        """Refuse more samples than grid points, or a resolution above the native one."""
        total = params.n_train + params.n_val + params.n_test
        if total > cls.grid_size():
            raise ConfigError(f"{key}.n_train", f"n_train + n_val + n_test = {total} exceeds the {cls.grid_size()} {cls.name} factor combinations.", "lower the split sizes.")
        if params.resolution > cls.native:
            raise ConfigError(f"{key}.resolution", f"{params.resolution} exceeds {cls.name}' native {cls.native}x{cls.native}.", "use 16, 32 or 64.")

    def _indices(self) -> dict[str, np.ndarray]:
        sizes = self.split_sizes()
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.split_salt]))
        flat = rng.choice(self.grid_size(), size=sum(sizes.values()), replace=False)
        bounds = np.cumsum([0] + [sizes[s] for s in SPLITS])
        return {s: flat[bounds[i]:bounds[i + 1]] for i, s in enumerate(SPLITS)}

    def split(self, name: str) -> Split:
        factors = np.stack(np.unravel_index(self._indices()[name], self.factor_sizes), axis=1).astype(np.int64)
        return Split(self.render(factors), factors)

