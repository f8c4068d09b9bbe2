import numpy as np

from sslpipe.data.dsprites import FACTOR_SIZES, render_native
from sslpipe.data.sources import SOURCES


def _centroid(img):
    ys, xs = np.nonzero(img[0])
    return xs.mean(), ys.mean()


def test_renderer_is_deterministic_and_splits_disjoint():
    cls = SOURCES.get("dsprites")
    p = cls.Params(n_train=500, n_val=50, n_test=200)
    a, b, c = cls(p, 0), cls(p, 0), cls(p, 1)
    assert np.array_equal(a.split("train").images, b.split("train").images)
    assert not np.array_equal(a.split("train").images, c.split("train").images)
    key = lambda f: {tuple(r) for r in f}  # noqa: E731
    tr, te = key(a.split("train").targets), key(a.split("test").targets)
    assert len(tr) == 500 and not tr & te


def test_factor_semantics():
    base = np.array([0, 5, 0, 16, 16])
    def img(**kw):  # noqa: E306
        f = base.copy()
        for k, v in kw.items():
            f[["shape", "scale", "orientation", "pos_x", "pos_y"].index(k)] = v
        return render_native(f[None])[0] > 0
    xs = [_centroid(img(pos_x=i))[0] for i in (0, 10, 20, 31)]
    assert all(a < b for a, b in zip(xs, xs[1:]))  # raising pos_x moves the sprite right
    ys = [_centroid(img(pos_y=i))[1] for i in (0, 10, 20, 31)]
    assert all(a < b for a, b in zip(ys, ys[1:]))  # raising pos_y moves it down the rows
    areas = [img(scale=i).sum() for i in range(6)]
    assert all(a < b for a, b in zip(areas, areas[1:]))  # raising scale grows the area
    shapes = [img(shape=i) for i in range(3)]
    assert all((shapes[i] != shapes[j]).sum() > 20 for i in range(3) for j in range(i))
    rotated = img(orientation=5)
    assert (rotated != shapes[0]).sum() > 20 and abs(int(rotated.sum()) - int(shapes[0].sum())) < 0.15 * shapes[0].sum()


def test_every_sprite_is_inside_the_frame():
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, s, 3000) for s in FACTOR_SIZES], 1)
    f[:, 1] = 5  # largest scale
    f[:1000, 3], f[1000:2000, 4] = 0, 31  # extreme positions
    im = render_native(f)[:, 0] > 0
    assert im.any(axis=(1, 2)).all()
    assert not (im[:, 0].any() or im[:, -1].any() or im[:, :, 0].any() or im[:, :, -1].any())
