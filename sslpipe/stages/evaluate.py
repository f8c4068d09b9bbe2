"""evaluate: probes, geometry and disentanglement metrics of one encoder, plus its plots."""
from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np

from .. import paths
from ..checkpoint import encode_images, load_method
from ..config import Config
from ..data.shards import read_manifest
from ..evaluate.embeddings import Embeddings
from ..evaluate.suite import evaluate_encoder
from ..io import atomic_path, write_json
from ..plots.scatter import embedding_scatter
from ..train import seed_everything, select_device
from .common import source_from_manifest, stage_run


def _save_fig(run, fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    run.log_artifact(path, "plots")
    plt.close(fig)


def training_summary(curve) -> dict | None:
    """Steps and first/last training loss from pretrain's curve (a sibling output of the model file)."""
    import csv

    if not curve.exists():
        return None
    with open(curve, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("loss")]
    if not rows:
        return None
    return {"steps": int(float(rows[-1]["step"])), "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"])}


def run(cfg: Config, dataset: str, method_name: str) -> None:
    cfg.run(dataset, method_name)
    seed = cfg.study.seed
    seed_everything(seed, cfg.train.threads)
    device = select_device(cfg.train.device)
    emb = Embeddings.load(paths.embedding_file(dataset, method_name))
    manifest = read_manifest(paths.shard_dir(dataset))
    source = source_from_manifest(manifest)
    method = load_method(paths.model_file(dataset, method_name), device)
    sampler = source if source is not None and emb.factor_names else None

    def encode(images: np.ndarray) -> np.ndarray:
        return encode_images(method, images, device)

    with stage_run(cfg, "evaluate", dataset, method_name) as run:
        t0 = time.perf_counter()
        metrics = evaluate_encoder(emb, cfg.evaluate, seed, sampler=sampler, encode=encode if sampler else None,
                                   n_jobs=cfg.train.threads or -1)
        if method.has_decoder:
            metrics.update(_interpolation(method, manifest, seed, device))
        seconds = time.perf_counter() - t0
        run.log_metrics(metrics)
        run.log_metrics({"evaluate/seconds": seconds})
        out = paths.metrics_file(dataset, method_name)
        write_json(out, {"dataset": dataset, "method": method_name, "family": method.family, "metrics": metrics,
                         "training": training_summary(paths.train_log(dataset, method_name))})
        run.log_artifact(out)
        plots = paths.plots_dir(dataset, method_name)
        n = min(cfg.report.scatter_points, len(emb.test_z))
        fig = embedding_scatter(emb.test_z[:n], emb.test_targets[:n], emb.target_names, f"{dataset}/{method_name}", cfg.report.projection, seed)
        _save_fig(run, fig, plots / "embedding.png")
        if method.has_decoder:
            _decoder_plots(run, method, manifest, plots, device)
    print(f"{dataset}/{method_name}: {len(metrics)} metrics in {seconds:.1f} s -> {out}")


def _interpolation(method, manifest, seed: int, device) -> dict[str, float]:
    """Do decoded midpoints of encoded test pairs stay on the data manifold? (interp/* keys)"""
    from ..data.loader import load_split
    from ..evaluate.interpolation import interpolation_metrics

    images, _ = load_split(paths.shard_dir(manifest["dataset"]), manifest, "test", limit=1000)
    return interpolation_metrics(method, images, n_pairs=300, seed=seed, device=device)


def _decoder_plots(run, method, manifest, plots, device) -> None:
    """Traversals, reconstructions and interpolations for models with a decoder."""
    from ..data.loader import load_split
    from ..plots import decoders

    images, _ = load_split(paths.shard_dir(manifest["dataset"]), manifest, "test", limit=16)
    for name, fn in decoders.FIGURES.items():
        _save_fig(run, fn(method, images, device=device), plots / f"{name}.png")
