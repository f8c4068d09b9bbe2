"""Video self-supervision: objectives on clips, a per-frame encoder as the representation.

Every method here trains on clips [B, T, C, R, R] in [0, 1] of a video dataset (``clips =
True``), builds its views with :mod:`sslpipe.augment.video` (one augmentation per clip,
the same on every frame), and is evaluated through the shared per-frame backbone
(``encode`` on images [B, C, R, R]).  Heads, trackers and colour quantizers only serve the
task.  Nothing here reads a dataset's masks or factors: the inputs are frames only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..augment.grids import extract_tiles, resize_tiles
from ..augment.video import ClipViews, build_clip_views, frame_motion, gather_frames, order_tuples, track_patches
from ..core.schema import check, in_range, non_negative, positive
from ..losses.video import colorization_loss, cycle_walk_loss, temporal_triplet_loss
from ..models.heads import mlp
from .base import METHODS, Method, MethodParams
from .parts.colour import ABQuantizer
from .pretext import rebalancing_weights


def video_steps(n: int):
    return check(n, non_negative, help="training steps of this method (overrides train.steps); each default pretrain takes under 45 s on 2 CPU cores at the default size (measured in docs/video.md).")


@dataclass
class VideoParams(MethodParams):
    batch_size: int | None = check(32, positive, help="clips per step (x frames through the backbone); overrides train.batch_size.")
    views: ClipViews = field(default_factory=ClipViews)


class VideoMethod(Method):
    """Shared by the video methods: clip views, per-frame codes, and the dataset check."""

    family = "video"
    modality = "video"
    clips = True
    #: fewest frames per clip the task needs
    min_frames = 2

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.augment = build_clip_views(params.views, ctx.channels, ctx.resolution)

    @classmethod
    def incompatible(cls, source_cls, source_params):
        if getattr(source_cls, "modality", "image") != "video":
            return "it trains on clips and this dataset has none; use a video dataset (movingsprites, movingdigits)."
        problem = super().incompatible(source_cls, source_params)
        if problem:
            return problem
        frames = source_cls.frames(source_params)
        if frames < cls.min_frames:
            return f"it needs clips of at least {cls.min_frames} frames and this dataset has {frames}; raise data.<dataset>.frames."
        return None

    def views(self, x):
        return self.augment(x)

    def frame_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame codes [B, T, D] of clips [B, T, C, R, R]."""
        b, t = x.shape[:2]
        return self.encoder(self.backbone_input(x.flatten(0, 1))).view(b, t, -1)


