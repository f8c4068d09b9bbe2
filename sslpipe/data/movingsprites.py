"""Moving sprites and moving digits: procedural video with ground truth for every frame.

In the spirit of Moving MNIST (Srivastava et al. 2015): clips of ``frames`` frames in which
1 to ``max_objects`` objects move in the unit square.  Each object starts at a uniform
position with a uniform direction and a speed around ``speed`` (unit square per frame),
reflects at the walls, rotates (``spin``) and changes scale (``scale_rate``).  The sprites
are the dSprites shapes (``movingsprites``) or scikit-learn's handwritten digits
(``movingdigits``: real handwriting moves; the digit images of the train, val and test
clips are disjoint).

Time-irreversible dynamics (``irreversible: true``, default): gravity pulls objects down,
bounces lose energy (``restitution`` < 1), friction slows motion and spin, and objects may
fade in (``fade_in`` frames).  Elastic motion at constant speed looks the same played
backwards (the uniform start state is invariant under the motion and its time reversal),
so without these the arrow of time cannot be identified: ``irreversible: false`` is that
control case.

Stored per clip (one record holds ``chunk_size`` clips):

- ``images.npy`` uint8 [T, C, R, R]: the frames, rendered by point-sampling each pixel
  centre (so every pixel belongs to exactly one object or the background);
- ``masks.npy`` uint8 [T, R, R]: 0 = background, k = object k (the topmost one where objects overlap);
- ``factors.npy`` float32 [T, max_objects, 7]: per object and frame ``FACTOR_COLUMNS``
  (``glyph`` indexes the sprite drawn; NaN rows for absent objects), enough to re-render
  the clip with :meth:`MovingSprites.render_clips`;
- ``frame_targets.npy`` int64 [T, F]: the first object's factors binned (``ClipInfo.frame_targets``),
  the targets of the per-frame probes and disentanglement metrics;
- ``targets.npy`` int64 [K]: clip labels: the first object's shape (or digit), its initial
  motion direction in 8 bins (0 = right, counter-clockwise), the number of objects minus one,
  and with ``color`` the first object's hue and the background hue.

Positions: ``x`` grows to the right, ``y`` grows down the rows (as dSprites' ``pos_y``);
a margin keeps every sprite inside the frame.  With ``color`` each object has one of 10
hues (fully saturated) on a muted background of one of 10 hues, as colorshapes.

Texture (``texture`` > 0): flat colours make raw pixels a perfect identity cue, so no learned
feature can track better than the pixels themselves (docs/video.md).  With texture every object
is shaded by stripes drawn in its own coordinates (they move, turn and scale with it; the
stripes' direction follows the object's hue and shape, so a factor trajectory still renders one
clip), and with colour the background by static stripes in frame coordinates: a pixel's shade
is ``1 - texture * (1 + cos(2 pi phase)) / 2``.  Between frames an object's stripes slide past
the pixel grid, so the pixels of a grid cell no longer repeat from frame to frame while the
object's pattern does.  ``texture`` only shades: masks and factors are unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core.schema import check, in_range, non_negative, positive
from ..core.errors import ConfigError, DataError
from . import dsprites
from .colorshapes import BG_RGB, OBJ_RGB
from .sources import SOURCES, SPLITS, ClipInfo, DataSource, SourceParams, Split, resolution_check

FACTOR_COLUMNS = ("shape", "scale", "orientation", "x", "y", "hue", "glyph")
SHAPE, SCALE, ORIENT, X, Y, HUE, GLYPH = range(len(FACTOR_COLUMNS))
DIRECTIONS = 8
HUES = 10
ORIENTATION_BINS = 8
POSITION_BINS = 8
SCALE_BINS = 4
EXTENT = 1.2  # a sprite's radius in units of its half-size (dSprites' shapes at every orientation)
DIGIT_THRESHOLD = 0.25  # a digit covers the pixels where its ink is above this (of 1)
CHUNK = 4096  # sprites rasterised per vectorised call
STRIPES = 1.5  # texture: stripe cycles per sprite half-size
BG_STRIPES = 6.0  # texture: background stripe cycles per frame side
SPLIT_SALT = 0x7D  # splits are independent streams of one seed


@dataclass
class MovingSpritesParams(SourceParams):
    n_train: int = check(2000, positive, help="training clips.")
    n_val: int = check(200, positive, help="validation clips.")
    n_test: int = check(500, positive, help="test clips.")
    resolution: int = check(32, resolution_check, help="frames are rendered square at this size.")
    chunk_size: int = check(32, positive, help="clips per WebDataset record (32 clips x 8 frames = 256 frames).")
    frames: int = check(8, in_range(2, 64), help="frames per clip.")
    max_objects: int = check(2, in_range(1, 8), help="each clip has 1 to max_objects objects (uniform).")
    size: float = check(0.16, in_range(0.02, 0.3), help="sprite half-size at scale 1, as a fraction of the frame side.")
    speed: float = check(0.15, in_range(0, 0.3, lo_open=True), help="mean initial speed (unit square per frame); each object draws uniformly from [0.5, 1.5] x speed.")
    spin: float = check(0.25, non_negative, help="largest angular velocity (radians per frame), drawn uniformly in [-spin, spin].")
    scale_min: float = check(0.6, in_range(0.1, 1), help="smallest sprite scale.")
    scale_max: float = check(1.0, in_range(0.1, 1), help="largest sprite scale.")
    scale_rate: float = check(0.04, non_negative, help="largest change of scale per frame (reflects at scale_min / scale_max).")
    irreversible: bool = check(True, help="gravity, inelastic bounces, friction and fade-in on (false: elastic constant-speed motion, which looks the same played backwards).")
    gravity: float = check(0.01, non_negative, help="downward acceleration (unit square per frame^2) when irreversible.")
    restitution: float = check(0.8, in_range(0, 1), help="fraction of the speed kept by a bounce when irreversible.")
    friction: float = check(0.12, in_range(0, 1, hi_open=True), help="fraction of velocity and spin lost per frame when irreversible.")
    fade_in: int = check(0, non_negative, help="frames over which objects fade in when irreversible (0: off; a brightness ramp is a cue that needs no motion).")
    color: bool = check(False, help="each object and the background a random hue (needed by video_colorization).")
    texture: float = check(0.0, in_range(0, 0.8), help="depth of the stripes that shade every object (moving and turning with it) and, with colour, the static background (0: flat colours; see the module docstring).")

    def validate(self, key: str) -> None:
        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise ConfigError(f"{key}.scale_min", f"scale range [{self.scale_min}, {self.scale_max}] is not within (0, 1].", "use e.g. scale_min: 0.6, scale_max: 1.0.")
        # one reflection per frame at most: the fastest object moves less than half the square per frame
        if 1.5 * self.speed + self.gravity * self.frames >= 0.5:
            raise ConfigError(f"{key}.speed", f"1.5 * speed + gravity * frames = {1.5 * self.speed + self.gravity * self.frames:.3f} must be < 0.5 (one wall bounce per frame).", "lower speed or gravity.")


@dataclass
class Trajectory:
    """Simulated clips: per-object factors [N, T, O, 7] (NaN for absent objects) and velocities [N, T, O, 2]."""

    factors: np.ndarray
    velocity: np.ndarray
    count: np.ndarray  # objects per clip [N]
    bg_hue: np.ndarray  # [N] background hue index (-1: grey)


def reflect(p: np.ndarray, v: np.ndarray, e: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounce positions ``p`` off the walls at 0 and 1: the overshoot is mirrored and scaled by ``e``, and so is the velocity."""
    over, under = p > 1, p < 0
    p = np.where(over, 1 - e * (p - 1), np.where(under, -e * p, p))
    v = np.where(over | under, -e * v, v)
    return p, v


