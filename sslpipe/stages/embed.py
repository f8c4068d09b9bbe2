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
    from ..data.loader import load_split, to_device
    from ..evaluate.embeddings import Embeddings

    cfg, dataset, name = ctx.cfg, ctx.dataset, ctx.name
    ecfg = cfg.evaluate.embed
    ctx.setup_runtime(ctx.seed, cfg.train.threads, cfg.train.device)
    device = ctx.device
    shard_dir, manifest = ctx.shards("train", "test")
    info = manifest["info"]
    method = ctx.model()
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
    out = paths.embedding_file(dataset, name)
    emb.save(out)
    ctx.run.log_metrics({"n_train": len(tr_x), "n_test": len(te_x), "code_dim": emb.train_z.shape[1]})
    ctx.run.log_artifact(out, "embeddings")
    print(f"{dataset}/{name}: embeddings written to {out}")


STAGE = Stage(
    name="embed",
    help="embed held-out images with a trained encoder",
    over="runs",
    params=("study.runs.{key}.seed", "train.threads", "train.device", "evaluate.embed"),
    deps=("data/shards/{dataset}", "models/{dataset}/{run}"),
    code=("sslpipe/augment", "sslpipe/checkpoint.py", "sslpipe/stages/embed.py"),
    outs=(Out("embeddings/{dataset}/{run}.npz"),),
    run=run,
)
