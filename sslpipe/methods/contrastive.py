"""Contrastive and metric-learning methods: positives are two views of one image, negatives the rest.

Every method here embeds two Kornia views of each image with the shared backbone and a
projection head and applies one loss of :mod:`sslpipe.losses.contrastive`.  The representation
evaluated downstream is the backbone output (D = ``backbone.code_dim``), never the projection.
The pair-based methods can add a memory bank of past embeddings as extra negatives
(``memory_bank: N``); MoCo keeps a queue of momentum-encoded keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import view_pair, views_with, build_views
from ..core.schema import check, in_range, non_negative, one_of, positive
from ..losses import TRIPLET_MINING, contrastive_loss, info_nce, lifted_structured_loss, npair_loss, nt_xent, triplet_loss
from ..models.heads import mlp
from .base import METHODS, Method, MethodParams, budget_steps
from .parts.twoview import TwoViewMethod, TwoViewParams

#: MoCo v1 (He et al. 2020): crop, jitter, grayscale; no blur.
MoCoViews = views_with("MoCoViews", crop_scale=[0.5, 1.0], blur_p=0.0)
#: MoCo v2 (Chen et al. 2020b): stronger, SimCLR's augmentation with blur.
MoCoV2Views = views_with("MoCoV2Views", crop_scale=[0.4, 1.0], blur_p=0.5)


class FeatureQueue(nn.Module):
    """A first-in-first-out queue of ``size`` unit vectors, stored as buffers (checkpointed).

    Starts full of random unit vectors (as MoCo's reference code), so the number of
    negatives never changes; ``push`` overwrites the oldest entries.  The loss may only see
    the queue as it was before the step, so methods ``defer`` the step's keys and ``flush``
    them after the optimizer step.
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.pending: torch.Tensor | None = None

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        keys = keys.detach()[-len(self.keys):]
        idx = (self.ptr + torch.arange(len(keys), device=keys.device)) % len(self.keys)
        self.keys[idx] = keys.to(self.keys.dtype)
        self.ptr.fill_(int((self.ptr + len(keys)) % len(self.keys)))

    def defer(self, keys: torch.Tensor) -> None:
        """Keep ``keys`` (detached) for the next ``flush``."""
        self.pending = keys.detach()

    def flush(self) -> None:
        """Push the deferred keys, if any."""
        if self.pending is not None:
            self.push(self.pending)
            self.pending = None


# --- SimCLR ---------------------------------------------------------------------------
@METHODS.register("simclr")
class SimCLR(TwoViewMethod):
    """SimCLR (Chen et al. 2020): NT-Xent between projections of two Kornia views."""

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(185)
        temperature: float = check(0.5, positive, help="NT-Xent temperature, e.g. 0.5.")

    def objective(self, z1, z2):
        return nt_xent(z1, z2, self.params.temperature)


# --- pair-based metric learning -------------------------------------------------------------
@dataclass
class PairParams(TwoViewParams):
    memory_bank: int = check(0, non_negative, help="0 = off; N = keep the last N embeddings as extra negatives (Wu et al. 2018).")


class PairMethod(TwoViewMethod):
    """Metric learning with the two views of an image as the only positive pair.

    Embeddings are L2-normalized (margins are on the unit sphere).  With ``memory_bank: N``
    the last N embeddings (detached) are extra negatives: Wu et al. (2018) keep one entry per
    training image, but a shuffled stream has no image ids, so this bank is first-in-first-out
    (as MoCo's queue); it is updated after the loss, in ``on_step_end``.  Stale entries are
    only comparable with fresh ones on the unit sphere, so the bank is offered to the
    normalized losses (contrastive, triplet, lifted), not to N-pair.
    """

    family = "metric_learning"
    normalize = True

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        size = getattr(params, "memory_bank", 0)
        self.bank = FeatureQueue(size, params.proj_dim) if size else None

    def objective(self, z1, z2):
        if self.normalize:
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        negatives = None
        if self.bank is not None:
            negatives = self.bank.keys.clone()
            self.bank.defer(torch.cat([z1, z2]))
        return self.pair_loss(z1, z2, negatives)

    def on_step_end(self, step):
        super().on_step_end(step)
        if self.bank is not None:
            self.bank.flush()

    def pair_loss(self, z1, z2, negatives):
        raise NotImplementedError

    @staticmethod
    def labelled(z1, z2):
        """Both views in one batch, labelled by image."""
        return torch.cat([z1, z2]), torch.arange(len(z1), device=z1.device).repeat(2)


@METHODS.register("contrastive")
class Contrastive(PairMethod):
    """Contrastive pair loss (Hadsell, Chopra & LeCun 2006): views pulled together, other images pushed beyond a margin."""

    @dataclass
    class Params(PairParams):
        steps: int | None = budget_steps(200)
        margin: float = check(1.0, in_range(0, 2, lo_open=True), help="distance margin on the unit sphere (0, 2].")

    def pair_loss(self, z1, z2, negatives):
        return contrastive_loss(*self.labelled(z1, z2), self.params.margin, negatives)


@METHODS.register("triplet")
class Triplet(PairMethod):
    """Triplet loss (Schroff et al. 2015) with in-batch negative mining."""

    @dataclass
    class Params(PairParams):
        steps: int | None = budget_steps(170)
        margin: float = check(0.5, positive, help="squared-distance margin on the unit sphere, e.g. 0.2-1.0.")
        mining: str = check("semi_hard", one_of(*TRIPLET_MINING))

    def pair_loss(self, z1, z2, negatives):
        return triplet_loss(*self.labelled(z1, z2), self.params.margin, self.params.mining, negatives)


@METHODS.register("lifted")
class Lifted(PairMethod):
    """Lifted structured loss (Song et al. 2016) over all pairs of the batch."""

    @dataclass
    class Params(PairParams):
        steps: int | None = budget_steps(180)
        margin: float = check(1.0, positive, help="distance margin on the unit sphere, e.g. 1.0.")
        smooth: bool = check(True, help="log-sum-exp relaxation (Song et al. Eq. 4) instead of the hard max.")

    def pair_loss(self, z1, z2, negatives):
        return lifted_structured_loss(*self.labelled(z1, z2), self.params.margin, self.params.smooth, negatives)


@METHODS.register("npair")
class NPair(PairMethod):
    """Multi-class N-pair loss (Sohn 2016): view 1 is the anchor, view 2 the positive, other images' view 2 the negatives.

    Not normalized (Sohn regularizes the embedding norms instead), hence no memory bank (stale
    raw inner products diverge); symmetrized over the two views.
    """

    normalize = False

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(190)
        l2_reg: float = check(0.002, non_negative, help="weight of the embedding-norm regularizer (Sohn 2016: 0.002).")

    def pair_loss(self, z1, z2, negatives):
        reg = self.params.l2_reg
        return (npair_loss(z1, z2, reg, negatives) + npair_loss(z2, z1, reg, negatives)) / 2


# --- MoCo ---------------------------------------------------------------------------------
@METHODS.register("moco")
class MoCo(Method):
    """MoCo v1 (He et al. 2020): a momentum key encoder and a queue of negatives decoupled from the batch size.

    Per step, as the paper's Algorithm 1: queries from the online encoder, keys from the key
    encoder (no gradient), InfoNCE against the positive key and the queue; after the optimizer
    step (``on_step_end``) the key encoder moves by the momentum update and then the batch's
    keys are enqueued (the oldest dequeued).  The queue only ever holds key-encoder outputs.
    Batch norm in the key encoder sees the batch shuffled into ``shuffle_groups`` groups
    (the single-device form of MoCo's shuffling BN, so BN statistics cannot leak which key
    is positive).
    """

    family = "contrastive"

    @dataclass
    class Params(MethodParams):
        steps: int | None = budget_steps(235)
        queue_size: int = check(4096, positive, help="negatives kept in the queue (MoCo: 65536 on ImageNet).")
        momentum: float = check(0.99, in_range(0, 1), help="key-encoder momentum m (MoCo: 0.999 for long runs).")
        temperature: float = check(0.1, positive, help="InfoNCE temperature (MoCo v1: 0.07, v2: 0.2).")
        proj_dim: int = check(64, positive)
        shuffle_groups: int = check(2, positive, help="BN groups of the shuffled key batch (1 = no shuffling BN).")
        views: MoCoViews = field(default_factory=MoCoViews)

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.projector = self.make_head(params, ctx)
        self.key_encoder = self.momentum_pair(self.encoder)
        self.key_projector = self.momentum_pair(self.projector)
        self.queue = FeatureQueue(params.queue_size, params.proj_dim)
        self.augment = build_views(params.views, ctx.channels, ctx.resolution)

    @staticmethod
    def make_head(params, ctx) -> nn.Module:
        """v1: a linear projection to the key space."""
        return nn.Linear(ctx.code_dim, params.proj_dim)

    @torch.no_grad()
    def keys(self, views: torch.Tensor) -> torch.Tensor:
        perm = torch.randperm(len(views), device=views.device)
        groups = [self.key_projector(self.key_encoder(views[idx])) for idx in perm.chunk(self.params.shuffle_groups)]
        k = torch.empty(len(views), self.params.proj_dim, device=views.device)
        k[perm] = torch.cat(groups).to(k.dtype)
        return F.normalize(k, dim=1)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """Query views then key views: [2B, C, R, R]."""
        return torch.cat(view_pair(self.augment, x))

    def loss(self, x):
        x_q, x_k = self.views(x).chunk(2)
        q = F.normalize(self.projector(self.encoder(x_q)), dim=1)
        k = self.keys(x_k)
        loss = info_nce(q, k, self.queue.keys.clone(), self.params.temperature)
        self.queue.defer(k)
        with torch.no_grad():
            pos = (q * k).sum(1, keepdim=True)
            acc = (pos > (q @ self.queue.keys.T).max(1, keepdim=True).values).float().mean().item()
        return loss, {"positive_cosine": pos.mean().item(), "accuracy": acc}

    def on_step_end(self, step):
        super().on_step_end(step)  # the key encoder's momentum update
        self.queue.flush()


@METHODS.register("moco_v2")
class MoCoV2(MoCo):
    """MoCo v2 (Chen, Fan, Girshick & He 2020): MoCo v1 plus an MLP head, blur and a higher temperature."""

    @dataclass
    class Params(MoCo.Params):
        steps: int | None = budget_steps(250)
        temperature: float = check(0.2, positive, help="InfoNCE temperature (MoCo v2: 0.2).")
        proj_hidden: int = check(128, positive)
        views: MoCoV2Views = field(default_factory=MoCoV2Views)

    @staticmethod
    def make_head(params, ctx) -> nn.Module:
        return mlp(ctx.code_dim, params.proj_hidden, params.proj_dim, batch_norm=False)