def simulate(n: int, p: MovingSpritesParams, rng: np.random.Generator, glyphs: np.ndarray, glyph_shape: np.ndarray) -> Trajectory:
    """Draw ``n`` clips' initial states and integrate their dynamics, vectorised over clips and objects.

    ``glyphs``: the sprite indices to draw from; ``glyph_shape``: each glyph's class (shape or digit).
    Per frame, in this order: gravity adds to the vertical velocity, the position moves by the
    velocity and bounces off the walls, friction scales velocity and spin, the orientation turns
    by the spin and the scale moves by its rate (reflecting at the scale range).
    """
    T, O = p.frames, p.max_objects
    count = rng.integers(1, O + 1, size=n)
    present = np.arange(O)[None, :] < count[:, None]  # [N, O]
    pos = rng.uniform(0, 1, size=(n, O, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(n, O))
    speed = rng.uniform(0.5, 1.5, size=(n, O)) * p.speed
    vel = np.stack([np.cos(angle), -np.sin(angle)], -1) * speed[..., None]  # y grows down: angle counter-clockwise on screen
    theta = rng.uniform(0, 2 * np.pi, size=(n, O))
    omega = rng.uniform(-p.spin, p.spin, size=(n, O))
    scale = rng.uniform(p.scale_min, p.scale_max, size=(n, O))
    rate = rng.uniform(-p.scale_rate, p.scale_rate, size=(n, O))
    glyph = rng.choice(glyphs, size=(n, O))
    hue = rng.integers(0, HUES, size=(n, O)) if p.color else np.full((n, O), -1)
    bg = rng.integers(0, HUES, size=n) if p.color else np.full(n, -1)
    e = p.restitution if p.irreversible else 1.0
    g = p.gravity if p.irreversible else 0.0
    keep = 1 - p.friction if p.irreversible else 1.0

    factors = np.full((n, T, O, len(FACTOR_COLUMNS)), np.nan, np.float64)
    velocity = np.zeros((n, T, O, 2))
    for t in range(T):
        if t > 0:
            vel[..., 1] += g
            pos = pos + vel
            for axis in (0, 1):
                pos[..., axis], vel[..., axis] = reflect(pos[..., axis], vel[..., axis], e)
            vel = vel * keep
            omega = omega * keep
            theta = theta + omega
            scale = scale + rate
            hi, lo = scale > p.scale_max, scale < p.scale_min
            scale = np.where(hi, 2 * p.scale_max - scale, np.where(lo, 2 * p.scale_min - scale, scale))
            rate = np.where(hi | lo, -rate, rate)
        f = np.stack([glyph_shape[glyph], scale, np.mod(theta, 2 * np.pi), pos[..., 0], pos[..., 1], hue, glyph], -1)
        factors[:, t] = np.where(present[..., None], f, np.nan)
        velocity[:, t] = vel
    return Trajectory(factors.astype(np.float32), velocity.astype(np.float32), count, bg)


def _stripes(phase: np.ndarray, depth: float) -> np.ndarray:
    """Shade in [1 - depth, 1] of stripes at ``phase`` (cycles)."""
    return 1.0 - depth * 0.5 * (1.0 + np.cos(2 * np.pi * phase))


def direction_bin(velocity: np.ndarray) -> np.ndarray:
    """Motion direction in ``DIRECTIONS`` bins centred on right (0), up (2), left (4), down (6)."""
    angle = np.arctan2(-velocity[..., 1], velocity[..., 0])
    return np.mod(np.rint(angle / (2 * np.pi / DIRECTIONS)), DIRECTIONS).astype(np.int64)


def binned(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    return np.clip(np.floor((values - lo) / (hi - lo) * bins), 0, bins - 1).astype(np.int64)


@SOURCES.register("movingsprites")
class MovingSprites(DataSource):
    """Moving dSprites shapes (see the module docstring)."""

    Params: ClassVar[type] = MovingSpritesParams
    modality: ClassVar[str] = "video"
    shape_name: ClassVar[str] = "shape"

    def __init__(self, params, seed: int):
        super().__init__(params, seed)
        self._glyph_bank = None
        self._layout = None  # per-clip arrays' dtype and shape, set by records()

    @classmethod
    def channels(cls, params) -> int:
        return 3 if params.color else 1

    @classmethod
    def frames(cls, params) -> int:
        return params.frames

    # --- glyphs: what each object draws -------------------------------------------
    def class_names(self) -> list[str]:
        return list(dsprites.SHAPES)

    def glyph_pool(self, split: str) -> np.ndarray:
        """Glyph indices a clip of ``split`` may draw."""
        return np.arange(len(dsprites.SHAPES))

    def glyph_classes(self) -> np.ndarray:
        """The shape (class) of every glyph index."""
        return np.arange(len(dsprites.SHAPES))

    def coverage(self, glyph: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Ink in [0, 1] of glyphs [M] at sprite coordinates u, v [M, R, R] (u right, v up; half-size 1)."""
        out = np.zeros(u.shape, np.float32)
        for s, inside in enumerate(dsprites.INSIDE):
            sel = glyph == s
            if sel.any():
                out[sel] = inside(u[sel], v[sel])
        return out

    # --- info ------------------------------------------------------------------------
    def frame_factor_spec(self) -> list[tuple[str, int, tuple[float, float] | None, int]]:
        """(name, bins, value range or None for categorical, factor column) of each per-frame factor."""
        p = self.params
        spec = [
            (self.shape_name, len(self.class_names()), None, SHAPE),
            ("scale", SCALE_BINS, (p.scale_min, p.scale_max + 1e-6), SCALE),
            ("orientation", ORIENTATION_BINS, (0.0, 2 * np.pi), ORIENT),
            ("pos_x", POSITION_BINS, (0.0, 1.0 + 1e-6), X),
            ("pos_y", POSITION_BINS, (0.0, 1.0 + 1e-6), Y),
        ]
        if p.color:
            spec += [("hue", HUES, None, HUE), ("bg_hue", HUES, None, -1)]
        return spec

    def info(self) -> ClipInfo:
        p = self.params
        spec = self.frame_factor_spec()
        names = [s[0] for s in spec]
        targets = [self.shape_name, "direction", "objects"] + (["hue", "bg_hue"] if p.color else [])
        return ClipInfo(
            self.channels(p), p.resolution, targets,
            frames=p.frames, arrays=["factors", "frame_targets", "masks"],
            frame_targets=names, frame_factors=names, frame_factor_sizes=[s[1] for s in spec],
            frame_ordinal=["scale", "pos_x", "pos_y"],
        )

    # --- targets ----------------------------------------------------------------
    def frame_targets(self, factors: np.ndarray, bg_hue: np.ndarray) -> np.ndarray:
        """The first object's factors per frame, binned: int64 [N, T, F] (columns as ClipInfo.frame_targets)."""
        first = factors[:, :, 0]
        cols = []
        for _, bins, rng, col in self.frame_factor_spec():
            if col < 0:  # background hue: a clip constant
                cols.append(np.broadcast_to(bg_hue[:, None], first.shape[:2]).astype(np.int64))
            elif rng is None:
                cols.append(first[..., col].astype(np.int64))
            else:
                cols.append(binned(first[..., col], *rng, bins))
        return np.stack(cols, -1)

    def clip_targets(self, traj: Trajectory) -> np.ndarray:
        first = traj.factors[:, 0, 0]
        cols = [first[:, SHAPE].astype(np.int64), direction_bin(traj.velocity[:, 0, 0]), traj.count - 1]
        if self.params.color:
            cols += [first[:, HUE].astype(np.int64), traj.bg_hue.astype(np.int64)]
        return np.stack(cols, 1).astype(np.int64)

    # --- rendering ----------------------------------------------------------------
    def geometry(self) -> tuple[float, float]:
        """(half-size of a sprite at scale 1 in pixels, margin in pixels that keeps every sprite inside)."""
        p = self.params
        half = p.size * p.resolution
        return half, EXTENT * half * p.scale_max

    def alpha(self) -> np.ndarray:
        """Opacity per frame [T]: a linear fade-in over ``fade_in`` frames (irreversible dynamics only)."""
        p = self.params
        t = np.arange(p.frames, dtype=np.float32)
        if not p.irreversible or p.fade_in == 0:
            return np.ones(p.frames, np.float32)
        return np.minimum(1.0, (t + 1) / (p.fade_in + 1)).astype(np.float32)

    def _ink(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Ink and shade [M, R, R] of single objects with factor rows [M, 7] (shade None without ``texture``)."""
        p = self.params
        r = p.resolution
        half, margin = self.geometry()
        out = np.zeros((len(f), r, r), np.float32)
        shade = np.ones((len(f), r, r), np.float32) if p.texture else None
        coords = np.arange(r, dtype=np.float32) + 0.5
        for start in range(0, len(f), CHUNK):
            c = f[start:start + CHUNK]
            hs = (c[:, SCALE] * half).astype(np.float32)[:, None, None]
            theta = c[:, ORIENT].astype(np.float32)[:, None, None]
            cx = (margin + c[:, X] * (r - 2 * margin)).astype(np.float32)[:, None, None]
            cy = (margin + c[:, Y] * (r - 2 * margin)).astype(np.float32)[:, None, None]
            dx = coords[None, None, :] - cx
            dy = cy - coords[None, :, None]  # v points up (to smaller rows)
            cos, sin = np.cos(theta) / hs, np.sin(theta) / hs
            u, v = cos * dx + sin * dy, cos * dy - sin * dx
            out[start:start + CHUNK] = self.coverage(c[:, GLYPH].astype(np.int64), u, v)
            if p.texture:
                hue = np.where(c[:, HUE] >= 0, c[:, HUE], 0)
                phi = (np.pi * (hue / HUES + c[:, SHAPE] / 7.0)).astype(np.float32)[:, None, None]
                shade[start:start + CHUNK] = _stripes(STRIPES * (np.cos(phi) * u + np.sin(phi) * v), p.texture)
        return out, shade

    def render_clips(self, factors: np.ndarray, bg_hue: np.ndarray | None = None, alpha: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Frames uint8 [N, T, C, R, R] and instance masks uint8 [N, T, R, R] of any factor trajectories [N, T, O, 7].

        Objects are drawn in slot order (a later object covers an earlier one); NaN rows are
        absent objects.  ``bg_hue`` [N] (colour only) and ``alpha`` [T] default to hue 0 and
        this source's fade-in.
        """
        p = self.params
        factors = np.asarray(factors, np.float32)
        n, T, O, _ = factors.shape
        r, C = p.resolution, self.channels(p)
        alpha = self.alpha() if alpha is None else np.asarray(alpha, np.float32)
        if p.color:
            bg = BG_RGB[np.zeros(n, np.int64) if bg_hue is None else np.asarray(bg_hue, np.int64)]  # [N, 3]
            canvas = np.broadcast_to(bg[:, None, :, None, None], (n, T, 3, r, r)).astype(np.float32)
            if p.texture:  # static stripes in frame coordinates, their direction set by the background hue
                hue = np.zeros(n) if bg_hue is None else np.asarray(bg_hue, np.float64)
                phi = (np.pi * hue / HUES)[:, None, None]
                xy = (np.arange(r) + 0.5) / r
                phase = BG_STRIPES * (np.cos(phi) * xy[None, None, :] + np.sin(phi) * xy[None, :, None])
                canvas = canvas * _stripes(phase, p.texture)[:, None, None].astype(np.float32)
        else:
            canvas = np.zeros((n, T, 1, r, r), np.float32)
        masks = np.zeros((n, T, r, r), np.uint8)
        for o in range(O):
            f = factors[:, :, o]
            here = ~np.isnan(f[..., SHAPE])  # [N, T]
            if not here.any():
                continue
            ink = np.zeros((n, T, r, r), np.float32)
            ink[here], shaded = self._ink(f[here])
            covered = ink > 0
            a = (ink * alpha[None, :, None, None])[:, :, None]  # [N, T, 1, R, R]
            if p.color:
                colour = OBJ_RGB[np.where(here, f[..., HUE], 0).astype(np.int64)][..., None, None]  # [N, T, 3, 1, 1]
            else:
                colour = np.float32(255.0)
            if shaded is not None:  # texture: flat clips skip the [N, T, R, R] shade
                shade = np.ones((n, T, r, r), np.float32)
                shade[here] = shaded
                colour = colour * shade[:, :, None]
            canvas = np.where(covered[:, :, None], canvas * (1 - a) + colour * a, canvas)
            masks[covered] = o + 1
        return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), masks

    def render(self, factors: np.ndarray) -> np.ndarray:
        """uint8 [N, C, R, R] single-object frames for per-frame factor indices [N, F] (bin centres; ClipInfo.frame_factors).

        The sampling-based disentanglement metrics (BetaVAE, FactorVAE) draw per-frame factor
        combinations from the frame-factor grid and encode these frames.
        """
        factors = np.asarray(factors, np.int64)
        spec = self.frame_factor_spec()
        row = np.full((len(factors), 1, 1, len(FACTOR_COLUMNS)), np.nan, np.float32)
        bg = np.zeros(len(factors), np.int64)
        for j, (_, bins, rng, col) in enumerate(spec):
            if col < 0:
                bg = factors[:, j]
            elif rng is None:
                row[:, 0, 0, col] = factors[:, j]
            else:
                lo, hi = rng
                row[:, 0, 0, col] = lo + (factors[:, j] + 0.5) * (hi - lo) / bins
        if not self.params.color:
            row[..., HUE] = -1
        row[:, 0, 0, GLYPH] = self.class_glyph(row[:, 0, 0, SHAPE].astype(np.int64))
        frames, _ = self.render_clips(row, bg, np.ones(1, np.float32))
        return frames[:, 0]

    def frame_source(self) -> "FrameView":
        return FrameView(self)

    def class_glyph(self, cls: np.ndarray) -> np.ndarray:
        """A representative glyph of each class (for rendering from factor indices)."""
        return cls

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n) for s in self.info().frame_factor_sizes], axis=1).astype(np.int64)

    # --- splits ---------------------------------------------------------------------
    def split(self, name: str) -> Split:
        n = self.split_sizes()[name]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, SPLIT_SALT, SPLITS.index(name)]))
        traj = simulate(n, self.params, rng, self.glyph_pool(name), self.glyph_classes())
        frames, masks = self.render_clips(traj.factors, traj.bg_hue)
        arrays = {"factors": traj.factors, "frame_targets": self.frame_targets(traj.factors, traj.bg_hue), "masks": masks}
        return Split(frames, self.clip_targets(traj), arrays)

    # --- what the shard writer stores ---------------------------------------------------
    def records(self, split: str):
        """Chunks of ``chunk_size`` clips (``images.npy`` uint8 [n, T, C, R, R]) with their targets and per-clip arrays."""
        s, p = self.split(split), self.params
        if s.images.dtype != np.uint8 or s.images.ndim != 5 or s.images.shape[1] != p.frames:
            raise DataError(f"dataset {self.name!r}: split {split} must be uint8 [N, {p.frames}, C, R, R], got {s.images.dtype} {s.images.shape}")
        self._layout = {k: {"dtype": str(a.dtype), "shape": list(a.shape[1:])} for k, a in s.arrays.items()}
        n = len(s.images)
        for start in range(0, n, p.chunk_size):
            stop = min(start + p.chunk_size, n)
            yield {"images.npy": s.images[start:stop], "targets.npy": s.targets[start:stop],
                   **{f"{k}.npy": a[start:stop] for k, a in s.arrays.items()}}, stop - start

    def manifest_fields(self) -> dict:
        """``modality: video``, the info, frames per clip and each per-clip array's dtype and shape."""
        import dataclasses

        if getattr(self, "_layout", None) is None:  # the shard writer calls records() first
            for _ in self.records("val"):
                break
        return {"modality": "video", "info": dataclasses.asdict(self.info()), "frames": self.params.frames, "arrays": self._layout}


