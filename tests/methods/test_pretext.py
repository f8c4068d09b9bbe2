"""Pretext tasks: labels match the views they were made from, and each loss decreases on small images."""
import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab

from sslpipe.augment.grids import CENTRE, NEIGHBOURS, hamming_distances, jigsaw_permutations
from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.data.sources import SOURCES
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.methods.parts.colour import ABQuantizer
from sslpipe.methods.pretext import rebalancing_weights
from tests.conftest import assert_decreases

TINY = BackboneConfig(width=8, depth=2, code_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


def make(name, channels=1, res=16, backbone=TINY, **params):
    torch.manual_seed(0)
    cls = METHODS.get(name)
    return cls(build(cls.Params, params, f"methods.{name}"), MethodContext(channels, res, backbone))


def shapes(n=32, res=16, channels=1, seed=0):
    """Images in [0, 1]: a square, a plus or a diagonal bar of random size and place (random colour if 3 channels)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, channels, res, res), np.float32)
    for i in range(n):
        s = int(rng.integers(4, res // 2))
        r, c = rng.integers(0, res - s, size=2)
        colour = rng.uniform(0.2, 1.0, size=(channels, 1)) if channels == 3 else np.ones((1, 1))
        m = np.zeros((res, res), bool)
        if i % 3 == 0:
            m[r:r + s, c:c + s] = True
        elif i % 3 == 1:
            m[r + s // 2, c:c + s] = m[r:r + s, c + s // 2] = True
        else:
            m[np.arange(r, r + s), np.arange(c, c + s)] = True
        x[i][:, m] = colour
    return torch.from_numpy(x)


def ramps(n=32, res=16, seed=0):
    """Brightness growing down and to the right at random rates, plus noise: tile positions are predictable."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.linspace(0, 1, res)
    a, b = torch.rand(2, n, 1, 1, 1, generator=g) * 0.5 + 0.25
    x = a * coords.view(1, 1, res, 1) + b * coords.view(1, 1, 1, res)
    return (x + 0.05 * torch.randn(n, 1, res, res, generator=g)).clamp(0, 1)


def cell_image(res=32, channels=1, batch=2):
    """Every 3x3 grid cell filled with its own row-major index (the leftover border is -1)."""
    x = -torch.ones(batch, channels, res, res)
    cell, border = res // 3, (res - 3 * (res // 3)) // 2
    for k in range(9):
        r, c = border + (k // 3) * cell, border + (k % 3) * cell
        x[:, :, r:r + cell, c:c + cell] = k
    return x


def train_losses(method, x, steps=40, lr=3e-3):
    torch.manual_seed(1)
    opt = torch.optim.Adam(method.optim_parameters(), lr=lr)
    losses = []
    for step in range(steps):
        loss, logs = method.loss(x)
        assert all(isinstance(v, float) for v in logs.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_step_end(step)
        losses.append(loss.item())
    return np.array(losses)


# --- exemplar -------------------------------------------------------------------------
def test_exemplar_surrogate_classes_are_the_first_images_seen():
    m = make("exemplar", classes=20)
    a, b = shapes(12, seed=1), shapes(12, seed=2)
    m.surrogates(a)
    assert int(m.filled) == 12 and torch.equal(m.seeds[:12], a)
    m.surrogates(b)
    assert int(m.filled) == 20 and torch.equal(m.seeds[12:], b[:8])
    before = m.seeds.clone()
    m.surrogates(shapes(12, seed=3))
    assert torch.equal(m.seeds, before)  # fixed once full
    assert "seeds" in m.state_dict() and "filled" in m.state_dict()


def test_exemplar_views_are_distortions_of_their_seed():
    still = dict(translate=0.0, degrees=0.0, scale=[1.0, 1.0], brightness=0.0, contrast=0.0)
    m = make("exemplar", classes=10, **still)
    x = shapes(10)
    views, labels = m.surrogates(x)
    assert labels.max() < 10 and torch.allclose(views, x[labels], atol=1e-5)
    m = make("exemplar", classes=10)
    views, labels = m.surrogates(x)
    assert not torch.allclose(views, x[labels], atol=1e-2)


def test_exemplar_masks_unseen_classes_and_learns():
    m = make("exemplar", classes=64)
    x = shapes(16)
    loss, logs = m.loss(x)
    assert logs["classes"] == 16.0 and loss.item() < np.log(64)  # a 16-way softmax at the start
    assert_decreases(train_losses(m, shapes(64, seed=4), steps=60))


# --- relative patch ---------------------------------------------------------------------
@pytest.mark.parametrize("jitter", [0.0, 0.1])
def test_relative_patch_labels_match_the_geometry(jitter):
    m = make("relative_patch", res=32, jitter=jitter, color_guard="none")
    torch.manual_seed(0)
    tiles, labels = m.pairs(cell_image(batch=200))
    assert tiles.shape == (200, 2, 1, 7, 7)
    assert (tiles[:, 0] == CENTRE).all()  # jittered tiles never leave their cell
    expected = torch.tensor(NEIGHBOURS)[labels].float()
    assert torch.equal(tiles[:, 1].flatten(1).amin(1), expected) and torch.equal(tiles[:, 1].flatten(1).amax(1), expected)
    assert set(labels.tolist()) == set(range(8))


def test_relative_patch_guards_colour_tiles():
    m = make("relative_patch", channels=3, res=32, color_guard="grey")
    tiles, _ = m.pairs(torch.rand(4, 3, 32, 32))
    assert torch.allclose(tiles[:, :, 0], tiles[:, :, 1]) and torch.allclose(tiles[:, :, 1], tiles[:, :, 2])


def test_relative_patch_learns():
    m = make("relative_patch", res=16)
    assert_decreases(train_losses(m, ramps(32), steps=40), factor=0.8)


def test_tile_representation_is_the_mean_code_of_the_centred_tiles():
    m = make("relative_patch", res=32).eval()
    x = cell_image(batch=2) / 8
    with torch.no_grad():
        z = m.encode(x)
        constant_tiles = torch.stack([torch.full((1, 32, 32), k / 8) for k in range(9)])
        assert torch.allclose(z, m.encoder(constant_tiles).mean(0).expand(2, -1), atol=1e-5)
        whole = make("relative_patch", res=32, represent="image").eval()
        assert torch.equal(whole.encode(x), whole.encoder(x))


# --- jigsaw -----------------------------------------------------------------------------
def test_jigsaw_tiles_follow_the_labelled_permutation():
    m = make("jigsaw", res=32, permutations=30, color_guard="none")
    assert m.perms.shape == (30, 9) and torch.equal(m.perms, jigsaw_permutations(30))
    d = hamming_distances(m.perms).fill_diagonal_(9)
    assert d.min() >= 7  # what the greedy achieves for 30 permutations of 9 tiles
    tiles, labels = m.puzzles(cell_image(batch=64))
    assert tiles.shape == (64, 9, 1, 7, 7)
    shown = tiles.flatten(2).amax(2)
    assert torch.equal(shown, m.perms[labels].float()) and torch.equal(tiles.flatten(2).amin(2), shown)


def test_jigsaw_refuses_impossible_settings():
    from sslpipe.core.errors import ConfigError

    with pytest.raises(ConfigError, match="jigsaw.jitter"):
        build(METHODS.get("jigsaw").Params, {"tile": 0.9, "jitter": 0.1}, "methods.jigsaw")


def test_jigsaw_learns():
    m = make("jigsaw", res=16, permutations=10)
    assert_decreases(train_losses(m, ramps(16), steps=40), factor=0.8)


# --- colorization ---------------------------------------------------------------------
def test_ab_quantization_round_trips():
    q = ABQuantizer(10.0)
    assert 250 <= q.bins <= 320  # in-gamut bins of step 10 (Zhang et al. count 313 with their conversion)
    k = torch.arange(q.bins).view(1, 1, -1)
    assert torch.equal(q.quantize(q.dequantize(k)), k)
    ab = rgb_to_lab(torch.rand(1, 3, 100, 100, generator=torch.Generator().manual_seed(0)))[:, 1:]
    err = (q.dequantize(q.quantize(ab)) - ab).abs().amax(1)
    # nearly every sRGB colour lies in its own bin; the rest in slivers of bins the RGB
    # lattice missed, mapped to an adjacent bin
    assert (err <= 5.0 + 1e-4).float().mean() > 0.999 and err.max() <= 15.0


def test_rebalancing_weights():
    prior = torch.tensor([0.7, 0.2, 0.1, 0.0])
    w = rebalancing_weights(prior, 0.5)
    assert torch.isclose((prior * w).sum(), torch.tensor(1.0))
    assert (w[1:] > w[:-1]).all()  # rarer colours weigh more
    assert torch.allclose(rebalancing_weights(prior, 1.0), torch.ones(4))
    expected = 1 / (0.5 * prior + 0.5 / 4)
    assert torch.allclose(w, expected / (prior * expected).sum())


def test_colorization_needs_colour_and_learns():
    cls = METHODS.get("colorization")
    assert cls.needs_color
    grey_source = SOURCES.get("toy")
    assert "colour" in cls.incompatible(grey_source, grey_source.Params())
    m = make("colorization", channels=3, res=16)
    x = shapes(16, channels=3)
    assert m.encode(x).shape == (16, 8)
    # the representation sees lightness only: images with equal L have equal codes
    m.eval()
    grey = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    assert torch.allclose(m.encode(grey), m.encoder(rgb_to_lab(grey)[:, :1] / 100), atol=1e-5)
    m.train()
    assert_decreases(train_losses(m, x, steps=40))
    m = make("colorization", channels=3, res=16, target="regression")
    assert_decreases(train_losses(m, x, steps=40), factor=0.7)


# --- rotation -------------------------------------------------------------------------
def test_rotation_learns():
    assert_decreases(train_losses(make("rotation"), shapes(32), steps=40))


def test_pretext_methods_are_registered_with_defaults():
    for name in ("rotation", "exemplar", "relative_patch", "jigsaw", "colorization"):
        cls = METHODS.get(name)
        p = build(cls.Params, {}, f"methods.{name}")
        assert cls.family == "pretext" and p.steps and p.steps > 0
        ch = 3 if cls.needs_color else 1
        m = make(name, channels=ch, res=32)
        assert not m.has_decoder
        assert isinstance(m.views(shapes(4, res=32, channels=ch)), torch.Tensor)  # what `sslpipe bench` times
