r"""Label propagation: how well an encoder's features track objects through a clip.

The tracking evaluation of Vondrick et al. (2018) and Jabri et al. (2020): given the
instance masks of frame 0, labels are propagated frame by frame through the clip using
the affinities between per-location features of the frame and of its context (frame 0,
whose labels are given, and the ``context`` previous frames, whose labels were
predicted).  Each target location takes the ``topk`` most similar context locations
within ``radius`` grid cells, weights them by :math:`\mathrm{softmax}(s / \tau)` and averages
their label distributions.  Predictions are upsampled to the mask resolution and scored by
the region similarity J (mean IoU, Pont-Tuset et al. 2017) against the stored masks.
Propagating the true masks themselves (:func:`masks_clip_j`) shows how much of J the grid and the
settings leave to any features.

Features are compared by :math:`s_{ij} = -\tfrac12 \lVert f_i - f_j \rVert^2`, which for
L2-normalized features (``normalize=True``, the learned encoders) is the cosine similarity
minus 1 (the softmax is unchanged) and for raw pixels (``normalize=False``) the negative
squared distance.  Baselines on the same clips: copying frame 0's masks to every frame
(:func:`copy_first_masks`), and propagating with raw pixels (:func:`pixel_features`: each
grid cell's stride x stride pixels, so the pixels are compared at the encoder's grid).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.schema import check, non_negative, positive


@dataclass
class PropagationParams:
    """Label propagation settings (Jabri et al. 2020 propagate from frame 0 and the 20 previous frames, top-10)."""

    topk: int = check(10, positive, help="context locations each target location copies its label from.")
    temperature: float = check(0.05, positive, help="softmax temperature of the affinities (cosine units).")
    radius: float | None = check(3.0, positive, help="largest distance in grid cells to a context location (null: anywhere).")
    context: int = check(2, non_negative, help="previous frames in the context, besides frame 0.")
    stride: int = check(4, positive, help="the encoder's feature grid: R / stride cells per side (a power of 2 up to 2**backbone.depth).")
    clips: int = check(100, positive, help="test clips propagated.")


def one_hot_masks(masks: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Integer masks [..., H, W] -> one-hot float [..., K, H, W]."""
    return F.one_hot(masks.long(), n_labels).movedim(-1, -3).float()


def _grid_distances(h: int, w: int, device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1).float()
    return torch.cdist(pos, pos)  # [hw, hw]


def propagate(features: torch.Tensor, first: torch.Tensor, params: PropagationParams | None = None, normalize: bool = True) -> torch.Tensor:
    """Soft labels [T, K, H, W] of every frame from features [T, D, h, w] and frame 0's one-hot labels [K, H, W].

    Frame 0 keeps its given labels; frames 1.. are predicted in order.  Labels are
    area-averaged to the feature grid, propagated there, and upsampled (bilinear) to H x W.
    """
    params = params or PropagationParams()
    t_len, d, h, w = features.shape
    k, H, W = first.shape
    f = features.flatten(2).transpose(1, 2)  # [T, hw, D]
    if normalize:
        f = F.normalize(f, dim=-1)
    sq = (f * f).sum(-1)  # [T, hw]
    grid = F.adaptive_avg_pool2d(first[None], (h, w))[0].flatten(1).T if (h, w) != (H, W) else first.flatten(1).T  # [hw, K]
    labels = [grid]
    far = None
    if params.radius is not None:
        far = _grid_distances(h, w, features.device) > params.radius  # [hw, hw]
    for t in range(1, t_len):
        ctx = sorted({0, *range(max(0, t - params.context), t)})
        cf = torch.cat([f[c] for c in ctx])  # [m * hw, D]
        cl = torch.cat([labels[c] for c in ctx])  # [m * hw, K]
        sim = f[t] @ cf.T - 0.5 * sq[t][:, None] - 0.5 * torch.cat([sq[c] for c in ctx])[None, :]
        if far is not None:
            sim = sim.masked_fill(far.repeat(1, len(ctx)), float("-inf"))
        top = sim.topk(min(params.topk, sim.shape[1]), dim=1)
        weights = torch.softmax(top.values / params.temperature, dim=1)
        weights = torch.nan_to_num(weights)  # a location with no context within the radius gets no label mass
        labels.append(torch.einsum("nk,nkc->nc", weights, cl[top.indices]))
    out = torch.stack(labels).transpose(1, 2).reshape(t_len, k, h, w)
    if (h, w) != (H, W):
        out = F.interpolate(out, size=(H, W), mode="bilinear", align_corners=False)
    out[0] = first
    return out


