"""Images: uint8 chunks of [C, R, R] images with their targets (every source but the text ones)."""
from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import ImageEncoder, encode_images
from ..data.loader import load_split, to_device, train_batches
from ..evaluate.embeddings import Embeddings
from ..methods.base import MethodContext
from .base import MODALITIES, Modality

EXAMPLE_IMAGES = 4  # test images stored with the MLflow Model as its input example
PAIRS = 1000  # test images whose two standard augmentations give the alignment/uniformity pairs


def source_from_manifest(manifest: dict):
    """The data source's renderer rebuilt from the params stored in the shard manifest.

    None for sources without a renderer (digits, folder, cifar10): downstream stages read
    their shards only, so a moved image folder does not matter after sharding.
    """
    from ..core.schema import build, unrecorded
    from ..data.sources import SOURCES

    cls = SOURCES.get(manifest["dataset"])
    with unrecorded():  # the parameters the shards were made with, from the manifest
        params = build(cls.Params, manifest["params"], f"data.{manifest['dataset']}")
    source = cls(params, manifest["seed"])
    return source if source.has_renderer else None


@MODALITIES.register("image")
class Images(Modality):
    examples = "images"

    def context(self, manifest, cfg, run, seed):
        info = manifest["info"]
        return MethodContext(info["channels"], info["resolution"], cfg.backbone_for(run), seed)

    def train_stream(self, method, shard_dir, manifest, tcfg, seed):
        return train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, seed)

    def fit_input(self, method, shard_dir, manifest, device):
        images, _ = load_split(shard_dir, manifest, "train", limit=method.fit_samples)
        return to_device(images, device)

    def encoder_model(self, method, shard_dir, manifest):
        images, _ = load_split(shard_dir, manifest, "test", limit=EXAMPLE_IMAGES)
        return ImageEncoder(method), np.ascontiguousarray(images)

    def embed(self, method, shard_dir, manifest, ecfg, device):
        from ..augment import standard_views

        info = manifest["info"]
        tr_x, tr_y = load_split(shard_dir, manifest, "train", limit=ecfg.n_train)
        te_x, te_y = load_split(shard_dir, manifest, "test", limit=ecfg.n_test)
        views = standard_views(info["channels"], info["resolution"]).to(device)
        with torch.no_grad():
            pair_src = to_device(te_x[:PAIRS], device)
            z1 = method.encode(views(pair_src)).float().cpu().numpy()
            z2 = method.encode(views(pair_src)).float().cpu().numpy()
        emb = Embeddings(
            train_z=encode_images(method, tr_x, device, ecfg.batch_size), train_targets=tr_y.astype(np.int64),
            test_z=encode_images(method, te_x, device, ecfg.batch_size), test_targets=te_y.astype(np.int64),
            target_names=info["targets"], factor_names=info["factors"], factor_sizes=info["factor_sizes"],
            ordinal=info.get("ordinal", []), pair_z1=z1, pair_z2=z2,
        )
        return emb, {"n_train": len(tr_x), "n_test": len(te_x), "code_dim": emb.train_z.shape[1]}

    def eval_inputs(self, method, emb, manifest, device):
        source = source_from_manifest(manifest)
        if source is None or not emb.factor_names:
            return {}
        return {"sampler": source, "encode": lambda images: encode_images(method, images, device)}

    def figures(self, method, emb, manifest, shard_dir, rcfg, seed, device, title, ecfg=None):
        from ..plots import decoders
        from ..plots.scatter import embedding_scatter

        n = min(rcfg.scatter_points, len(emb.test_z))
        out = {"embedding.png": embedding_scatter(emb.test_z[:n], emb.test_targets[:n], emb.target_names, title, rcfg.projection, seed)}
        if method.has_decoder:  # traversals, reconstructions and interpolations
            images, _ = load_split(shard_dir, manifest, "test", limit=16)
            out |= {f"{name}.png": fn(method, images, device=device) for name, fn in decoders.FIGURES.items()}
        return out
