"""Pieces every stage shares: the tracked run with exactly the parameters the stage reads."""
from __future__ import annotations

from ..config import Config, stage_param_keys, stage_params
from ..tracking import StageRun


def stage_run(cfg: Config, stage: str, dataset: str = "-", method: str = "-") -> StageRun:
    keys = stage_param_keys(stage, None if dataset == "-" else dataset, None if method == "-" else method)
    return StageRun(cfg.study.name, stage, dataset, method, stage_params(cfg.raw, keys))


def source_from_manifest(manifest: dict):
    """Rebuild the data source's renderer from the params stored in the shard manifest.

    None for sources without a renderer (digits, folder, cifar10): downstream stages read
    their shards only, so a moved image folder does not matter after sharding.
    """
    from ..config import build
    from ..data.sources import SOURCES, DataSource

    cls = SOURCES.get(manifest["dataset"])
    if cls.render is DataSource.render:
        return None
    return cls(build(cls.Params, manifest["params"], f"data.{manifest['dataset']}"), manifest["seed"])
