"""The metric contract: one signature for every metric of the evaluation suite.

A metric is registered by name with its ``Params`` dataclass (defaults: the paper's settings;
the study's cheaper values are departures written in params.yaml under
``evaluate.metrics.<name>``), the predicate saying where it applies, the report columns it
contributes, and a function ``fn(ctx, params) -> {key: value}`` of one :class:`EvalContext`.
Adding a metric means one module that registers it (imported by ``sslpipe.evaluate``) and its
test: the evaluate stage, params.yaml's schema, the report's columns and docs/evaluation.md's
list all come from this registry (modelled on disentanglement_lib's one-signature metrics).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.registry import Registry
from .embeddings import Embeddings


@dataclass
class NoParams:
    """A metric without settings."""


@dataclass
class EvalContext:
    """What a metric may use: the embeddings, the data's renderer and the trained encoder."""

    emb: Embeddings
    seed: int
    focus: str  # the target of the single-target probes (evaluate.focus_target)
    n_jobs: int = 1
    sampler: Any = None  # a source with a renderer (factor combinations -> images), or None
    encode: Callable[[np.ndarray], np.ndarray] | None = None  # uint8 images -> codes
    method: Any = None  # the trained method (decoder metrics), or None
    shard_dir: Path | None = None
    manifest: dict | None = None
    device: Any = "cpu"

    @property
    def has_factors(self) -> bool:
        return bool(self.emb.factor_names)

    @property
    def has_pairs(self) -> bool:
        return self.emb.pair_z1 is not None


def always(ctx: EvalContext) -> bool:
    return True


def with_factors(ctx: EvalContext) -> bool:
    return ctx.has_factors


def with_renderer(ctx: EvalContext) -> bool:
    return ctx.has_factors and ctx.sampler is not None and ctx.encode is not None


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[EvalContext, Any], dict[str, float]]
    Params: type
    applies: Callable[[EvalContext], bool]
    #: report columns, ``{t}`` standing for the headline target (summary.md's per-dataset table)
    columns: tuple[str, ...]
    #: the keys it returns, as written in docs/evaluation.md
    keys: str
    paper: str  # the reference whose definition and defaults it follows
    doc: str = field(default="", compare=False)

    def __call__(self, ctx: EvalContext, params=None) -> dict[str, float]:
        return self.fn(ctx, self.Params() if params is None else params)


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, *, keys: str, paper: str, Params: type = NoParams, applies=always, columns: tuple[str, ...] = ()):
    """Register ``fn(ctx, params) -> dict`` as metric ``name`` (its docstring becomes its doc)."""

    def deco(fn):
        METRICS.register(name)(Metric(name, fn, Params, applies, columns, keys, paper, (fn.__doc__ or "").strip()))
        return fn

    return deco
