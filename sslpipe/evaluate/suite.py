"""The evaluation of one encoder: every registered metric that applies, as flat metric keys.

Definitions and keys: docs/evaluation.md (generated from the registry by ``sslpipe metrics --docs``).
"""
from __future__ import annotations

import time

from ..core.errors import ConfigError
from .base import METRICS, EvalContext  # importing sslpipe.evaluate first registers every metric
from .config import EvaluateConfig
from .embeddings import Embeddings


def focus_target(emb: Embeddings, cfg: EvaluateConfig) -> str:
    if not emb.target_names:
        return ""  # word embeddings: the text metrics name the word tags they read
    if cfg.focus_target != "auto":
        if cfg.focus_target not in emb.target_names:
            raise ConfigError("evaluate.focus_target", f"{cfg.focus_target!r} is not a target of this dataset.",
                              f"use auto or one of: {', '.join(emb.target_names)}.")
        return cfg.focus_target
    return "shape" if "shape" in emb.target_names else emb.target_names[0]


def evaluate_encoder(emb: Embeddings, cfg: EvaluateConfig, seed: int, timings: dict[str, float] | None = None,
                     **context) -> dict[str, float]:
    """Every registered metric of the embeddings' modality that applies to this context, with its ``evaluate.metrics`` settings.

    ``timings``, if given, receives each metric's wall seconds by name (the evaluate stage logs them
    to MLflow and ``sslpipe bench --study`` sums them over the study).
    """
    ctx = EvalContext(emb, seed, focus_target(emb, cfg), n_boot=cfg.bootstrap, **context)
    out: dict[str, float] = {}
    for m in METRICS.in_order():
        if m.modality in ctx.reads and m.applies(ctx):
            t0 = time.perf_counter()
            out.update(m(ctx, cfg.metrics.get(m.name)))
            if timings is not None:
                timings[m.name] = time.perf_counter() - t0
    return out
