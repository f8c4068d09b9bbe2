"""Typed ``evaluate`` and ``report`` sections of params.yaml.

``evaluate.metrics.<name>`` holds the settings of each registered metric, typed by its
``Params`` dataclass: their defaults are the papers' (Locatello et al. 2019); what the study
sets lower for its CPU budget is written in params.yaml as a departure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.schema import build, check, one_of, positive
from .base import METRICS  # importing sslpipe.evaluate first registers every metric


@dataclass
class EmbedConfig:
    n_train: int = check(3000, positive, help="training-split images embedded for probes and metrics (the low-shot probes use at most this many labels).")
    n_test: int = check(1000, positive, help="test-split images embedded for probes and metrics.")
    batch_size: int = check(512, positive)
    train_tokens: int = check(100000, positive, help="text: training-split tokens (whole sentences) encoded in context; a contextual method's word vectors are their means over these.")
    probe_tokens: int = check(10000, positive, help="text: tokens of the training and of the test split kept for the per-token probes.")


@dataclass
class EvaluateConfig:
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    focus_target: str = check("auto", help="target of the label-efficiency, MLP and clustering probes ('auto': shape if present, else the first target).")
    bootstrap: int = check(200, positive, help="resamples of every bootstrap standard error and 95% interval (accuracies use the binomial standard error).")
    metrics: dict[str, Any] = check({}, help="<metric>: {setting: value} for registered metrics (see `sslpipe metrics`).")

    def validate(self, key: str) -> None:
        raw, self.metrics = self.metrics, {}
        for name in METRICS.names():
            self.metrics[name] = build(METRICS.get(name).Params, raw.get(name), f"{key}.metrics.{name}")
        for name in raw:
            METRICS.get(name, f"{key}.metrics.{name}")


@dataclass
class ReportConfig:
    projection: str = check("pca", one_of("pca", "tsne"), help="2-D projection of the embedding scatter plots.")
    scatter_points: int = check(1500, positive)
