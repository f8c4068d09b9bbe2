"""embed: the encoder's representation of held-out data (images with their targets and augmented pairs; word and token vectors)."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

from ..core import paths
from .base import Out, Stage, StageContext


def run(ctx: StageContext) -> None:
    from ..modalities import modality_of

    cfg, dataset, name = ctx.cfg, ctx.dataset, ctx.name
    ctx.setup_runtime(ctx.seed, cfg.train.threads, cfg.train.device)
    shard_dir, manifest = ctx.shards("train", "test")
    method = ctx.model()
    emb, counts = modality_of(manifest).embed(method, shard_dir, manifest, cfg.evaluate.embed, ctx.device)
    out = paths.embedding_file(dataset, name)
    emb.save(out)
    ctx.run.log_metrics(counts)
    ctx.run.log_artifact(out, "embeddings")
    print(f"{dataset}/{name}: embeddings written to {out}")


STAGE = Stage(
    name="embed",
    help="embed held-out data (images; words and tokens) with a trained encoder",
    over="runs",
    params=("runs.{key}.seed", "train.threads", "train.device", "evaluate.embed"),
    deps=("data/shards/{dataset}", "models/{dataset}/{run}"),
    # the encoder's code too (the model file holds weights; the method, backbone and loss modules
    # compute the codes): tests/stages/test_declarations.py checks every module a run executes
    code=("sslpipe/methods", "sslpipe/models", "sslpipe/losses", "sslpipe/augment", "sslpipe/checkpoint.py", "sslpipe/modalities",
          "sslpipe/data/shards.py", "sslpipe/data/loader.py", "sslpipe/data/textloader.py", "sslpipe/evaluate/embeddings.py",
          "sslpipe/evaluate/words.py", "sslpipe/stages/embed.py"),
    outs=(Out("embeddings/{dataset}/{run}.npz"),),
    run=run,
)
