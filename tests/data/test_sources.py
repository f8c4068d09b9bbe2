"""The renderers' shared arithmetic (``sslpipe.data.sources``) against whole-frame loop references."""
import numpy as np
import pytest

from sslpipe.data import colorshapes, dsprites
from sslpipe.data.sources import downsample, rasterize


def _mean_reference(images: np.ndarray, resolution: int) -> np.ndarray:
    """Area average as the float32 mean of each block, rounded half to even (the definition)."""
    n, c, s, _ = images.shape
    f = s // resolution
    x = images.reshape(n, c, resolution, f, resolution, f).astype(np.float32).mean(axis=(3, 5))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size,resolution", [(64, 32), (64, 16), (64, 8), (32, 16), (128, 16)])
def test_downsample_equals_the_float_mean(size, resolution):
    rng = np.random.default_rng(size + resolution)
    images = rng.integers(0, 256, (40, 3, size, size), dtype=np.uint8)
    images[:10] = rng.choice(np.array([0, 255], np.uint8), (10, 3, size, size))  # binary sprites: many exact halves
    images[10:20, :, ::2] = 2 * (images[10:20, :, ::2] // 2)  # even sums, so x.5 means (rounded to even) occur
    out = downsample(images, resolution)
    assert out.dtype == np.uint8 and out.shape == (40, 3, resolution, resolution)
    assert np.array_equal(out, _mean_reference(images, resolution))


def test_downsample_keeps_or_repeats():
    images = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    assert downsample(images, 4) is images
    assert np.array_equal(downsample(images, 8)[:, :, ::2, ::2], images)


def _whole_frame(inside, scale, theta, cx, cy, native):
    """The reference: every pixel of the frame tested, one sprite at a time."""
    coords = np.arange(native, dtype=np.float32) + 0.5
    out = np.zeros((len(scale), native, native), bool)
    for i in range(len(scale)):
        dx = coords[None, :] - cx[i]
        dy = cy[i] - coords[:, None]
        cos, sin = np.cos(theta[i]) / scale[i], np.sin(theta[i]) / scale[i]
        out[i] = inside(cos * dx + sin * dy, cos * dy - sin * dx)
    return out


def _params(module, n, rng, scale_col, theta_col, x_col):
    """float32 sprite parameters of ``n`` random factor rows, half of them at the frame's corners."""
    f = np.stack([rng.integers(0, s, n) for s in module.FACTOR_SIZES], 1)
    f[: n // 2, x_col] = rng.choice([0, module.FACTOR_SIZES[x_col] - 1], n // 2)
    f[: n // 2, x_col + 1] = rng.choice([0, module.FACTOR_SIZES[x_col + 1] - 1], n // 2)
    f[: n // 4, scale_col] = module.FACTOR_SIZES[scale_col] - 1  # the largest sprites
    pos = lambda i: (module.MARGIN + module.POSITIONS[f[:, i]] * (module.NATIVE - 2 * module.MARGIN)).astype(np.float32)  # noqa: E731
    return ((module.SCALES[f[:, scale_col]] * module.HALF_SIZE).astype(np.float32),
            module.ORIENTATIONS[f[:, theta_col]].astype(np.float32), pos(x_col), pos(x_col + 1))


@pytest.mark.parametrize("module,cols", [(dsprites, (1, 2, 3)), (colorshapes, (3, 4, 5))], ids=["dsprites", "colorshapes"])
def test_rasterize_is_the_whole_frame_test_bit_for_bit(module, cols):
    rng = np.random.default_rng(7)
    for inside in module.INSIDE:
        scale, theta, cx, cy = _params(module, 400, rng, *cols)
        window = rasterize(inside, scale, theta, cx, cy, module.NATIVE, module.MARGIN)
        reference = _whole_frame(inside, scale, theta, cx, cy, module.NATIVE)
        assert window.any(axis=(1, 2)).all()
        assert np.array_equal(window, reference)


def test_rasterize_misses_what_lies_beyond_its_radius():
    """The window is what makes it fast: a radius smaller than the sprite cuts the sprite."""
    scale, theta, c = (np.array([v], np.float32) for v in (10.0, 0.3, 32.0))
    square = dsprites.INSIDE[0]
    assert not np.array_equal(rasterize(square, scale, theta, c, c, 64, 4.0), _whole_frame(square, scale, theta, c, c, 64))


@pytest.mark.parametrize("module,cols", [(dsprites, (1, 2, 3)), (colorshapes, (3, 4, 5))], ids=["dsprites", "colorshapes"])
def test_margin_bounds_every_sprite(module, cols):
    """``MARGIN`` is rasterize's radius: every pixel of the largest sprite, at every orientation, lies within it."""
    n_orient = len(module.ORIENTATIONS)
    for inside in module.INSIDE:
        scale = np.full(n_orient, module.SCALES[-1] * module.HALF_SIZE, np.float32)
        theta = module.ORIENTATIONS.astype(np.float32)
        centre = np.full(n_orient, module.NATIVE / 2, np.float32)
        frame = _whole_frame(inside, scale, theta, centre, centre, module.NATIVE)
        _, rows, cols_ = np.nonzero(frame)
        assert np.hypot(cols_ + 0.5 - module.NATIVE / 2, rows + 0.5 - module.NATIVE / 2).max() <= module.MARGIN
