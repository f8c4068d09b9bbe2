"""Typed ``evaluate`` and ``report`` sections of params.yaml."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, one_of, positive


@dataclass
class EmbedConfig:
    n_train: int = check(5000, positive, help="training-split images embedded for probes and metrics.")
    n_test: int = check(2000, positive, help="test-split images embedded for probes and metrics.")
    batch_size: int = check(512, positive)


@dataclass
class EvaluateConfig:
    embed: EmbedConfig = check(None)
    knn_k: int = check(20, positive)
    max_iter: int = check(500, positive, help="iterations of the logistic-regression probe.")
    mig_bins: int = check(20, positive)
    dci_max_train: int = check(2000, positive)

    def __post_init__(self):
        if self.embed is None:
            self.embed = EmbedConfig()


@dataclass
class ReportConfig:
    projection: str = check("pca", one_of("pca", "tsne"), help="2-D projection of the embedding scatter plots.")
    scatter_points: int = check(1500, positive)
