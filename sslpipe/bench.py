"""``sslpipe bench``: where the time goes, in images per second.

(a) reading shards, (b) each method's Kornia view generation, (c) a training step on
synthetic in-memory tensors, (d) the same step fed from shards, and (d)/(c): how much the
data pipeline costs the trainer (1.0 = free).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .core import paths
from .config import Config
from .core.errors import DataError
from .data.loader import iter_chunks, to_device, train_batches
from .data.shards import shard_urls, verify_shards
from .methods.base import MethodContext, build_method
from .core.runtime import seed_everything, select_device
from .train import make_optimizer


def _rate(n_images: int, seconds: float) -> float:
    return n_images / max(seconds, 1e-9)


def read_rate(shard_dir, manifest) -> float:
    t0, n = time.perf_counter(), 0
    for images, _ in iter_chunks(shard_urls(shard_dir, manifest, "train")):
        n += len(images)
    return _rate(n, time.perf_counter() - t0)


def step_rate(method, cfg, batches, device, steps: int) -> float:
    opt = make_optimizer(method.optim_parameters(), cfg)
    method.train()

    def step():
        x = to_device(next(batches), device)
        loss, _ = method.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        method.on_step_end(0)
        return x.shape[0]

    step()  # warm-up
    t0, n = time.perf_counter(), 0
    for _ in range(steps):
        n += step()
    return _rate(n, time.perf_counter() - t0)


def view_rate(method, x: torch.Tensor, repeats: int = 5) -> float | None:
    with torch.no_grad():
        if method.views(x) is None:
            return None
        t0 = time.perf_counter()
        for _ in range(repeats):
            method.views(x)
    return _rate(repeats * x.shape[0], time.perf_counter() - t0)


def run(cfg: Config, dataset: str, methods: list[str] | None, steps: int) -> None:
    shard_dir = paths.shard_dir(dataset)
    manifest = verify_shards(shard_dir, splits=("train",))
    if manifest.get("modality", "image") != "image":
        raise DataError(f"dataset {dataset!r} holds {manifest['modality']}; bench measures image pipelines. Fix: bench an image dataset.")
    info = manifest["info"]
    device = select_device(cfg.train.device)
    seed_everything(cfg.study.seed, cfg.train.threads)
    names = methods or list(dict.fromkeys(r.method for r in cfg.runs() if r.dataset == dataset))
    print(f"device {device}, {torch.get_num_threads()} threads, dataset {dataset} {info['channels']}x{info['resolution']}x{info['resolution']}")
    print(f"(a) read shards: {read_rate(shard_dir, manifest):,.0f} images/s")
    print(f"{'method':16s} {'(b) views':>12s} {'(c) synthetic':>14s} {'(d) shards':>12s} {'(d)/(c)':>8s} {'steps':>6s} {'train s':>8s}")
    total = 0.0
    for name in names:
        tcfg = cfg.method_train(name)
        method = build_method(name, cfg.methods[name], MethodContext(info["channels"], info["resolution"], cfg.backbone, cfg.study.seed)).to(device)
        if not method.trainable:
            print(f"{name:16s} {'-':>12s} {'(not trained)':>14s}")
            continue
        shape = (tcfg.batch_size, info["channels"], info["resolution"], info["resolution"])
        rng = np.random.default_rng(0)
        synthetic = [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(2)]
        views = view_rate(method, to_device(synthetic[0], device))

        def cycle():
            while True:
                yield from synthetic

        c = step_rate(method, tcfg, cycle(), device, steps)
        d = step_rate(method, tcfg, train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, cfg.study.seed), device, steps)
        vtxt = f"{views:,.0f}" if views else "-"
        seconds = tcfg.steps * tcfg.batch_size / d  # the pretrain stage's training time at this rate
        total += seconds
        print(f"{name:16s} {vtxt:>12s} {c:>14,.0f} {d:>12,.0f} {d / c:>8.2f} {tcfg.steps:>6d} {seconds:>8.1f}")
    print(f"training time of these methods at their configured steps: {total:.0f} s (stage start-up and evaluation not included)")
