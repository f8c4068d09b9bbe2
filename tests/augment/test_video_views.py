"""Clip views: one augmentation per clip, identical on all of its frames."""
import torch

from sslpipe.augment.video import ClipViews, build_clip_views, no_views


def test_every_frame_of_a_clip_gets_the_same_augmentation():
    torch.manual_seed(0)
    views = build_clip_views(ClipViews(jitter_p=1.0, flip_p=0.5), 3, 16)
    frame = torch.rand(12, 1, 3, 16, 16)
    out = views(frame.repeat(1, 5, 1, 1, 1))
    assert out.shape == (12, 5, 3, 16, 16)
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)  # same input frames -> same output frames
    again = views(frame[:1].repeat(12, 2, 1, 1, 1))  # one clip, twelve draws: the draws differ between clips
    assert len({tuple(c[0].flatten()[:50].tolist()) for c in again.round(decimals=4)}) > 1


def test_geometry_is_shared_across_frames_with_different_content():
    torch.manual_seed(1)
    views = build_clip_views(ClipViews(jitter_p=0.0), 1, 16)
    base = torch.rand(8, 1, 1, 16, 16)
    scale = torch.linspace(0.25, 1.0, 4).view(1, 4, 1, 1, 1)
    out = views(base * scale)  # frame t is frame 0 scaled: a shared crop/flip keeps that relation
    assert torch.allclose(out, out[:, -1:] * scale, atol=1e-5)
    assert not torch.allclose(out[:, -1], base[:, 0], atol=1e-3)  # something was applied


def test_no_views_is_the_identity():
    x = torch.rand(3, 4, 1, 16, 16)
    assert torch.allclose(build_clip_views(no_views(), 1, 16)(x), x, atol=1e-5)
