"""evaluate: every registered metric that applies to one encoder, plus its plots."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

import csv
import time


from ..core import paths
from ..core.io import atomic_path, write_json
from .base import Out, Stage, StageContext


def _save_fig(run, fig, path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    run.log_artifact(path, "plots")
    plt.close(fig)


def training_summary(curve) -> dict | None:
    """Steps and first/last training loss from pretrain's curve (a declared dependency)."""
    if not curve.exists():
        return None
    with open(curve, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("loss")]
    if not rows:
        return None
    return {"steps": int(float(rows[-1]["step"])), "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"])}


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


def run(ctx: StageContext) -> None:
    import numpy as np
    from ..checkpoint import encode_images
    from ..evaluate.embeddings import Embeddings
    from ..evaluate.suite import evaluate_encoder

    cfg, dataset, method_name = ctx.cfg, ctx.dataset, ctx.method
    seed = cfg.study.seed
    ctx.setup_runtime(seed, cfg.train.threads, cfg.train.device)
    device = ctx.device
    emb = Embeddings.load(paths.embedding_file(dataset, method_name))
    shard_dir, manifest = ctx.shards("test")
    source = source_from_manifest(manifest)
    method = ctx.model()
    sampler = source.frame_source() if source is not None and emb.factor_names else None  # video: single frames

    def encode(images: np.ndarray) -> np.ndarray:
        return encode_images(method, images, device)

    run = ctx.run
    t0 = time.perf_counter()
    metrics = evaluate_encoder(emb, cfg.evaluate, seed, sampler=sampler, encode=encode if sampler else None,
                               n_jobs=cfg.train.threads or -1, method=method, shard_dir=shard_dir, manifest=manifest, device=device)
    seconds = time.perf_counter() - t0
    run.log_metrics(metrics)
    run.log_metrics({"evaluate/seconds": seconds})
    out = paths.metrics_file(dataset, method_name)
    write_json(out, {"dataset": dataset, "method": method_name, "family": method.family, "metrics": metrics,
                     "training": training_summary(paths.train_log(dataset, method_name))})
    run.log_artifact(out)
    plots = paths.plots_dir(dataset, method_name)
    from ..plots.scatter import embedding_scatter

    n = min(cfg.report.scatter_points, len(emb.test_z))
    fig = embedding_scatter(emb.test_z[:n], emb.test_targets[:n], emb.target_names, f"{dataset}/{method_name}", cfg.report.projection, seed)
    _save_fig(run, fig, plots / "embedding.png")
    if method.has_decoder:
        _decoder_plots(run, method, shard_dir, manifest, plots, device)
    if "frames" in manifest:
        _propagation_plot(run, method, shard_dir, manifest, plots, cfg.evaluate.metrics.get("propagation"), device, f"{dataset}/{method_name}")
    print(f"{dataset}/{method_name}: {len(metrics)} metrics in {seconds:.1f} s -> {out}")


def _decoder_plots(run, method, shard_dir, manifest, plots, device) -> None:
    """Traversals, reconstructions and interpolations for models with a decoder."""
    from ..data.loader import load_split
    from ..plots import decoders

    images, _ = load_split(shard_dir, manifest, "test", limit=16)
    for name, fn in decoders.FIGURES.items():
        _save_fig(run, fn(method, images, device=device), plots / f"{name}.png")


def _propagation_plot(run, method, shard_dir, manifest, plots, params, device, title, clips: int = 4) -> None:
    """Frame 0's masks propagated through a few test clips by the encoder and by raw pixels, beside the stored masks."""
    from ..data.loader import load_arrays
    from ..evaluate.propagation import PropagationParams, encoder_features, pixel_features, propagate_masks
    from ..plots.video import propagation_figure

    p = params or PropagationParams()
    test = load_arrays(shard_dir, manifest, "test", ["images", "masks"], clips)
    n_labels = int(test["masks"].max()) + 1
    preds = {"raw pixels": propagate_masks(pixel_features(p.stride), test["images"], test["masks"], p, normalize=False, n_labels=n_labels)}
    fn = encoder_features(method, p.stride, device)
    if fn is not None:
        method.eval()
        preds = {"encoder": propagate_masks(fn, test["images"], test["masks"], p, n_labels=n_labels), **preds}
    _save_fig(run, propagation_figure(test["images"], test["masks"], preds, f"{title}: label propagation from frame 0"), plots / "propagation.png")


STAGE = Stage(
    name="evaluate",
    help="every registered metric of one encoder, and its plots",
    over="runs",
    params=("study.seed", "train.threads", "train.device", "evaluate", "report.scatter_points", "report.projection"),
    deps=("data/shards/{dataset}", "models/{dataset}/{method}", "embeddings/{dataset}/{method}.npz", "logs/{dataset}/{method}/train.csv"),
    code=("sslpipe/evaluate", "sslpipe/plots", "sslpipe/stages/evaluate.py"),
    outs=(Out("metrics/{dataset}/{method}.json"), Out("plots/{dataset}/{method}")),
    run=run,
)
