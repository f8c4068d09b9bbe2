"""Typed ``evaluate`` and ``report`` sections of params.yaml.

Where a default is lower than the paper's (Locatello et al. 2019), the help text says so: the
default study must evaluate 37 encoders on 2 CPU cores; the ``paper`` preset restores them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, one_of, positive


def _sizes(v) -> str | None:
    return None if v and all(isinstance(n, int) and n > 0 for n in v) else "must be a non-empty list of positive integers"


@dataclass
class EmbedConfig:
    n_train: int = check(3000, positive, help="training-split images embedded for probes and metrics (the low-shot probes use at most this many labels).")
    n_test: int = check(1000, positive, help="test-split images embedded for probes and metrics.")
    batch_size: int = check(512, positive)


@dataclass
class EvaluateConfig:
    embed: EmbedConfig = check(None)
    knn_k: int = check(20, positive)
    max_iter: int = check(500, positive, help="iterations of the logistic-regression probe.")
    mlp_hidden: int = check(64, positive, help="hidden units of the one-hidden-layer MLP probe.")
    focus_target: str = check("auto", help="target of the label-efficiency, MLP and clustering probes ('auto': shape if present, else the first target).")
    lowshot_sizes: list[int] = check([10, 100, 1000], _sizes, help="labelled-sample counts of the low-shot probes (Locatello et al.: 10, 100, 1,000, 10,000; sizes above evaluate.embed.n_train are skipped).")
    mig_bins: int = check(20, positive, help="histogram bins per code dimension (Locatello et al.: 20).")
    model_max_train: int = check(600, positive, help="training codes of DCI's boosted trees and explicitness's logistic regressions (Locatello et al.: 10,000).")
    dci_estimators: int = check(10, positive, help="trees per DCI classifier (sklearn's default, used by Locatello et al.: 100).")
    sampled_batch_size: int = check(16, positive, help="batch size of the BetaVAE/FactorVAE points (Locatello et al.: 64).")
    sampled_train: int = check(150, positive, help="BetaVAE/FactorVAE training points (Locatello et al.: 10,000).")
    sampled_eval: int = check(75, positive, help="BetaVAE/FactorVAE evaluation points (Locatello et al.: 5,000).")
    factorvae_var_samples: int = check(1000, positive, help="samples for FactorVAE's global variances (Locatello et al.: 10,000).")
    modularity_bins: int = check(20, positive, help="histogram bins of the modularity MI matrix (Locatello et al.: 20).")

    def __post_init__(self):
        if self.embed is None:
            self.embed = EmbedConfig()


@dataclass
class ReportConfig:
    projection: str = check("pca", one_of("pca", "tsne"), help="2-D projection of the embedding scatter plots.")
    scatter_points: int = check(1500, positive)