def region_similarity(pred: np.ndarray, truth: np.ndarray) -> float:
    """J of one clip: mean over the objects of frame 0 of the mean IoU over frames 1..T-1 (pred, truth int [T, H, W]).

    A frame where an object is absent from both the prediction and the truth counts as IoU 1
    (the DAVIS convention); objects absent from frame 0 cannot be propagated and are not scored.
    """
    objects = [k for k in np.unique(truth[0]) if k != 0]
    scores = []
    for k in objects:
        p, g = pred[1:] == k, truth[1:] == k
        inter = (p & g).sum(axis=(1, 2))
        union = (p | g).sum(axis=(1, 2))
        scores.append(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())
    return float(np.mean(scores)) if scores else float("nan")


def propagate_masks(feature_fn, clips: np.ndarray, masks: np.ndarray, params: PropagationParams | None = None,
                    normalize: bool = True, n_labels: int | None = None) -> np.ndarray:
    """Predicted instance masks uint8 [N, T, R, R] of every clip from its frame-0 masks, with ``feature_fn``.

    ``feature_fn``: frames float [T, C, R, R] in [0, 1] -> features [T, D, h, w]; ``clips`` uint8
    [N, T, C, R, R]; ``masks`` uint8 [N, T, R, R] (0 = background, k = object k; only frame 0 is read).
    """
    params = params or PropagationParams()
    n_labels = int(masks.max()) + 1 if n_labels is None else n_labels
    out = np.zeros(masks.shape, np.uint8)
    with torch.no_grad():
        for i, (x, m) in enumerate(zip(clips, masks)):
            feats = feature_fn(torch.from_numpy(x).float().div_(255.0))
            soft = propagate(feats.float().cpu(), one_hot_masks(torch.from_numpy(m[0]), n_labels), params, normalize)
            out[i] = soft.argmax(1).numpy()
    return out


def clip_j(feature_fn, clips: np.ndarray, masks: np.ndarray, params: PropagationParams | None = None,
           normalize: bool = True, n_labels: int | None = None) -> np.ndarray:
    """J of every clip [N] (NaN: no object in frame 0) of label propagation with ``feature_fn`` (see :func:`propagate_masks`)."""
    pred = propagate_masks(feature_fn, clips, masks, params, normalize, n_labels)
    return np.array([region_similarity(p, m) for p, m in zip(pred, masks)])


def propagation_j(feature_fn, clips: np.ndarray, masks: np.ndarray, params: PropagationParams | None = None,
                  normalize: bool = True, n_labels: int | None = None) -> float:
    """Mean J over clips of label propagation with ``feature_fn`` (see :func:`propagate_masks`) against the stored masks."""
    return float(np.nanmean(clip_j(feature_fn, clips, masks, params, normalize, n_labels)))


def copy_clip_j(masks: np.ndarray) -> np.ndarray:
    """J of every clip [N] for the baseline that copies frame 0's masks to every frame."""
    return np.array([region_similarity(np.repeat(m[:1], len(m), 0), m) for m in masks])


def copy_first_masks(masks: np.ndarray) -> float:
    """J of the baseline that copies frame 0's masks to every frame (no tracking at all)."""
    return float(np.nanmean(copy_clip_j(masks)))


