"""Moving sprites / digits: deterministic shards, the dynamics, exact masks, the reversible control and the textured variant."""
import hashlib

import numpy as np
import pytest
from scipy.stats import ks_2samp

from sslpipe.data.loader import load_arrays, train_batches
from sslpipe.data.movingsprites import GLYPH, SHAPE, X, Y, MovingSprites, direction_bin, reflect, simulate
from sslpipe.data.shards import read_manifest, write_shards
from sslpipe.data.sources import SOURCES
from sslpipe.core.errors import ConfigError
from sslpipe.core.schema import build

SMALL = dict(n_train=64, n_val=8, n_test=16, chunk_size=8, shard_chunks=3)


def source(name="movingsprites", seed=0, **kw):
    cls = SOURCES.get(name)
    return cls(build(cls.Params, {**SMALL, **kw}, f"data.{name}"), seed)


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_same_params_give_byte_identical_shards_that_round_trip(tmp_path):
    src = source(color=True)
    write_shards(src, tmp_path / "a", "movingsprites", log=lambda *_: None)
    write_shards(source(color=True), tmp_path / "b", "movingsprites", log=lambda *_: None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    m = read_manifest(tmp_path / "a")
    assert m["frames"] == 8 and (m["info"]["channels"], m["info"]["resolution"], m["info"]["frames"]) == (3, 32, 8)
    assert m["arrays"]["masks"] == {"dtype": "uint8", "shape": [8, 32, 32]} and m["arrays"]["factors"]["shape"] == [8, 2, 7]
    ref = src.split("test")
    got = load_arrays(tmp_path / "a", m, "test", ["images", "targets", "masks", "factors", "frame_targets"])
    assert np.array_equal(got["images"], ref.images) and np.array_equal(got["masks"], ref.arrays["masks"])
    assert np.array_equal(got["factors"], ref.arrays["factors"], equal_nan=True) and np.array_equal(got["targets"], ref.targets)
    assert not np.array_equal(source(seed=1).split("test").images, source(seed=0).split("test").images)


def test_frame_stream_holds_every_frame_once_per_epoch(tmp_path):
    src = source()
    write_shards(src, tmp_path / "s", "movingsprites", log=lambda *_: None)
    m = read_manifest(tmp_path / "s")
    it = train_batches(tmp_path / "s", m, 64, 2, seed=0, frames=True)
    epoch = np.concatenate([next(it) for _ in range(8)])  # 64 clips x 8 frames
    assert epoch.shape == (512, 1, 32, 32)
    frames = src.split("train").images.reshape(-1, 1, 32, 32)
    assert sorted(x.tobytes() for x in epoch) == sorted(x.tobytes() for x in frames)
    clips = next(train_batches(tmp_path / "s", m, 16, 2, seed=0))
    assert clips.shape == (16, 8, 1, 32, 32)


def _sim(n=400, seed=0, **kw):
    src = source(**kw)
    return src.params, simulate(n, src.params, np.random.default_rng(seed), src.glyph_pool("train"), src.glyph_classes())


@pytest.mark.parametrize("irreversible", [False, True])
def test_positions_follow_the_velocity_and_reflect_at_the_walls(irreversible):
    p, tr = _sim(irreversible=irreversible, max_objects=1)
    pos, vel = tr.factors[:, :, 0, [X, Y]].astype(np.float64), tr.velocity[:, :, 0].astype(np.float64)
    e = p.restitution if irreversible else 1.0
    g = p.gravity if irreversible else 0.0
    keep = 1 - p.friction if irreversible else 1.0
    bounced = 0
    for t in range(p.frames - 1):  # a loop reference of one step for every clip
        v = vel[:, t] + np.array([0.0, g])
        raw = pos[:, t] + v
        for i in range(len(raw)):
            for a in range(2):
                q, w = raw[i, a], v[i, a]
                if q > 1:
                    q, w, bounced = 1 - e * (q - 1), -e * w, bounced + 1
                elif q < 0:
                    q, w, bounced = -e * q, -e * w, bounced + 1
                assert 0 <= q <= 1
                assert np.isclose(pos[i, t + 1, a], q, atol=1e-5) and np.isclose(vel[i, t + 1, a], w * keep, atol=1e-5)
    assert bounced > 50  # the walls are reached
    speed = np.linalg.norm(vel, axis=-1)
    if not irreversible:  # elastic: the speed never changes
        assert np.allclose(speed, speed[:, :1], atol=1e-5)


def test_reflect_keeps_positions_inside():
    p, v = reflect(np.array([1.2, -0.1, 0.5]), np.array([0.3, -0.2, 0.1]), 0.5)
    assert np.allclose(p, [0.9, 0.05, 0.5]) and np.allclose(v, [-0.15, 0.1, 0.1])


def _displacements(factors):
    """Speeds read from the stored positions: [N, T - 1] per first object (frame differences, no velocity)."""
    xy = factors[:, :, 0, [X, Y]]
    return np.linalg.norm(np.diff(xy, axis=1), axis=-1)


def test_without_irreversible_dynamics_a_clip_and_its_reversal_are_equally_likely():
    rev = source(irreversible=False, n_test=3000).split("test").arrays["factors"]
    d = _displacements(rev)
    assert ks_2samp(d[:, 0], d[:, -1]).pvalue > 0.01  # reversed clips start with the speeds forward clips end with
    irr = _displacements(source(n_test=3000).split("test").arrays["factors"])
    assert ks_2samp(irr[:, 0], irr[:, -1]).pvalue < 1e-6  # friction: the arrow of time is visible
    assert np.median(irr[:, -1]) < 0.7 * np.median(irr[:, 0])


@pytest.mark.parametrize("kw", [dict(), dict(color=True, max_objects=3), dict(fade_in=3, max_objects=3), dict(color=True, texture=0.8, max_objects=3)])
def test_masks_cover_exactly_the_rendered_pixels_of_each_object(kw):
    src = source(**kw)
    s = src.split("val")
    f, masks, frames = s.arrays["factors"], s.arrays["masks"], s.images.astype(np.int16)
    bg = s.targets[:, -1] if src.params.color else None
    background, _ = src.render_clips(np.full_like(f[:, :, :1], np.nan), bg)
    drawn = (frames != background.astype(np.int16)).any(axis=2)  # [N, T, R, R]
    assert np.array_equal(drawn, masks > 0)
    for k in range(f.shape[2]):  # each object alone covers its own pixels, minus those of the objects drawn over it
        alone = np.full_like(f, np.nan)
        alone[:, :, k] = f[:, :, k]
        img, own = src.render_clips(alone, bg)
        assert np.array_equal(own > 0, (img.astype(np.int16) != background).any(axis=2))
        later = np.zeros_like(own, bool)
        for j in range(k + 1, f.shape[2]):
            other = np.full_like(f, np.nan)
            other[:, :, j] = f[:, :, j]
            later |= src.render_clips(other, bg)[1] > 0
        assert np.array_equal(masks == k + 1, (own > 0) & ~later)
    present = ~np.isnan(f[:, 0, :, SHAPE])
    assert all(set(np.unique(masks[i])) <= {0, *(np.flatnonzero(present[i]) + 1)} for i in range(len(f)))


def test_labels_and_frame_targets_follow_the_factors():
    src = source(color=True)
    s = src.split("train")
    f, ft = s.arrays["factors"], s.arrays["frame_targets"]
    info = src.info()
    assert info.targets == ["shape", "direction", "objects", "hue", "bg_hue"] and info.frames == 8
    assert np.array_equal(s.targets[:, 0], f[:, 0, 0, SHAPE].astype(int))
    assert np.array_equal(s.targets[:, 2] + 1, (~np.isnan(f[:, 0, :, SHAPE])).sum(1))
    assert np.array_equal(ft[..., info.frame_targets.index("bg_hue")], np.repeat(s.targets[:, -1:], 8, 1))
    assert (ft < np.array(info.frame_factor_sizes)).all() and (ft >= 0).all()
    x_bin = ft[..., info.frame_targets.index("pos_x")]
    assert np.array_equal(x_bin, np.minimum((f[:, :, 0, X] * 8).astype(int), 7))
    assert list(direction_bin(np.array([[1, 0], [0, -1], [-1, 0], [0, 1], [1, -1.0]]))) == [0, 2, 4, 6, 1]  # y grows down


def test_render_from_frame_factor_indices():
    src = source()
    base = np.array([0, 3, 0, 4, 4])

    def centroid(**kw):
        f = base.copy()
        for k, v in kw.items():
            f[src.info().frame_factors.index(k)] = v
        ys, xs = np.nonzero(src.render(f[None])[0, 0])
        return xs.mean(), ys.mean(), len(xs)

    xs = [centroid(pos_x=i)[0] for i in range(8)]
    ys = [centroid(pos_y=i)[1] for i in range(8)]
    assert all(a < b for a, b in zip(xs, xs[1:])) and all(a < b for a, b in zip(ys, ys[1:]))
    assert centroid(scale=0)[2] < centroid(scale=3)[2]
    rng = np.random.default_rng(0)
    frames = src.render(src.sample_factors(50, rng))
    assert frames.shape == (50, 1, 32, 32) and (frames.reshape(50, -1).max(1) == 255).all()


def test_moving_digits_draw_disjoint_handwriting_per_split():
    src = source("movingdigits", n_test=64)
    tr, te = src.split("train"), src.split("test")
    g_tr, g_te = (set(s.arrays["factors"][..., GLYPH][~np.isnan(s.arrays["factors"][..., GLYPH])].astype(int)) for s in (tr, te))
    assert g_tr and g_te and not g_tr & g_te
    assert src.info().targets[0] == "digit" and set(tr.targets[:, 0]) <= set(range(10)) and len(set(tr.targets[:, 0])) > 5
    drawn = (tr.images[:, :, 0] > 0)
    assert np.array_equal(drawn, tr.arrays["masks"] > 0)


def test_bad_params_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="data.movingsprites.speed"):
        build(SOURCES.get("movingsprites").Params, {"speed": 0.29, "gravity": 0.05}, "data.movingsprites")
    with pytest.raises(ConfigError, match="scale_min"):
        build(SOURCES.get("movingsprites").Params, {"scale_min": 0.9, "scale_max": 0.5}, "data.movingsprites")
    assert MovingSprites.frames(build(SOURCES.get("movingsprites").Params, {"frames": 5}, "d")) == 5


