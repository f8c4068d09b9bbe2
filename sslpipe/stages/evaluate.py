"""evaluate: embed held-out data with one encoder (images with their targets and augmented pairs; word
and token vectors), then every registered metric that applies to it, plus its plots.

Embedding and evaluating were two stages; each process and DVC's bookkeeping for it cost more
than the embedding itself (0.2-0.6 s of work against 2-4 s per stage, 75 stages in the default
study), and a change that reran one reran the other.  The embeddings stay an output of their own.
"""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

import csv
import time


from ..core import paths
from ..core.io import atomic_path, write_json, write_text
from .base import Out, Stage, StageContext


def _save(run, obj, path) -> None:
    """A figure as PNG, or text as is; then logged to the tracked run's plots."""
    if isinstance(obj, str):
        write_text(path, obj)
    else:
        import matplotlib.pyplot as plt

        with atomic_path(path) as tmp:
            obj.savefig(tmp, format="png", dpi=90)
        plt.close(obj)
    run.log_artifact(path, "plots")


#: what a method's training curve says about its code at the end (the VAE family logs both), averaged
#: over the last LAST_LOGS logged steps: how many units are active (Burda et al. 2016) and the KL in nats
DIAGNOSTICS = ("active_units", "kl")
LAST_LOGS = 5


def training_summary(curve) -> dict | None:
    """Steps, first/last training loss and the final diagnostics from pretrain's curve (a declared dependency).

    ``active_units`` near 0 with a KL near 0 is a collapsed posterior: the code carries no
    information about the image, which the report flags.
    """
    if not curve.exists():
        return None
    with open(curve, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("loss")]
    if not rows:
        return None
    out = {"steps": int(float(rows[-1]["step"])), "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"])}
    for k in DIAGNOSTICS:
        values = [float(r[k]) for r in rows[-LAST_LOGS:] if r.get(k) not in (None, "")]
        if values:
            out[k] = sum(values) / len(values)
    return out


def run(ctx: StageContext) -> None:
    from ..core.runtime import seed_everything
    from ..evaluate.suite import evaluate_encoder
    from ..modalities import modality_of
    from ..tracking import METRIC_SECONDS

    cfg, dataset, name = ctx.cfg, ctx.dataset, ctx.name
    seed = ctx.seed
    ctx.setup_runtime(seed, cfg.train.threads, cfg.train.device)
    device = ctx.device
    shard_dir, manifest = ctx.shards("train", "test")
    modality = modality_of(manifest)
    method = ctx.model()
    run = ctx.run
    emb, counts = modality.embed(method, shard_dir, manifest, cfg.evaluate.embed, device)
    emb_file = paths.embedding_file(dataset, name)
    emb.save(emb_file)
    run.log_metrics(counts)
    run.log_artifact(emb_file, "embeddings")
    # the metrics start from the seeded state, as when embedding was a process of its own: the
    # augmented pairs above drew from the global generators (the device stays as chosen)
    seed_everything(seed, cfg.train.threads)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    metrics = evaluate_encoder(emb, cfg.evaluate, seed, timings, n_jobs=cfg.train.threads or -1, method=method, shard_dir=shard_dir,
                               manifest=manifest, device=device, **modality.eval_inputs(method, emb, manifest, device))
    seconds = time.perf_counter() - t0
    run.log_metrics(metrics, encoder=True)
    # where the stage's time goes, per metric (MLflow only: metrics/*.json stays the same for the same params)
    run.log_metrics({"evaluate/seconds": seconds, **{f"{METRIC_SECONDS}{k}": v for k, v in timings.items()}})
    out = paths.metrics_file(dataset, name)
    write_json(out, {"dataset": dataset, **ctx.identity(), "family": method.family, "metrics": metrics,
                     "training": training_summary(paths.train_log(dataset, name))})
    run.log_artifact(out)
    plots = paths.plots_dir(dataset, name)
    for file, obj in modality.figures(method, emb, manifest, shard_dir, cfg.report, seed, device, f"{dataset}/{name}", cfg.evaluate).items():
        _save(run, obj, plots / file)
    print(f"{dataset}/{name}: {len(metrics)} metrics in {seconds:.1f} s -> {out}")


STAGE = Stage(
    name="evaluate",
    help="embed held-out data with one encoder, then every registered metric of it, and its plots",
    over="runs",
    params=("runs.{key}.seed", "train.threads", "train.device", "evaluate", "report.scatter_points", "report.projection"),
    deps=("data/shards/{dataset}", "models/{dataset}/{run}/model.pt", "logs/{dataset}/{run}/train.csv"),
    # the encoder's code (it computes the codes; sampling-based metrics and the video tasks encode new
    # images) and the sources' renderers (sslpipe/data): tests/stages/test_declarations.py checks every module a run executes
    code=("sslpipe/evaluate", "sslpipe/plots", "sslpipe/methods", "sslpipe/models", "sslpipe/losses", "sslpipe/augment",
          "sslpipe/checkpoint.py", "sslpipe/modalities", "sslpipe/data", "sslpipe/stages/evaluate.py"),
    outs=(Out("embeddings/{dataset}/{run}.npz"), Out("metrics/{dataset}/{run}.json"), Out("plots/{dataset}/{run}")),
    run=run,
)
