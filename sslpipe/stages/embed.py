"""embed: the encoder's representation of held-out images, with their targets and augmented pairs."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

from ..core import paths
from .base import Out, Stage, StageContext

PAIRS = 1000  # test images whose two standard augmentations give the alignment/uniformity pairs


def run(ctx: StageContext) -> None:
    import numpy as np
    import torch
    from ..augment import standard_views
    from ..checkpoint import encode_images
    from ..data.loader import frames_of, load_arrays, load_split, to_device
    from ..evaluate.embeddings import Embeddings

    cfg, dataset, method_name = ctx.cfg, ctx.dataset, ctx.method
    ecfg = cfg.evaluate.embed
    ctx.setup_runtime(cfg.study.seed, cfg.train.threads, cfg.train.device)
    device = ctx.device
    shard_dir, manifest = ctx.shards("train", "test")
    info = manifest["info"]
    method = ctx.model()
    clips = {}
    if "frames" in manifest:  # a video dataset: whole clips' frames, their per-frame factors and the clip labels
        t = manifest["frames"]
        tr = load_arrays(shard_dir, manifest, "train", ["images", "frame_targets", "targets"], limit=-(-ecfg.n_train // t))
        te = load_arrays(shard_dir, manifest, "test", ["images", "frame_targets", "targets"], limit=-(-ecfg.n_test // t))
        tr_x, tr_y, te_x, te_y = frames_of(tr["images"]), frames_of(tr["frame_targets"]), frames_of(te["images"]), frames_of(te["frame_targets"])
        clips = dict(clip_target_names=info["targets"], clip_train_targets=tr["targets"], clip_test_targets=te["targets"])
        info = {**info, "targets": info["frame_targets"], "factors": info["frame_factors"],
                "factor_sizes": info["frame_factor_sizes"], "ordinal": info["frame_ordinal"]}
    else:
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
        ordinal=info.get("ordinal", []), pair_z1=z1, pair_z2=z2, **clips,
    )
    out = paths.embedding_file(dataset, method_name)
    emb.save(out)
    ctx.run.log_metrics({"n_train": len(tr_x), "n_test": len(te_x), "code_dim": emb.train_z.shape[1]})
    ctx.run.log_artifact(out, "embeddings")
    print(f"{dataset}/{method_name}: embeddings written to {out}")


STAGE = Stage(
    name="embed",
    help="embed held-out images with a trained encoder",
    over="runs",
    params=("study.seed", "train.threads", "train.device", "evaluate.embed"),
    deps=("data/shards/{dataset}", "models/{dataset}/{method}"),
    code=("sslpipe/augment", "sslpipe/checkpoint.py", "sslpipe/stages/embed.py"),
    outs=(Out("embeddings/{dataset}/{method}.npz"),),
    run=run,
)
