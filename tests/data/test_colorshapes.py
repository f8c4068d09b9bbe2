import numpy as np
import pytest

from sslpipe.core.schema import build
from sslpipe.data.colorshapes import BG_RGB, FACTOR_NAMES, FACTOR_SIZES, GRID, OBJ_RGB, render, render_mask
from sslpipe.data.loader import load_split
from sslpipe.data.shards import verify_shards, write_shards
from sslpipe.data.sources import SOURCES
from sslpipe.core.errors import ConfigError

BASE = np.array([2, 6, 0, 4, 7, 8, 8])


def _f(**kw):
    f = BASE.copy()
    for k, v in kw.items():
        f[FACTOR_NAMES.index(k)] = v
    return f


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_render_shapes_dtypes_and_determinism():
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, s, 300) for s in FACTOR_SIZES], 1)
    for r in (16, 32, 64):
        a = render(f, r)
        assert a.shape == (300, 3, r, r) and a.dtype == np.uint8
    assert np.array_equal(render(f, 32), render(f[::-1], 32)[::-1])  # no dependence on batch order or size
    cls = SOURCES.get("colorshapes")
    src = cls(cls.Params(n_train=10, n_val=5, n_test=5, resolution=16), 0)
    assert cls.channels(src.params) == 3 and src.info().channels == 3
    assert src.info().targets == list(FACTOR_NAMES) and src.info().factor_sizes == list(FACTOR_SIZES)
    assert src.render(f[:4]).shape == (4, 3, 16, 16)


@pytest.mark.parametrize("resolution", [32, 16])
def test_render_is_the_per_pixel_blend_of_the_mask(resolution):
    """Reference: each output pixel blends background and object colour by the mask's float32 mean over its block."""
    rng = np.random.default_rng(resolution)
    f = np.stack([rng.integers(0, s, 200) for s in FACTOR_SIZES], 1)
    k = 64 // resolution
    cover = render_mask(f).reshape(200, 1, resolution, k, resolution, k).astype(np.float32).mean(axis=(3, 5))
    bg, obj = BG_RGB[f[:, 0]][:, :, None, None], OBJ_RGB[f[:, 1]][:, :, None, None]
    expected = np.clip(np.rint(bg + cover * (obj - bg)), 0, 255).astype(np.uint8)
    assert len(np.unique(cover)) == k * k + 1  # every coverage level occurs
    assert np.array_equal(render(f, resolution), expected)


def test_native_render_is_object_colour_on_background_colour():
    f = _f()
    img, mask = render(f[None])[0], render_mask(f[None])[0]
    assert np.array_equal(img[:, mask], np.repeat(OBJ_RGB[f[1]][:, None], mask.sum(), 1))
    assert np.array_equal(img[:, ~mask], np.repeat(BG_RGB[f[0]][:, None], (~mask).sum(), 1))
    # equal hues stay distinguishable: background is muted and darker than the object
    same = render(_f(bg_hue=3, obj_hue=3)[None])[0]
    assert (np.abs(OBJ_RGB - BG_RGB).sum(1) > 60).all() and np.unique(same.reshape(3, -1), axis=1).shape[1] == 2


def test_hues_change_only_their_own_pixels():
    m = render_mask(_f()[None])[0]
    a, b, c = (render(_f(**kw)[None])[0] for kw in ({}, {"obj_hue": 1}, {"bg_hue": 9}))
    assert np.array_equal(render_mask(_f(obj_hue=1, bg_hue=9)[None])[0], m)  # hues never move the mask
    assert (a[:, m] != b[:, m]).any(0).all() and np.array_equal(a[:, ~m], b[:, ~m])  # obj_hue: object only
    assert (a[:, ~m] != c[:, ~m]).any(0).all() and np.array_equal(a[:, m], c[:, m])  # bg_hue: background only
    # at low resolution too: pure-background pixels ignore obj_hue
    lo_a, lo_b = render(_f()[None], 16)[0], render(_f(obj_hue=1)[None], 16)[0]
    empty = ~m.reshape(16, 4, 16, 4).any(axis=(1, 3))
    assert np.array_equal(lo_a[:, empty], lo_b[:, empty]) and not np.array_equal(lo_a, lo_b)


