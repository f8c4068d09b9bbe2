"""pretrain: stream a dataset's shards and train one method; save the model and the training curve."""
from __future__ import annotations

import csv
import math
import time

from .. import paths
from ..checkpoint import save_method
from ..config import Config, params_hash, stage_param_keys, stage_params
from ..data.loader import load_split, to_device, train_batches
from ..data.shards import verify_shards
from ..io import atomic_path
from ..methods.base import MethodContext, build_method
from ..train import fit_gradient, seed_everything, select_device
from .common import stage_run


def write_curve(path, rows: list[dict]) -> None:
    fields = ["step"] + sorted({k for r in rows for k in r} - {"step"}) if rows else ["step", "loss"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def run(cfg: Config, dataset: str, method_name: str, stop_after: int | None = None) -> None:
    cfg.run(dataset, method_name)
    shard_dir = paths.shard_dir(dataset)
    manifest = verify_shards(shard_dir, splits=("train",))
    tcfg = cfg.method_train(method_name)
    seed_everything(cfg.study.seed, tcfg.threads)
    device = select_device(tcfg.device)
    info = manifest["info"]
    ctx = MethodContext(info["channels"], info["resolution"], cfg.backbone, cfg.study.seed)
    method = build_method(method_name, cfg.methods[method_name], ctx)
    sp = stage_params(cfg.raw, stage_param_keys("pretrain", dataset, method_name))
    rows: list[dict] = []
    with stage_run(cfg, "pretrain", dataset, method_name) as run:
        run.log_shards(shard_dir, manifest, "train")

        def on_log(step: int, logs: dict) -> None:
            rows.append({"step": step, **logs})
            run.log_metrics(logs, step)

        t0 = time.perf_counter()
        resume = paths.resume_file(dataset, method_name)
        if method.trainable and tcfg.steps > 0:
            batches = train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, cfg.study.seed)
            key = params_hash({**sp, "shards": [s["sha256"] for s in manifest["splits"]["train"]["shards"]]})
            result = fit_gradient(method, tcfg, batches, device, resume_path=resume, resume_key=key, on_log=on_log, stop_after=stop_after)
            if result.steps < tcfg.steps:
                print(f"stopped after {result.steps} of {tcfg.steps} steps; rerun to resume")
                return
            run.log_metrics({"train/images_per_s": result.images_per_s, "train/final_loss": result.final_loss})
        elif method.fit_samples:
            images, _ = load_split(shard_dir, manifest, "train", limit=method.fit_samples)
            logs = method.to(device).fit(to_device(images, device))
            run.log_metrics(logs)
        seconds = time.perf_counter() - t0
        run.log_metrics({"train/seconds": seconds})
        out = paths.model_file(dataset, method_name)
        save_method(out, method, dataset=dataset)
        write_curve(paths.train_log(dataset, method_name), [r for r in rows if all(isinstance(v, (int, float)) and math.isfinite(v) for v in r.values())])
        run.log_artifact(out, "model")
        run.log_artifact(paths.train_log(dataset, method_name))
        resume.unlink(missing_ok=True)
    print(f"{dataset}/{method_name}: model written to {out} ({seconds:.1f} s)")
