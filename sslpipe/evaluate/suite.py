"""The evaluation of one encoder: every applicable probe and metric, as flat metric keys."""
from __future__ import annotations

from .config import EvaluateConfig
from .disentangle import dci, mig
from .embeddings import Embeddings
from .geometry import alignment, uniformity
from .probes import knn_probe, linear_probe


def evaluate_encoder(emb: Embeddings, cfg: EvaluateConfig, seed: int, sampler=None, encode=None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in emb.target_names:
        ytr, yte = emb.target(name, "train"), emb.target(name, "test")
        out[f"linear/{name}"] = linear_probe(emb.train_z, ytr, emb.test_z, yte, cfg.max_iter, seed)
        out[f"knn/{name}"] = knn_probe(emb.train_z, ytr, emb.test_z, yte, cfg.knn_k)
    if emb.pair_z1 is not None:
        out["alignment"] = alignment(emb.pair_z1, emb.pair_z2)
        out["uniformity"] = uniformity(emb.test_z[:2000])
    if emb.factor_names:
        ftr, fte = emb.factors("train"), emb.factors("test")
        out.update(mig(emb.train_z, ftr, cfg.mig_bins, seed=seed))
        out.update({f"dci/{k}": v for k, v in dci(emb.train_z, ftr, emb.test_z, fte, max_train=cfg.dci_max_train, seed=seed).items()})
    return out
