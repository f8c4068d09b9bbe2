"""pretrain: stream a dataset's shards and train one run (a method with its seed and overrides); save the model and the training curve."""

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
    from ..methods.base import build_method
    from ..modalities import modality_of
    from ..train import fit_gradient

    cfg, dataset, name, spec = ctx.cfg, ctx.dataset, ctx.name, ctx.spec
    shard_dir, manifest = ctx.shards("train")
    modality = modality_of(manifest)
    seed = ctx.seed
    ctx.setup_runtime(seed, cfg.method_train(spec).threads, cfg.train.device)
    device = ctx.device
    method = build_method(ctx.method, cfg.method_params(spec), modality.context(manifest, cfg, spec, seed))
    tcfg = modality.train_config(cfg, spec, method, shard_dir, manifest, seed)
    run = ctx.run
    trains = method.trainable and tcfg.steps > 0
    if tcfg.system_metrics and (trains or method.fit_samples):
        # an untrained run (random_init) has nothing to monitor, and importing MLflow's monitors
        # (about 3 s on 2 cores) would be most of its stage
        run.start_system_metrics()
    rows: list[dict] = []

    def on_log(step: int, logs: dict) -> None:
        rows.append({"step": step, **logs})
        run.log_metrics(logs, step)

    t0 = time.perf_counter()
    resume = paths.resume_file(dataset, name)
    if trains:
        batches = modality.train_stream(method, shard_dir, manifest, tcfg, seed)
        key = params_hash({**ctx.params(), "shards": [s["sha256"] for s in manifest["splits"]["train"]["shards"]],
                           "code": source_hash(*ctx.stage.code)})
        result = fit_gradient(method, tcfg, batches, device, resume_path=resume, resume_key=key, on_log=on_log, stop_after=stop_after)
        if result.steps < tcfg.steps:
            print(f"stopped after {result.steps} of {tcfg.steps} steps; rerun to resume")
            return
        run.log_metrics({f"train/{modality.examples}_per_s": result.images_per_s, "train/final_loss": result.final_loss, "train/steps": tcfg.steps,
                         "train/data_wait_fraction": result.data_wait_fraction,
                         "train/first_batch_seconds": result.first_batch_seconds},
                        encoder=True)
    elif method.fit_samples:
        logs = method.to(device).fit(modality.fit_input(method, shard_dir, manifest, device))
        run.log_metrics(logs)
    seconds = time.perf_counter() - t0
    run.log_metrics({"train/seconds": seconds}, encoder=True)
    out = paths.model_file(dataset, name)
    save_method(out, method, dataset=dataset)
    exported = modality.encoder_model(method, shard_dir, manifest)
    if exported is not None:
        run.log_model(*exported, name="encoder")
    write_curve(paths.train_log(dataset, name), [r for r in rows if all(isinstance(v, (int, float)) and math.isfinite(v) for v in r.values())])
    run.log_artifact(out, "model")
    run.log_artifact(paths.train_log(dataset, name))
    resume.unlink(missing_ok=True)
    print(f"{dataset}/{name}: model written to {out} ({seconds:.1f} s)")


STAGE = Stage(
    name="pretrain",
    help="pretrain one method on one dataset (resumes after a kill)",
    over="runs",
    params=("runs.{key}", "backbone", "train", "methods.{method}"),
    deps=("data/shards/{dataset}",),
    code=("sslpipe/methods", "sslpipe/models", "sslpipe/losses", "sslpipe/augment", "sslpipe/modalities", "sslpipe/data/loader.py", "sslpipe/data/prefetch.py",
          "sslpipe/data/shards.py", "sslpipe/data/textloader.py", "sslpipe/data/text.py", "sslpipe/train.py", "sslpipe/checkpoint.py",
          "sslpipe/stages/pretrain.py"),
    trains=True,
    outs=(
        Out("models/{dataset}/{run}/model.pt"),
        Out("logs/{dataset}/{run}/train.csv", kind="plots", options={"x": "step", "y": "loss", "cache": False}),
    ),
    run=run,
)
