"""shard: generate a dataset's splits and write them as WebDataset shards + manifest."""
from __future__ import annotations

import time

from .. import paths
from ..config import Config
from ..data.shards import write_shards
from ..data.sources import SOURCES
from .common import stage_run


def run(cfg: Config, dataset: str) -> None:
    if dataset not in cfg.study.datasets:
        from ..errors import ConfigError

        raise ConfigError("study.datasets", f"{dataset!r} is not a dataset of the study.", f"add it to study.datasets (known: {', '.join(cfg.study.datasets)}).")
    source = SOURCES.get(dataset)(cfg.data[dataset], cfg.study.seed)
    out = paths.shard_dir(dataset)
    with stage_run(cfg, "shard", dataset) as run:
        t0 = time.perf_counter()
        manifest = write_shards(source, out, dataset)
        run.log_metrics({f"images/{s}": v["count"] for s, v in manifest["splits"].items()} | {"seconds": time.perf_counter() - t0})
        run.log_shards(out, manifest, "shards")
        run.log_artifact(out / "manifest.json")
    print(f"shards of {dataset} written to {out}")