class FrameView:
    """A video source seen as single frames: the frame factors' info, sampling and rendering (BetaVAE/FactorVAE on per-frame codes)."""

    def __init__(self, source: MovingSprites):
        self.source = source

    def info(self):
        return self.source.info().frame_info()

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.source.sample_factors(n, rng)

    def render(self, factors: np.ndarray) -> np.ndarray:
        return self.source.render(factors)


@dataclass
class ReversibleParams(MovingSpritesParams):
    irreversible: bool = check(False, help="off: elastic constant-speed motion, which looks the same played backwards (the arrow-of-time control).")


@SOURCES.register("movingsprites_reversible")
class MovingSpritesReversible(MovingSprites):
    """Moving sprites without time-irreversible dynamics: the control in which the arrow of time cannot be read."""

    Params = ReversibleParams


@dataclass
class TexturedParams(MovingSpritesParams):
    color: bool = check(True, help="each object and the background a random hue (video_colorization copies colours).")
    texture: float = check(0.8, in_range(0, 0.8), help="depth of the stripes on every object and the background (measured: raw-pixel J 0.33 flat, 0.29 at 0.4, 0.23 at 0.6, 0.15 at 0.8).")


@SOURCES.register("movingsprites_textured")
class MovingSpritesTextured(MovingSprites):
    """Moving sprites with striped objects on a striped background: the tracking benchmark.

    On flat colours a grid cell's raw pixels identify its object as well as the true masks do
    (docs/video.md), so label propagation cannot show what a tracker learned.  Here an object's
    stripes slide past the pixel grid as it moves and turns, so matching cells pixel by pixel
    fails where matching the object's pattern does not (Vondrick et al. 2018 and Jabri et al.
    2020 compare with raw pixels on real video for the same reason).
    """

    Params = TexturedParams


