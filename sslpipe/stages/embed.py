"""embed: the encoder's representation of held-out images, with their targets and augmented pairs."""
from __future__ import annotations

import numpy as np
import torch

from .. import paths
from ..augment import standard_views
from ..checkpoint import encode_images, load_method
from ..config import Config
from ..data.loader import load_split, to_device
from ..data.shards import verify_shards
from ..evaluate.embeddings import Embeddings
from ..train import seed_everything, select_device
from .common import stage_run

PAIRS = 1000  # test images whose two standard augmentations give the alignment/uniformity pairs


def run(cfg: Config, dataset: str, method_name: str) -> None:
    cfg.run(dataset, method_name)
    ecfg = cfg.evaluate.embed
    seed_everything(cfg.study.seed, cfg.train.threads)
    device = select_device(cfg.train.device)
    shard_dir = paths.shard_dir(dataset)
    manifest = verify_shards(shard_dir, splits=("train", "test"))
    info = manifest["info"]
    method = load_method(paths.model_file(dataset, method_name), device)
    with stage_run(cfg, "embed", dataset, method_name) as run:
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
        out = paths.embedding_file(dataset, method_name)
        emb.save(out)
        run.log_metrics({"n_train": len(tr_x), "n_test": len(te_x), "code_dim": emb.train_z.shape[1]})
        run.log_artifact(out, "embeddings")
    print(f"{dataset}/{method_name}: embeddings written to {out}")