def binary(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted binary cross-entropy and the accuracy over the weighted examples."""
    loss = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weight).sum() / weight.sum().clamp(min=1)
    with torch.no_grad():
        acc = (((logits > 0).float() == labels).float() * weight).sum() / weight.sum().clamp(min=1)
    return loss, {"accuracy": acc.item(), "used": weight.mean().item()}


# --- Shuffle and Learn ------------------------------------------------------------------
@METHODS.register("frame_order")
class FrameOrder(VideoMethod):
    """Shuffle and Learn (Misra et al. 2016): is a tuple of three frames in temporal order?

    Tuples come from :func:`sslpipe.augment.video.order_tuples` (positives (b, c, d),
    negatives (b, a, d) or (b, e, d) with the same endpoints, either direction).  The
    shared frame encoder codes each frame; a classifier on the three concatenated codes
    (the paper's triplet Siamese network) predicts in order / not in order.
    """

    min_frames = 5

    @dataclass
    class Params(VideoParams):
        steps: int | None = video_steps(600)
        batch_size: int | None = check(64, positive, help="clips per step (3 frames of each through the backbone); at 32 clips x 300 steps the order is not learnt.")
        negatives: float = check(0.5, in_range(0, 1, lo_open=True, hi_open=True), help="fraction of negative (shuffled) tuples.")
        motion_threshold: float = check(0.002, non_negative, help="tuples from windows with less motion (mean absolute frame difference, in [0, 1]) are not used.")
        candidates: int = check(4, positive, help="random 5-frame windows per clip; the one with the most motion is used.")
        head_hidden: int = check(128, positive, help="hidden width of the order classifier.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.head = mlp(3 * ctx.code_dim, params.head_hidden, 1)

    def tuple_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """Logit of 'in order' for frame tuples [B, 3, C, R, R]."""
        return self.head(self.frame_codes(frames).flatten(1)).squeeze(1)

    def loss(self, x):
        p = self.params
        idx, labels, valid = order_tuples(x, p.negatives, p.motion_threshold, p.candidates)
        # one clip augmentation on the tuple's three frames only (the same views as on the whole clip, 8/3 cheaper)
        return binary(self.tuple_logits(self.augment(gather_frames(x, idx))), labels, valid.float())


# --- arrow of time ----------------------------------------------------------------------
@METHODS.register("arrow_of_time")
class ArrowOfTime(VideoMethod):
    """Arrow of time (Wei et al. 2018): is the clip playing forwards or backwards?

    Every clip is shown both ways (a balanced task in which only the order differs).  The
    shared frame encoder codes each frame; a temporal fusion head (1-D convolutions over
    the sequence of codes, averaged over time, as the paper's temporal class-activation
    map) predicts forwards.  Guard against artificial cues: clips without motion (mean
    absolute frame difference below ``static_threshold``) are left out, since no direction
    can be read from them.
    """

    min_frames = 3

    @dataclass
    class Params(VideoParams):
        steps: int | None = video_steps(200)  # measured: held-out accuracy 0.64 (300 steps: 0.66) in two thirds of the time
        static_threshold: float = check(0.002, non_negative, help="clips with less motion (mean absolute frame difference, in [0, 1]) are left out.")
        head_hidden: int = check(64, positive, help="channels of the temporal fusion convolutions.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        h = params.head_hidden
        self.fusion = nn.Sequential(
            nn.Conv1d(ctx.code_dim, h, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv1d(h, h, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.classify = nn.Linear(h, 1)

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of 'forwards' for clips [B, T, C, R, R]."""
        codes = self.frame_codes(x).transpose(1, 2)  # [B, D, T]
        return self.classify(self.fusion(codes).mean(2)).squeeze(1)

    def loss(self, x):
        x = self.augment(x)
        moving = (frame_motion(x).mean(1) >= self.params.static_threshold).float()
        both = torch.cat([x, x.flip(1)])
        labels = torch.cat([torch.ones(len(x)), torch.zeros(len(x))]).to(x.device)
        return binary(self.clip_logits(both), labels, moving.repeat(2))


# --- temporal triplet ---------------------------------------------------------------------
@METHODS.register("temporal_triplet")
class TemporalTriplet(VideoMethod):
    """Unsupervised learning of visual representations using videos (Wang & Gupta 2015).

    A patch around a moving object at frame t and the patch where the tracker finds the same
    object at t + ``gap`` are a positive pair; patches of the other clips in the batch are
    negatives (:func:`sslpipe.augment.video.track_patches` finds and follows objects by frame
    differencing and template matching, from the frames alone).  Both patches go through the
    shared backbone (resized to its input size) and a projection; the loss is the triplet
    ranking loss with hard negatives, each patch of a pair an anchor in turn.
    """

    @dataclass
    class Params(VideoParams):
        steps: int | None = video_steps(250)
        patch: float = check(0.5, in_range(0.1, 1), help="patch side as a fraction of the frame (0.5 -> 16 px at 32x32).")
        gap: int = check(3, positive, help="frames between the anchor patch and its tracked positive.")
        margin: float = check(0.5, positive, help="ranking margin on the cosine distance (the paper: 0.5).")
        hard_k: int = check(4, positive, help="hardest in-batch negatives per anchor.")
        template: int = check(7, positive, help="tracker's template side in pixels (odd).")
        search: float = check(6.0, positive, help="tracker's search radius in pixels per frame.")
        motion_threshold: float = check(0.1, positive, help="frame-differencing threshold for moving pixels (summed over channels, in [0, 1]).")
        proj_dim: int = check(64, positive, help="size of the projected embedding the loss sees.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.side = max(4, round(params.patch * ctx.resolution))
        self.projector = mlp(ctx.code_dim, 128, params.proj_dim)

    def pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Anchor and positive patches [B, C, s, s] of clips [B, T, C, R, R] and ``valid`` [B]."""
        p = self.params
        gap = min(p.gap, x.shape[1] - 1)
        start, c0, c1, valid = track_patches(x, gap, p.template | 1, p.search, p.motion_threshold)
        rows = torch.arange(len(x), device=x.device)
        half = self.side // 2
        r = x.shape[-1]

        def cut(frames, centre):
            top_left = (centre - half).clamp(0, r - self.side)
            return extract_tiles(frames, top_left[:, None], self.side)[:, 0]

        return cut(x[rows, start], c0), cut(x[rows, start + gap], c1), valid

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(resize_tiles(patches[:, None], self.ctx.resolution)))

    def loss(self, x):
        x = self.augment(x)
        a, pos, valid = self.pairs(x)
        a, pos = a[valid], pos[valid]
        if len(a) < 2:
            zero = sum(q.sum() for q in self.parameters()) * 0.0
            return zero, {"used": float(len(a)) / len(x)}
        za, zp = self.embed(a), self.embed(pos)
        loss = temporal_triplet_loss(za, zp, self.params.margin, self.params.hard_k)
        with torch.no_grad():
            cos = F.cosine_similarity(za, zp, dim=1).mean().item()
        return loss, {"positive_cosine": cos, "used": float(len(a)) / len(x)}


# --- spatial embeddings (colorization, random walk) ------------------------------------------
class SpatialVideoMethod(VideoMethod):
    """Per-location embeddings: the backbone's feature map at ``stride`` and a 1x1 projection."""

    #: L2-normalize the embeddings (the random walk's cosine affinities; colorization uses raw dot products)
    normalize = True

    def __init__(self, params, ctx, in_channels: int | None = None):
        super().__init__(params, ctx)
        if in_channels is not None:
            self.encoder = ctx.make_backbone(in_channels=in_channels)
        probe = torch.zeros(1, in_channels or ctx.channels, ctx.resolution, ctx.resolution)
        with torch.no_grad():
            channels = self.encoder.spatial(probe, params.stride).shape[1]
        self.project = nn.Conv2d(channels, params.embed_dim, 1)

    def locations(self, frames: torch.Tensor) -> torch.Tensor:
        """Embeddings [N, h * w, E] of images [N, C, R, R] (L2-normalized if ``normalize``)."""
        e = self.project(self.encoder.spatial(self.backbone_input(frames), self.params.stride)).flatten(2).transpose(1, 2)
        return F.normalize(e, dim=-1) if self.normalize else e

    def location_map(self, frames: torch.Tensor) -> torch.Tensor:
        """The per-location embeddings the loss matches across frames, as a map [N, E, R / stride, R / stride] (label propagation)."""
        side = self.ctx.resolution // self.params.stride
        return self.locations(frames).transpose(1, 2).reshape(len(frames), -1, side, side)


@dataclass
class SpatialParams(VideoParams):
    stride: int = check(4, positive, help="the embeddings' grid: R / stride locations per side (a power of 2 up to 2**backbone.depth).")
    embed_dim: int = check(32, positive, help="size of the per-location embedding.")


@METHODS.register("video_colorization")
class VideoColorization(SpatialVideoMethod):
    """Tracking emerges by colorizing videos (Vondrick et al. 2018): copy colours from a reference frame.

    All frames enter grey (the L channel of CIE Lab); the target frame's per-location
    embeddings attend to the reference frames' locations (softmax of dot products over
    ``temperature``) and the predicted colour is the attention-weighted quantized colour of
    the references (:func:`sslpipe.losses.video.colorization_loss`), scored by cross-entropy
    against the target's own quantized colours (ab bins of ``bin_size``, averaged over each
    location's cell).  Small objects on a plain background make most locations background,
    which any attention colours right; ``rebalance`` weights each target location by the
    rarity of its colour (Zhang et al. 2016, Eq. 4, over the running colour histogram of
    the frames seen, no labels), so the loss is about the objects.  Predictions at test
    time (:meth:`colorize`) use the sharper ``test_temperature``, as the paper.
    """

    needs_color = True
    normalize = False  # the paper's dot products of unnormalized embeddings (at T = 1, unit vectors could not attend sharply)

    @dataclass
    class Params(SpatialParams):
        steps: int | None = video_steps(900)  # textured clips, backbone J (seeds 0-2): 300 steps 0.18, 600 0.24, 900 0.30 (37-40 s); docs/video.md
        views: ClipViews = field(default_factory=lambda: ClipViews(jitter_p=0.0))
        refs: int = check(3, positive, help="reference frames before the target (the paper: 3).")
        rebalance: float = check(0.5, in_range(0, 1), help="colour-rebalancing lambda (0.5 as Zhang et al. 2016; 1 = no rebalancing).")
        temperature: float = check(1.0, positive, help="attention temperature while training (the paper: 1).")
        test_temperature: float = check(0.01, positive, help="attention temperature of test-time predictions (the paper: 0.01).")
        bin_size: float = check(10.0, positive, help="ab bin width of the colour quantization.")

    def __init__(self, params, ctx):
        super().__init__(params, ctx, in_channels=1)
        self.quantizer = ABQuantizer(params.bin_size)
        self.register_buffer("counts", torch.zeros(self.quantizer.bins))

    @property
    def track_temperature(self) -> float:
        """Label propagation with this method's embedding uses its test-time temperature, as the paper tracks."""
        return self.params.test_temperature

    def backbone_input(self, x):
        from kornia.color import rgb_to_lab

        return rgb_to_lab(x.clamp(0, 1))[:, :1] / 100.0

    def colors(self, frames: torch.Tensor) -> torch.Tensor:
        """Quantized colour of each location of images [N, 3, R, R]: [N, h * w]."""
        from kornia.color import rgb_to_lab

        ab = rgb_to_lab(frames.clamp(0, 1))[:, 1:]
        return self.quantizer.quantize(F.avg_pool2d(ab, self.params.stride)).flatten(1)

    def split(self, x: torch.Tensor, target: int):
        """(target embeddings [B, n, E], reference embeddings [B, refs * n, E], their colours)."""
        b, t = x.shape[:2]
        refs = list(range(max(0, target - self.params.refs), target))
        frames = x[:, refs + [target]]
        emb = self.locations(frames.flatten(0, 1)).view(b, len(refs) + 1, -1, self.params.embed_dim)
        col = self.colors(frames.flatten(0, 1)).view(b, len(refs) + 1, -1)
        return emb[:, -1], emb[:, :-1].flatten(1, 2), col[:, -1], col[:, :-1].flatten(1)

    def loss(self, x):
        x = self.augment(x)
        target = int(torch.randint(min(self.params.refs, x.shape[1] - 1), x.shape[1], ()))
        tgt, ref, tc, rc = self.split(x, target)
        with torch.no_grad():
            self.counts += torch.bincount(tc.flatten(), minlength=len(self.counts)).to(self.counts.dtype)
            weights = rebalancing_weights(self.counts / self.counts.sum(), self.params.rebalance)[tc]
        loss, pred = colorization_loss(tgt, ref, rc, tc, self.quantizer.bins, self.params.temperature, weights)
        with torch.no_grad():
            acc = (pred.argmax(-1) == tc).float().mean().item()
            rare = weights > weights.median()
            rare_acc = (pred.argmax(-1) == tc)[rare].float().mean().item() if rare.any() else acc
        return loss, {"color_accuracy": acc, "rare_color_accuracy": rare_acc}

    @torch.no_grad()
    def colorize(self, x: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted and true colour bins [B, h * w] of frame ``target`` of clips x, at ``test_temperature``."""
        tgt, ref, tc, rc = self.split(x, target)
        _, pred = colorization_loss(tgt, ref, rc, tc, self.quantizer.bins, self.params.test_temperature)
        return pred.argmax(-1), tc

    def encode(self, x):
        return self.encoder(self.backbone_input(x))


@METHODS.register("cycle_walk")
class CycleWalk(SpatialVideoMethod):
    """Space-time correspondence as a contrastive random walk (Jabri et al. 2020).

    The nodes of a frame are its per-location embeddings; transitions between consecutive
    frames are the softmax of their affinities over ``temperature`` with edge dropout.  A
    walk along the clip and back (a palindrome, for every length up to the clip's) must
    return to the node it started from (:func:`sslpipe.losses.video.cycle_walk_loss`), which
    needs no labels: the cycle is its own supervision.
    """

    @dataclass
    class Params(SpatialParams):
        steps: int | None = video_steps(1200)  # textured clips, J: 0.206 at 600 steps, 0.234 at 1200 (32 s), 0.244 at 1800 (46 s); docs/video.md
        embed_dim: int = check(128, positive, help="size of the per-location embedding (the paper: 128); on textured clips, J at 600 steps: 32 dims 0.171, 128 0.206, 256 0.188.")
        temperature: float = check(0.07, positive, help="transition temperature (the paper: 0.07).")
        edge_dropout: float = check(0.1, in_range(0, 1, hi_open=True), help="probability of dropping an edge of each transition (the paper: 0.1).")
        walk_frames: int = check(2, in_range(2, 64), help="frames of the walk: a random window of consecutive frames (palindromes of every length up to it); J at 1200 steps of 128 dims: 2 frames 0.234 on textured clips (0.26 on flat), 3 frames 0.147 (flat: 0.29 at 600 steps of 32 dims); 8 frames collapse (0.03).")

    def loss(self, x):
        w = min(self.params.walk_frames, x.shape[1])
        start = int(torch.randint(0, x.shape[1] - w + 1, ()))
        x = self.augment(x[:, start:start + w])
        b, t = x.shape[:2]
        nodes = self.locations(x.flatten(0, 1)).view(b, t, -1, self.params.embed_dim)
        loss = cycle_walk_loss(nodes, self.params.temperature, self.params.edge_dropout)
        with torch.no_grad():
            step = torch.softmax(nodes[:, 0] @ nodes[:, 1].transpose(1, 2) / self.params.temperature, -1)
            back = torch.softmax(nodes[:, 1] @ nodes[:, 0].transpose(1, 2) / self.params.temperature, -1)
            home = (step @ back).argmax(-1) == torch.arange(nodes.shape[2], device=x.device)
        return loss, {"return_accuracy": home.float().mean().item()}
