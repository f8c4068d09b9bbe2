"""Video methods: tuples and pairs are what the papers state, inputs are frames only, and each loss learns."""
import inspect

import numpy as np
import pytest
import torch

from sslpipe.augment.video import foreground, order_tuples, track_patches
from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.data.sources import SOURCES
from sslpipe.methods.base import METHODS, MethodContext
from tests.conftest import assert_decreases

TINY = BackboneConfig(width=8, depth=2, code_dim=8)
VIDEO = ("frame_order", "arrow_of_time", "temporal_triplet", "video_colorization", "cycle_walk")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


def make(name, channels=1, res=16, **params):
    torch.manual_seed(0)
    cls = METHODS.get(name)
    return cls(build(cls.Params, params, f"methods.{name}"), MethodContext(channels, res, TINY))


@pytest.fixture(scope="module")
def sprites():
    cls = SOURCES.get("movingsprites")
    s = cls(build(cls.Params, {"n_val": 48, "resolution": 16, "color": True, "max_objects": 2}, "d"), 0).split("val")
    return torch.from_numpy(s.images).float() / 255, s.arrays["masks"]


def train_losses(method, x, steps=30, lr=3e-3):
    torch.manual_seed(1)
    opt = torch.optim.Adam(method.optim_parameters(), lr=lr)
    out = []
    for _ in range(steps):
        loss, logs = method.loss(x)
        assert all(isinstance(v, float) for v in logs.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return np.array(out)


# --- frame order -------------------------------------------------------------------------
def test_order_tuples_share_endpoints_and_label_the_middle_frame():
    t = 8
    clips = (torch.arange(t).float() / t).view(1, t, 1, 1, 1).expand(2000, t, 1, 2, 2)  # frame k shows k / T
    idx, labels, valid = order_tuples(clips, negatives=0.3, generator=torch.Generator().manual_seed(0))
    assert valid.all() and idx.shape == (2000, 3)
    first, mid, last = idx.unbind(1)
    lo, hi = torch.minimum(first, last), torch.maximum(first, last)
    between = (lo < mid) & (mid < hi)
    assert torch.equal(between, labels.bool())  # positives (b, c, d) and only they are in order
    assert (hi - lo >= 2).all()  # b and d always have c between them
    neg = ~labels.bool()
    assert ((mid[neg] < lo[neg]) | (mid[neg] > hi[neg])).all()  # (b, a, d) or (b, e, d)
    assert abs(neg.float().mean().item() - 0.3) < 0.04
    reversed_pos = labels.bool() & (first > last)
    assert 0.4 < reversed_pos.sum().item() / labels.sum().item() < 0.6  # a reversed positive stays positive
    assert ((mid[neg] < lo[neg]).float().mean() - 0.5).abs() < 0.06  # a and e equally often


def test_order_tuples_prefer_motion_and_flag_static_clips():
    clips = torch.zeros(4, 8, 1, 4, 4)
    clips[:2, 5:] = 1.0  # a change between frames 4 and 5 only
    idx, _, valid = order_tuples(clips, motion_threshold=0.01, candidates=16, generator=torch.Generator().manual_seed(0))
    assert valid.tolist() == [True, True, False, False]


def test_frame_order_learns_on_clips():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(8).float().view(1, 8, 1, 1, 1) / 8
    x = (t * torch.rand(64, 1, 1, 1, 1, generator=g) + 0.5 * torch.rand(64, 1, 1, 16, 16, generator=g)).clamp(0, 1)
    m = make("frame_order", motion_threshold=0.0)  # clips brightening at random rates over random textures
    assert_decreases(train_losses(m, x.expand(64, 8, 1, 16, 16).contiguous(), steps=60), factor=0.9, window=6)


# --- arrow of time -------------------------------------------------------------------------
def test_arrow_of_time_shows_both_directions_and_skips_static_clips(sprites):
    x, _ = sprites
    m = make("arrow_of_time", channels=3)
    still = x[:, :1].expand_as(x).clone()
    _, logs = m.loss(torch.cat([x[:8], still[:8]]))
    assert logs["used"] == 0.5
    logits_fwd, logits_rev = m.clip_logits(x[:4]), m.clip_logits(x[:4].flip(1))
    assert not torch.allclose(logits_fwd, logits_rev)  # the head sees the order
    assert_decreases(train_losses(m, x, steps=40), factor=0.95, window=6)


# --- temporal triplet ----------------------------------------------------------------------
def test_temporal_triplet_gets_frames_only():
    for name in VIDEO:
        params = list(inspect.signature(METHODS.get(name).loss).parameters)
        assert params == ["self", "x"], (name, params)
    sig = inspect.signature(track_patches)
    assert list(sig.parameters)[0] == "x" and not {"masks", "factors"} & set(sig.parameters)


def test_the_tracker_follows_objects_it_found_in_the_frames(sprites):
    x, masks = sprites
    torch.manual_seed(0)
    start, c0, c1, valid = track_patches(x, gap=3, template=5, search=4.0)
    assert valid.float().mean() > 0.9
    hits_start, hits_end = [], []
    for i in np.flatnonzero(valid.numpy()):
        t = int(start[i])
        k = masks[i, t, c0[i, 0], c0[i, 1]]
        hits_start.append(k > 0)
        hits_end.append(k > 0 and masks[i, t + 3, c1[i, 0], c1[i, 1]] == k)
    assert np.mean(hits_start) > 0.95  # foreground found by frame differencing is an object
    assert np.mean(hits_end) > 0.7  # and three frames later the tracker is still on that object
    fg = foreground(x)
    assert (torch.from_numpy(masks > 0) | ~fg).float().mean() > 0.99  # moving pixels are object pixels


def test_temporal_triplet_learns(sprites):
    x, _ = sprites
    m = make("temporal_triplet", channels=3, template=5, search=4.0)
    a, p, valid = m.pairs(x)
    assert a.shape == (48, 3, 8, 8) and valid.any()
    assert_decreases(train_losses(m, x, steps=30), factor=0.9, window=6)


# --- colorization and random walk ---------------------------------------------------------
def test_video_colorization_colours_from_the_reference(sprites):
    x, _ = sprites
    m = make("video_colorization", channels=3, stride=2, views={"crop_scale": [1.0, 1.0], "flip_p": 0.0})
    assert m.backbone_input(x[:2, 0]).shape == (2, 1, 16, 16)  # the backbone sees lightness only
    tgt, ref, tc, rc = m.split(x[:4], target=3)
    assert tgt.shape == (4, 64, 32) and ref.shape == (4, 3 * 64, 32) and tc.shape == (4, 64)  # three reference frames
    assert not torch.allclose(tgt.norm(dim=-1), torch.ones(4, 64), atol=1e-3)  # raw dot products, as the paper
    from sslpipe.losses.video import colorization_loss

    def held_loss():  # the loss on a fixed target frame (training draws the target at random)
        with torch.no_grad():
            return colorization_loss(*m.split(x, 4)[:2], m.split(x, 4)[3], m.split(x, 4)[2], m.quantizer.bins)[0].item()

    before = held_loss()
    assert np.isfinite(train_losses(m, x, steps=40)).all()
    assert held_loss() < 0.9 * before
    pred, true = m.colorize(x[:8], target=4)
    assert pred.shape == true.shape == (8, 64)


def test_cycle_walk_learns(sprites):
    x, _ = sprites
    m = make("cycle_walk", channels=3, stride=2)
    assert_decreases(train_losses(m, x[:, :4], steps=30), factor=0.9, window=6)


# --- contract -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VIDEO)
def test_video_methods_encode_frames_and_refuse_still_images(name):
    m = make(name, channels=3)
    assert m.family == "video" and m.clips
    assert m.encode(torch.rand(5, 3, 16, 16)).shape == (5, 8)
    cls = METHODS.get(name)
    still, video = SOURCES.get("colorshapes"), SOURCES.get("movingsprites")
    assert "video dataset" in cls.incompatible(still, still.Params())
    assert cls.incompatible(video, build(video.Params, {"color": True}, "d")) is None
    if name == "video_colorization":
        assert "colour" in cls.incompatible(video, video.Params())
    if name == "frame_order":
        assert "at least 5 frames" in cls.incompatible(video, build(video.Params, {"frames": 4}, "d"))