def test_frame_view_samples_and_renders_frame_factors():
    src = source(color=True)
    view = src.frame_source()
    info = view.info()
    assert info.factors == src.info().frame_factors and info.factor_sizes == src.info().frame_factor_sizes
    f = view.sample_factors(6, np.random.default_rng(0))
    assert f.shape == (6, len(info.factor_sizes)) and (f < np.array(info.factor_sizes)).all()
    assert view.render(f).shape == (6, 3, 32, 32)


def test_texture_only_shades_the_flat_clips():
    flat, tex = source(color=True).split("val"), source(color=True, texture=0.8).split("val")
    assert np.array_equal(flat.arrays["masks"], tex.arrays["masks"]) and np.array_equal(flat.targets, tex.targets)
    assert np.array_equal(flat.arrays["factors"], tex.arrays["factors"], equal_nan=True)
    a, b = flat.images.astype(np.int16), tex.images.astype(np.int16)
    assert (b <= a).all() and (b >= np.floor(0.2 * a) - 1).all()  # shade in [1 - texture, 1]
    assert (b < a).mean() > 0.5  # stripes cover objects and background
    assert source("movingsprites_textured").params.texture == 0.8 and source("movingsprites_textured").params.color


def test_stripes_move_with_the_object_and_the_background_stays():
    src = source(color=True, texture=0.8, size=0.25)
    half, margin = src.geometry()
    f = np.full((1, 2, 1, 7), np.nan, np.float32)
    f[0, :, 0] = [0, 1.0, 0.3, 0.5, 0.5, 4, 0]  # a square at the centre, turned
    f[0, 1, 0, X] += 3 / (src.params.resolution - 2 * margin)  # three pixels to the right
    frames, masks = src.render_clips(f, np.array([7]), np.ones(2, np.float32))
    a, b = frames[0, 0].astype(np.int16), frames[0, 1].astype(np.int16)
    inside = (masks[0, 0] > 0)[:, :-3] & (masks[0, 1] > 0)[:, 3:]
    assert inside.sum() > 50
    assert np.abs(b[:, :, 3:] - a[:, :, :-3])[:, inside].max() <= 1  # the object's pattern moved with it
    assert np.unique(a[:, masks[0, 0] > 0], axis=1).shape[1] > 5  # and it is a pattern, not one colour
    bg = (masks[0, 0] == 0) & (masks[0, 1] == 0)
    assert np.array_equal(a[:, bg], b[:, bg]) and np.unique(a[:, bg], axis=1).shape[1] > 5  # static striped background


def test_raw_pixels_lose_the_objects_on_textured_clips():
    """What the textured variant is for: propagating frame 0's masks with raw pixels works on flat colours, not on stripes."""
    from sslpipe.evaluate.propagation import PropagationParams, pixel_features, propagation_j

    def j(**kw):
        s = source(color=True, n_test=48, **kw).split("test")
        return propagation_j(pixel_features(4), s.images, s.arrays["masks"], PropagationParams(), normalize=False)

    flat, textured = j(), j(texture=0.8)
    assert flat > 0.25 and textured < flat - 0.08, (flat, textured)
