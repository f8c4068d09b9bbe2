"""Video: chunks of clips (uint8 [n, T, C, R, R]) with clip labels, instance masks and factor trajectories.

Video methods (``Method.modality == "video"``) train on clips; image methods train on the
frame stream of the same shards, so every video method has image-method neighbours.  The
representation is always the per-frame encoder: the evaluate stage embeds per-frame codes with the
per-frame factors and the clip labels (:class:`ClipEmbeddings`), the image metrics read the
frames and the video metrics (clip probes, label propagation, task heads) the clips.
"""
from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import ImageEncoder, encode_images
from ..data.loader import frames_of, load_arrays, to_device, train_batches
from ..evaluate.embeddings import ClipEmbeddings
from .base import MODALITIES
from .image import EXAMPLE_IMAGES, PAIRS, Images, source_from_manifest

#: test clips drawn in the propagation figure
FIGURE_CLIPS = 4


def trains_on_clips(method) -> bool:
    return method.modality == "video"


def frame_info(info: dict) -> dict:
    """The manifest's clip info seen as an image source's (targets = the per-frame factors)."""
    return {**info, "targets": info["frame_targets"], "factors": info["frame_factors"],
            "factor_sizes": info["frame_factor_sizes"], "ordinal": info["frame_ordinal"]}


@MODALITIES.register("video")
class Video(Images):
    examples = "examples"  # clips for a video method, frames for an image method on the frame stream

    def train_stream(self, method, shard_dir, manifest, tcfg, seed):
        return train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, seed, frames=not trains_on_clips(method))

    def fit_input(self, method, shard_dir, manifest, device):
        clips = load_arrays(shard_dir, manifest, "train", ["images"], limit=-(-method.fit_samples // manifest["frames"]))["images"]
        return to_device(frames_of(clips)[:method.fit_samples], device)

    def encoder_model(self, method, shard_dir, manifest):
        """The per-frame encoder (what the evaluate stage encodes), with test frames as its input example."""
        clips = load_arrays(shard_dir, manifest, "test", ["images"], limit=-(-EXAMPLE_IMAGES // manifest["frames"]))["images"]
        return ImageEncoder(method), np.ascontiguousarray(frames_of(clips)[:EXAMPLE_IMAGES])

    def embed(self, method, shard_dir, manifest, ecfg, device):
        from ..augment import standard_views

        t, names = manifest["frames"], ["images", "frame_targets", "targets"]
        info = frame_info(manifest["info"])
        tr = load_arrays(shard_dir, manifest, "train", names, limit=-(-ecfg.n_train // t))  # whole clips
        te = load_arrays(shard_dir, manifest, "test", names, limit=-(-ecfg.n_test // t))
        tr_x, te_x = frames_of(tr["images"]), frames_of(te["images"])
        views = standard_views(info["channels"], info["resolution"]).to(device)
        with torch.no_grad():
            pair_src = to_device(te_x[:PAIRS], device)
            z1 = method.encode(views(pair_src)).float().cpu().numpy()
            z2 = method.encode(views(pair_src)).float().cpu().numpy()
        emb = ClipEmbeddings(
            train_z=encode_images(method, tr_x, device, ecfg.batch_size), train_targets=frames_of(tr["frame_targets"]).astype(np.int64),
            test_z=encode_images(method, te_x, device, ecfg.batch_size), test_targets=frames_of(te["frame_targets"]).astype(np.int64),
            target_names=info["targets"], factor_names=info["factors"], factor_sizes=info["factor_sizes"],
            ordinal=info.get("ordinal", []), pair_z1=z1, pair_z2=z2, clip_target_names=manifest["info"]["targets"],
            clip_train_targets=tr["targets"].astype(np.int64), clip_test_targets=te["targets"].astype(np.int64),
        )
        return emb, {"n_train": len(tr_x), "n_test": len(te_x), "train_clips": len(tr["images"]), "test_clips": len(te["images"]),
                     "code_dim": emb.train_z.shape[1]}

    def eval_inputs(self, method, emb, manifest, device):
        source = source_from_manifest(manifest)
        if source is None or not emb.factor_names:
            return {}
        # the sampling-based disentanglement metrics render and encode single frames
        return {"sampler": source.frame_source(), "encode": lambda images: encode_images(method, images, device)}

    def figures(self, method, emb, manifest, shard_dir, rcfg, seed, device, title, ecfg=None):
        from ..evaluate.propagation import PropagationParams, encoder_features, pixel_features, propagate_masks
        from ..plots.decoders import FIGURES
        from ..plots.scatter import embedding_scatter
        from ..plots.video import propagation_figure

        n = min(rcfg.scatter_points, len(emb.test_z))
        out = {"embedding.png": embedding_scatter(emb.test_z[:n], emb.test_targets[:n], emb.target_names, title, rcfg.projection, seed)}
        test = load_arrays(shard_dir, manifest, "test", ["images", "masks"], FIGURE_CLIPS)
        if method.has_decoder:  # traversals, reconstructions and interpolations of single frames
            frames = frames_of(test["images"])[:16]
            out |= {f"{name}.png": fn(method, frames, device=device) for name, fn in FIGURES.items()}
        p = (ecfg.metrics.get("propagation") if ecfg is not None else None) or PropagationParams()  # the metric's settings
        n_labels = int(test["masks"].max()) + 1
        preds = {"raw pixels": propagate_masks(pixel_features(p.stride), test["images"], test["masks"], p, normalize=False, n_labels=n_labels)}
        fn = encoder_features(method, p.stride, device)
        if fn is not None:
            method.eval()
            preds = {"encoder": propagate_masks(fn, test["images"], test["masks"], p, n_labels=n_labels), **preds}
        out["propagation.png"] = propagation_figure(test["images"], test["masks"], preds, f"{title}: label propagation from frame 0")
        return out