def masks_clip_j(masks: np.ndarray, params: PropagationParams | None = None, n_labels: int | None = None) -> np.ndarray:
    """J of every clip [N] when the features are the true masks of every frame (each grid cell's area
    fraction of every label, compared like raw pixels).

    A perfect object-identity cue at the same grid, radius, top-k and temperature: what is left of J
    below 1 is lost to the grid (cells are labelled, then upsampled to pixels) and to the settings,
    not to the features.  An encoder's ``propagation/j`` is read against it and against the pixels.
    """
    params = params or PropagationParams()
    n_labels = int(masks.max()) + 1 if n_labels is None else n_labels
    scores = []
    for m in masks:
        labels = one_hot_masks(torch.from_numpy(m), n_labels)  # [T, K, R, R]
        feats = F.avg_pool2d(labels, params.stride) if params.stride > 1 else labels
        soft = propagate(feats, labels[0], params, normalize=False)
        scores.append(region_similarity(soft.argmax(1).numpy(), m))
    return np.array(scores)


def pixel_features(stride: int):
    """Raw-pixel features: each grid cell's stride x stride pixels as one vector ([T, C * stride^2, R / stride, R / stride])."""
    return lambda frames: F.pixel_unshuffle(frames, stride) if stride > 1 else frames


def encoder_features(method, stride: int, device: torch.device | str = "cpu"):
    """A method's per-location backbone features at ``stride``, or None if its backbone has no spatial map."""
    spatial = getattr(method.encoder, "spatial", None)
    if spatial is None:
        return None

    def fn(frames: torch.Tensor) -> torch.Tensor:
        return spatial(method.backbone_input(frames.to(device)), stride)

    return fn


def mean_with_bootstrap(key: str, per_clip: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    """The mean J over clips with its bootstrap standard error and 95% interval (resampling clips)."""
    from .uncertainty import resample_counts, rng_for, summarize

    v = per_clip[np.isfinite(per_clip)]
    if not n_boot or len(v) < 2:
        return {key: float(v.mean()) if len(v) else float("nan")}
    w = resample_counts(len(v), n_boot, rng_for(seed, key))
    return summarize(key, float(v.mean()), w @ v / w.sum(1))


def embedding_features(method, device: torch.device | str = "cpu"):
    """A method's learned per-location embedding map (``location_map``: the head its loss matches across frames), or None."""
    if not hasattr(method, "location_map"):
        return None
    return lambda frames: method.location_map(frames.to(device))


def propagation_metrics(method, clips: np.ndarray, masks: np.ndarray, params: PropagationParams | None = None,
                        device: torch.device | str = "cpu", n_boot: int = 0, seed: int = 0) -> dict[str, float]:
    """``propagation/j`` of the method's encoder (absent if it has no spatial features) and the baselines' J:
    copying frame 0 (``j_copy``), raw pixels (``j_pixels``) and the true masks as features (``j_masks``).

    Methods that learn a per-location embedding for matching locations across frames
    (``location_map``: colorization's attention, the random walk's nodes) also get
    ``propagation/j_embedding``, label propagation with that embedding (at its own grid, and at
    the method's ``track_temperature`` if it has one: colorization's test-time temperature): the
    tracker Vondrick et al. (2018) evaluate; ``propagation/j`` stays the shared backbone's.

    ``n_boot`` > 0 adds each J's bootstrap uncertainty over the clips (``/se``, ``/ci_low``, ``/ci_high``).
    """
    params = params or PropagationParams()
    n_labels = int(masks.max()) + 1
    per_clip = {
        "propagation/j_copy": copy_clip_j(masks),
        "propagation/j_pixels": clip_j(pixel_features(params.stride), clips, masks, params, normalize=False, n_labels=n_labels),
        "propagation/j_masks": masks_clip_j(masks, params, n_labels),
    }
    fn = encoder_features(method, params.stride, device)
    if fn is not None:
        was = method.training
        method.eval()
        per_clip["propagation/j"] = clip_j(fn, clips, masks, params, n_labels=n_labels)
        emb = embedding_features(method, device)
        if emb is not None:
            own = getattr(method, "track_temperature", None)  # a method's own test-time temperature (colorization: 0.01)
            tracked = dataclasses.replace(params, temperature=own) if own else params
            per_clip["propagation/j_embedding"] = clip_j(emb, clips, masks, tracked, n_labels=n_labels)
        method.train(was)
    return {k: v for key, js in per_clip.items() for k, v in mean_with_bootstrap(key, js, n_boot, seed).items()}
