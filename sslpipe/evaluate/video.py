"""Metrics of video datasets: clip-label probes, label propagation (J) and the pretext tasks' held-out accuracy.

A video encoder's embeddings (:class:`ClipEmbeddings`) hold per-frame codes, which every image
metric reads (per-frame probes and disentanglement metrics on per-frame factors; their
binomial standard errors treat the frames as independent, which frames of one clip are not);
these metrics (``modality="video"``) add what needs clips.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.schema import check, positive
from .base import EvalContext, metric
from .probes import knn_probe, linear_probe
from .propagation import PropagationParams, propagation_metrics
from .uncertainty import with_binomial


def is_video(ctx: EvalContext) -> bool:
    return getattr(ctx.emb, "clip_train_targets", None) is not None


@dataclass
class ClipProbeParams:
    max_iter: int = check(500, positive, help="iterations of the logistic-regression probe.")
    k: int = check(20, positive, help="neighbours of the kNN vote.")


@metric("clip_probes", Params=ClipProbeParams, keys="clip_linear/<label>, clip_knn/<label> for every clip label",
        paper="the linear evaluation protocol on time-averaged frame codes", applies=is_video, columns=("clip_linear/shape", "clip_linear/direction"), modality="video")
def clip_probes(ctx: EvalContext, p: ClipProbeParams) -> dict[str, float]:
    """Linear and kNN accuracy of every clip label from the clip's time-averaged frame code."""
    e = ctx.emb
    ztr, zte = e.clip_codes("train"), e.clip_codes("test")
    out = {}
    for t in e.clip_target_names:
        ytr, yte = e.clip_target(t, "train"), e.clip_target(t, "test")
        out |= with_binomial(f"clip_linear/{t}", linear_probe(ztr, ytr, zte, yte, p.max_iter, ctx.seed), len(zte))
        out |= with_binomial(f"clip_knn/{t}", knn_probe(ztr, ytr, zte, yte, p.k), len(zte))
    return out


@metric("propagation", Params=PropagationParams, keys="propagation/j (the encoder), propagation/j_pixels, propagation/j_copy, propagation/j_masks (the true masks as features), propagation/j_embedding (methods with a per-location embedding head)",
        paper="label propagation, Vondrick et al. (2018), Jabri et al. (2020)", applies=lambda ctx: is_video(ctx) and ctx.method is not None,
        columns=("propagation/j", "propagation/j_embedding", "propagation/j_pixels", "propagation/j_masks", "propagation/j_copy"), modality="video")
def propagation(ctx: EvalContext, p: PropagationParams) -> dict[str, float]:
    """Mean IoU (J) of frame 0's instance masks propagated through test clips by the encoder's feature affinities, and three baselines."""
    from ..data.loader import load_arrays

    test = load_arrays(ctx.shard_dir, ctx.manifest, "test", ["images", "masks"], p.clips)
    return propagation_metrics(ctx.method, test["images"], test["masks"], p, ctx.device, ctx.n_boot, ctx.seed)


@dataclass
class TaskParams:
    clips: int = check(500, positive, help="held-out test clips.")


@metric("video_tasks", Params=TaskParams, keys="task/arrow_of_time, task/frame_order (methods with that head)",
        paper="Wei et al. (2018), Misra et al. (2016)", applies=lambda ctx: is_video(ctx) and ctx.method is not None,
        columns=("task/arrow_of_time", "task/frame_order"), modality="video")
def video_tasks(ctx: EvalContext, p: TaskParams) -> dict[str, float]:
    """Held-out accuracy of the pretext task heads (forwards vs backwards; frame order), chance 0.5."""
    from ..data.loader import load_arrays
    from .video_tasks import task_metrics

    clips = load_arrays(ctx.shard_dir, ctx.manifest, "test", ["images"], p.clips)["images"]
    return {k: v for key, acc in task_metrics(ctx.method, clips, ctx.device).items() for k, v in with_binomial(key, acc, len(clips)).items()}