def test_geometric_factors_have_their_meaning():
    mask = lambda **kw: render_mask(_f(**kw)[None])[0]  # noqa: E731
    xs = [_centroid(mask(pos_x=i))[0] for i in (0, 5, 10, 15)]
    assert all(a < b for a, b in zip(xs, xs[1:]))  # pos_x moves right
    ys = [_centroid(mask(pos_y=i))[1] for i in (0, 5, 10, 15)]
    assert all(a < b for a, b in zip(ys, ys[1:]))  # pos_y moves down the rows
    for s in range(4):
        areas = [mask(shape=s, scale=i).sum() for i in range(8)]
        # scale grows every shape (by (1.25 / 0.75)^2 in area; steps can tie on the pixel grid)
        assert all(a <= b for a, b in zip(areas, areas[1:])) and areas[-1] > 2.3 * areas[0]
        rot = [mask(shape=s, orientation=o) for o in range(15)]
        # every orientation is a distinct image (range narrower than each shape's symmetry), same area
        assert min((rot[i] != rot[j]).sum() for i in range(15) for j in range(i)) > 0
        assert (rot[0] != rot[14]).sum() > 40
        assert max(r.sum() for r in rot) < 1.1 * min(r.sum() for r in rot)
    shapes = [mask(shape=i) for i in range(4)]
    assert min((shapes[i] != shapes[j]).sum() for i in range(4) for j in range(i)) > 40


def test_every_shape_is_inside_the_frame():
    rng = np.random.default_rng(1)
    f = np.stack([rng.integers(0, s, 2000) for s in FACTOR_SIZES], 1)
    f[:, 3] = 7  # largest scale
    f[:, 4] = rng.choice([0, 14], 2000)  # extreme orientations
    f[:500, 5], f[500:1000, 5], f[1000:1500, 6], f[1500:, 6] = 0, 15, 0, 15  # extreme positions
    m = render_mask(f)
    assert m.any(axis=(1, 2)).all()
    assert not (m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any())


def test_splits_disjoint_reproducible_and_seeded():
    cls = SOURCES.get("colorshapes")
    p = cls.Params(n_train=400, n_val=50, n_test=100, resolution=16)
    a, b, c = cls(p, 0), cls(p, 0), cls(p, 1)
    assert np.array_equal(a.split("train").images, b.split("train").images)
    assert not np.array_equal(a.split("train").targets, c.split("train").targets)
    key = lambda s: {tuple(r) for r in a.split(s).targets}  # noqa: E731
    tr, va, te = key("train"), key("val"), key("test")
    assert (len(tr), len(va), len(te)) == (400, 50, 100) and not (tr & va or tr & te or va & te)
    s = a.split("val")
    assert np.array_equal(s.images, render(s.targets, 16))


def test_validate_errors():
    cls = SOURCES.get("colorshapes")
    with pytest.raises(ConfigError, match=r"data.colorshapes.n_train.*exceeds the 12288000"):
        build(cls.Params, {"n_train": GRID}, "data.colorshapes")
    with pytest.raises(ConfigError, match=r"data.colorshapes.resolution.*native 64x64"):
        build(cls.Params, {"resolution": 128}, "data.colorshapes")
    with pytest.raises(ConfigError, match=r"data.colorshapes.resolution"):
        build(cls.Params, {"resolution": 30}, "data.colorshapes")


def test_round_trips_through_shards(tmp_path):
    cls = SOURCES.get("colorshapes")
    src = cls(cls.Params(n_train=70, n_val=10, n_test=20, resolution=16, chunk_size=32, shard_chunks=2), 0)
    write_shards(src, tmp_path / "cs", "colorshapes", log=lambda *_: None)
    m = verify_shards(tmp_path / "cs")
    assert m["info"]["factors"] == list(FACTOR_NAMES)
    for split in ("train", "val", "test"):
        images, targets = load_split(tmp_path / "cs", m, split)
        ref = src.split(split)
        assert np.array_equal(images, ref.images) and np.array_equal(targets, ref.targets)


def test_hsv_to_rgb_matches_matplotlib():
    from matplotlib.colors import hsv_to_rgb as reference

    from sslpipe.data.colorshapes import hsv_to_rgb

    rng = np.random.default_rng(0)
    hsv = rng.random((2000, 3))
    hsv[:200, 1] = 0.0  # grey: every channel is the value
    hsv[200:400, 0] = rng.integers(0, 7, 200) / 6  # sector boundaries, hue 1.0 included
    assert np.array_equal(hsv_to_rgb(hsv), reference(hsv))