@dataclass
class MovingDigitsParams(MovingSpritesParams):
    size: float = check(0.2, in_range(0.02, 0.3), help="digit half-size at scale 1, as a fraction of the frame side (8x8 handwriting needs more pixels than a shape).")
    spin: float = check(0.1, non_negative, help="largest angular velocity (radians per frame); handwriting stays readable at small angles.")
    digits_val: int = check(100, positive, help="digit images reserved for validation clips (the rest of the 1,797 after digits_test go to training clips).")
    digits_test: int = check(500, positive, help="digit images reserved for test clips.")

    def validate(self, key: str) -> None:
        super().validate(key)
        from .digits import N_DIGITS

        if self.digits_val + self.digits_test >= N_DIGITS - 100:
            raise ConfigError(f"{key}.digits_test", f"digits_val + digits_test = {self.digits_val + self.digits_test} leaves fewer than 100 of the {N_DIGITS} digits for training clips.", "lower digits_val or digits_test.")


@SOURCES.register("movingdigits")
class MovingDigits(MovingSprites):
    """Moving handwritten digits: scikit-learn's 8x8 digits drawn as sprites (bilinear, ink above a threshold)."""

    Params = MovingDigitsParams
    shape_name = "digit"

    def _bank(self):
        if self._glyph_bank is None:
            from .digits import N_DIGITS, load_raw, split_indices

            images, labels = load_raw()
            p = self.params
            pools = split_indices(labels, N_DIGITS - p.digits_val - p.digits_test, p.digits_val, p.digits_test, self.seed)
            self._glyph_bank = (images, labels, pools)
        return self._glyph_bank

    def class_names(self) -> list[str]:
        return [str(d) for d in range(10)]

    def glyph_pool(self, split: str) -> np.ndarray:
        return np.sort(self._bank()[2][split])

    def glyph_classes(self) -> np.ndarray:
        return self._bank()[1]

    def frame_source(self) -> "FrameView":
        return FrameView(self)

    def class_glyph(self, cls: np.ndarray) -> np.ndarray:
        _, labels, pools = self._bank()
        train = np.sort(pools["train"])
        first = np.array([train[labels[train] == d][0] for d in range(10)])
        return first[cls]

    def coverage(self, glyph, u, v):
        """Bilinear ink of the 8x8 digit images (the square [-1, 1]^2 spans the image), zero below DIGIT_THRESHOLD."""
        images = self._bank()[0]
        m = len(glyph)
        col = (u + 1) * 4 - 0.5
        row = (1 - v) * 4 - 0.5
        c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        fc, fr = (col - c0).astype(np.float32), (row - r0).astype(np.float32)
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))[glyph]  # [M, 10, 10], zero outside the digit

        def at(rr, cc):
            inside = (rr >= -1) & (rr <= 8) & (cc >= -1) & (cc <= 8)
            rr, cc = np.clip(rr + 1, 0, 9), np.clip(cc + 1, 0, 9)
            return np.where(inside, padded[np.arange(m)[:, None, None], rr, cc], 0.0)

        ink = ((1 - fr) * ((1 - fc) * at(r0, c0) + fc * at(r0, c0 + 1)) + fr * ((1 - fc) * at(r0 + 1, c0) + fc * at(r0 + 1, c0 + 1)))
        return np.where(ink > DIGIT_THRESHOLD, ink, 0.0).astype(np.float32)
