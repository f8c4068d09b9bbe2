"""pretrain: stream a dataset's shards and train one method; save the model and the training curve."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

import csv
import math
import time

from ..core import paths
from ..core.io import atomic_path
from ..core.codeversion import source_hash
from ..core.schema import params_hash
from .base import Out, Stage, StageContext


def write_curve(path, rows: list[dict]) -> None:
    fields = ["step"] + sorted({k for r in rows for k in r} - {"step"}) if rows else ["step", "loss"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def run(ctx: StageContext, stop_after: int | None = None) -> None:
    from ..checkpoint import save_method
    from ..data.loader import frames_of, load_split, to_device, train_batches
    from ..methods.base import MethodContext, build_method
    from ..train import fit_gradient

    cfg, dataset, method_name = ctx.cfg, ctx.dataset, ctx.method
    shard_dir, manifest = ctx.shards("train")
    tcfg = cfg.method_train(method_name)
    ctx.setup_runtime(cfg.study.seed, tcfg.threads, tcfg.device)
    device = ctx.device
    info = manifest["info"]
    mctx = MethodContext(info["channels"], info["resolution"], cfg.backbone, cfg.study.seed)
    method = build_method(method_name, cfg.methods[method_name], mctx)
    run = ctx.run
    run.log_shards(shard_dir, manifest, "train")
    rows: list[dict] = []

    def on_log(step: int, logs: dict) -> None:
        rows.append({"step": step, **logs})
        run.log_metrics(logs, step)

    t0 = time.perf_counter()
    resume = paths.resume_file(dataset, method_name)
    video = "frames" in manifest  # a video dataset: clip methods get clips, image methods its frames
    if method.trainable and tcfg.steps > 0:
        batches = train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, cfg.study.seed, frames=video and not method.clips)
        key = params_hash({**ctx.params(), "shards": [s["sha256"] for s in manifest["splits"]["train"]["shards"]],
                           "code": source_hash(*ctx.stage.code)})
        result = fit_gradient(method, tcfg, batches, device, resume_path=resume, resume_key=key, on_log=on_log, stop_after=stop_after)
        if result.steps < tcfg.steps:
            print(f"stopped after {result.steps} of {tcfg.steps} steps; rerun to resume")
            return
        run.log_metrics({"train/images_per_s": result.images_per_s, "train/final_loss": result.final_loss})
    elif method.fit_samples:
        images, _ = load_split(shard_dir, manifest, "train", limit=-(-method.fit_samples // manifest["frames"]) if video else method.fit_samples)
        images = frames_of(images)[:method.fit_samples] if video else images
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


STAGE = Stage(
    name="pretrain",
    help="pretrain one method on one dataset (resumes after a kill)",
    over="runs",
    params=("study.seed", "backbone", "train", "methods.{method}"),
    deps=("data/shards/{dataset}",),
    code=("sslpipe/methods", "sslpipe/models", "sslpipe/losses", "sslpipe/augment", "sslpipe/train.py", "sslpipe/checkpoint.py", "sslpipe/stages/pretrain.py"),
    outs=(
        Out("models/{dataset}/{method}"),
        Out("logs/{dataset}/{method}/train.csv", kind="plots", options={"x": "step", "y": "loss", "cache": False}),
    ),
    run=run,
)
