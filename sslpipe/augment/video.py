"""Clip views: one random augmentation per clip, the same on every frame, batched on the device.

A video method's views must not change between the frames of a clip (a crop or a colour
jitter that differs per frame would itself be motion or change for the method to read).
Kornia's ``VideoSequential`` draws the parameters once per clip and applies them to every
frame of a [B, T, C, R, R] batch in one call.  The ops are those of
:class:`sslpipe.augment.ViewConfig` (a method's ``views`` section in params.yaml).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ViewConfig, view_ops, views_with
from .grids import extract_tiles

#: Default clip views: mild crops (small sprites must stay in view), flips and brightness /
#: contrast; no hue/saturation jitter or blur (the slowest ops on a CPU, and colour is the
#: target of video colorization).
ClipViews = views_with("ClipViews", crop_scale=[0.6, 1.0], saturation=0.0, hue=0.0, grayscale_p=0.0, blur_p=0.0)


def build_clip_views(cfg: ViewConfig, channels: int, resolution: int) -> nn.Module:
    """A Kornia pipeline over clips [B, T, C, R, R]: the same random view on every frame of a clip."""
    import kornia.augmentation as K

    return K.VideoSequential(*view_ops(cfg, channels, resolution), data_format="BTCHW", same_on_frame=True)


def no_views() -> ViewConfig:
    """Clip views that leave clips unchanged (for tests and ablations)."""
    return ClipViews(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], flip_p=0.0, jitter_p=0.0)


# --- inputs of the video pretext tasks: functions of the frames only ---------------------
def frame_motion(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between consecutive frames of clips [B, T, C, R, R]: [B, T - 1]."""
    return (x[:, 1:] - x[:, :-1]).abs().mean(dim=(2, 3, 4))


def order_tuples(x: torch.Tensor, negatives: float = 0.5, motion_threshold: float = 0.0, candidates: int = 4,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame-order tuples of Shuffle and Learn (Misra et al. 2016) from clips [B, T, C, R, R].

    Per clip, five frames a < b < c < d < e are drawn (the highest-motion of ``candidates``
    random draws: the paper samples from high-motion windows).  The positive tuple is
    (b, c, d); a negative, drawn with probability ``negatives``, is (b, a, d) or (b, e, d), so
    both share the endpoints b and d and only the order of the middle frame differs.  Each
    tuple is then reversed with probability 1/2 and keeps its label (order, not direction,
    is the label).  Returns frame indices [B, 3], labels [B] (1 = in order) and ``valid`` [B]:
    the window's motion (mean absolute difference of consecutive chosen frames) reaches
    ``motion_threshold``.
    """
    b, t = x.shape[:2]
    if t < 5:
        raise ValueError(f"frame order needs clips of at least 5 frames, got {t}")
    dev = x.device
    keys = torch.rand(b, candidates, t, generator=generator, device=dev)
    picks = keys.argsort(-1)[..., :5].sort(-1).values  # [B, K, 5] sorted frame indices
    frames = x[torch.arange(b, device=dev)[:, None, None], picks]  # [B, K, 5, C, R, R]
    motion = (frames[:, :, 1:] - frames[:, :, :-1]).abs().mean(dim=(3, 4, 5)).mean(-1)  # [B, K]
    best = motion.argmax(1)
    pick = picks[torch.arange(b, device=dev), best]  # [B, 5]: a, b, c, d, e
    valid = motion[torch.arange(b, device=dev), best] >= motion_threshold
    a, bb, c, d, e = pick.unbind(1)
    negative = torch.rand(b, generator=generator, device=dev) < negatives
    outer = torch.where(torch.rand(b, generator=generator, device=dev) < 0.5, a, e)
    middle = torch.where(negative, outer, c)
    idx = torch.stack([bb, middle, d], 1)
    flip = torch.rand(b, generator=generator, device=dev) < 0.5
    idx = torch.where(flip[:, None], idx.flip(1), idx)
    return idx, (~negative).float(), valid


def gather_frames(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Frames ``idx`` [B, K] of clips [B, T, C, R, R]: [B, K, C, R, R]."""
    return x[torch.arange(len(x), device=x.device)[:, None], idx]


def foreground(x: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Pixels of moving objects by differencing the frames against the static background [B, T, R, R].

    The background of a clip is its per-pixel median over time (objects move, the background
    does not).  Where a slow object covers a pixel for most of the clip that median is the
    object, and the frames in which it has left would light up as a ghost; so a pixel must
    also differ from the clip's median colour (the background covers most of every frame).
    "Differ" means by more than ``threshold``, summed over channels.
    """
    per_pixel = x.median(dim=1, keepdim=True).values
    overall = x.transpose(1, 2).flatten(2).median(dim=2).values[:, None, :, None, None]  # [B, 1, C, 1, 1]
    return ((x - per_pixel).abs().sum(2) > threshold) & ((x - overall).abs().sum(2) > threshold)


def _centred(x: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """Patches [B, C, size, size] of images [B, C, R, R] centred at ``centres`` [B, 2] (rows, cols), zero-padded."""
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad))
    return extract_tiles(padded, centres[:, None], size)[:, 0]


def track_patches(x: torch.Tensor, gap: int, template: int = 9, search: float = 6.0, threshold: float = 0.1,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Find a moving object and follow it ``gap`` frames, from the frames alone (Wang & Gupta 2015, Sec. 3.1).

    The paper tracks patches with motion (from SURF and optical flow) by a KCF tracker; here
    a pixel of a moving object is picked at random in frame t (:func:`foreground`) and
    followed frame by frame: its ``template`` x ``template`` neighbourhood is matched (least
    squared difference) against the foreground pixels of the next frame within ``search``
    pixels.  Returns the start frame [B], the centres at t and t + gap [B, 2] (row, col) and
    ``valid`` [B] (a moving pixel exists in frame t).
    """
    b, t_len, c, r, _ = x.shape
    dev = x.device
    fg = foreground(x, threshold)
    start = torch.randint(0, t_len - gap, (b,), generator=generator, device=dev)
    rows = torch.arange(b, device=dev)
    first = fg[rows, start].flatten(1).float()  # [B, R * R]
    valid = first.sum(1) > 0
    pos = torch.multinomial(first + (~valid).float()[:, None], 1, generator=generator).squeeze(1)
    centre = torch.stack([pos // r, pos % r], 1)
    start_centre = centre
    grid = torch.stack(torch.meshgrid(torch.arange(r, device=dev), torch.arange(r, device=dev), indexing="ij"), -1).reshape(-1, 2)
    for step in range(gap):
        cur, nxt = x[rows, start + step], x[rows, start + step + 1]
        tmpl = _centred(cur, centre, template).flatten(1)  # [B, C * t * t]
        pad = template // 2
        cands = F.unfold(F.pad(nxt, (pad, pad, pad, pad)), template)  # [B, C * t * t, R * R]
        ssd = (cands - tmpl[:, :, None]).pow(2).sum(1)  # [B, R * R]
        near = (grid[None].float() - centre[:, None].float()).norm(dim=-1) <= search
        allowed = near & fg[rows, start + step + 1].flatten(1)
        allowed = torch.where(allowed.any(1, keepdim=True), allowed, near)  # object lost: best match nearby
        best = ssd.masked_fill(~allowed, float("inf")).argmin(1)
        centre = torch.stack([best // r, best % r], 1)
    return start, start_centre, centre, valid
