"""The evaluation of one encoder: every applicable probe and metric, as flat metric keys.

Keys: ``linear|knn/<t>`` for every target, ``r2/<t>`` for ordinal ones, ``mlp/<t>``,
``lowshot/<lr|gbt>@<n>/<t>``, ``efficiency/<t>``, ``kmeans/<nmi|ari>/<t>`` for the focus target,
``alignment``/``uniformity``, and on datasets with factors ``mig``, ``dci/*``, ``sap``,
``sap_continuous``, ``modularity``, ``explicitness`` and (with a renderer) ``betavae``,
``factorvae``.  Definitions: docs/evaluation.md.
"""
from __future__ import annotations

from .clustering import kmeans_scores
from .config import EvaluateConfig
from .disentangle import beta_vae_score, dci, factor_vae_score, mig, modularity_explicitness, sap
from .embeddings import Embeddings
from .geometry import alignment, uniformity
from .lowshot import low_shot
from .probes import knn_probe, linear_probe, mlp_probe, r2_probe


def focus_target(emb: Embeddings, cfg: EvaluateConfig) -> str:
    if cfg.focus_target != "auto":
        if cfg.focus_target not in emb.target_names:
            from ..errors import ConfigError

            raise ConfigError("evaluate.focus_target", f"{cfg.focus_target!r} is not a target of this dataset.",
                              f"use auto or one of: {', '.join(emb.target_names)}.")
        return cfg.focus_target
    return "shape" if "shape" in emb.target_names else emb.target_names[0]


def probe_metrics(emb: Embeddings, cfg: EvaluateConfig, seed: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in emb.target_names:
        ytr, yte = emb.target(name, "train"), emb.target(name, "test")
        out[f"linear/{name}"] = linear_probe(emb.train_z, ytr, emb.test_z, yte, cfg.max_iter, seed)
        out[f"knn/{name}"] = knn_probe(emb.train_z, ytr, emb.test_z, yte, cfg.knn_k)
        if name in emb.ordinal:
            out[f"r2/{name}"] = r2_probe(emb.train_z, ytr, emb.test_z, yte)
    t = focus_target(emb, cfg)
    ytr, yte = emb.target(t, "train"), emb.target(t, "test")
    out[f"mlp/{t}"] = mlp_probe(emb.train_z, ytr, emb.test_z, yte, cfg.mlp_hidden, seed=seed)
    out.update({f"lowshot/{k}/{t}" if k != "efficiency" else f"efficiency/{t}": v
                for k, v in low_shot(emb.train_z, ytr, emb.test_z, yte, cfg.lowshot_sizes, seed=seed).items()})
    out.update({f"kmeans/{k}/{t}": v for k, v in kmeans_scores(emb.test_z, yte, seed=seed).items()})
    return out


def disentanglement_metrics(emb: Embeddings, cfg: EvaluateConfig, seed: int, sampler=None, encode=None, n_jobs: int = 1) -> dict[str, float]:
    ztr, zte, ftr, fte = emb.train_z, emb.test_z, emb.factors("train"), emb.factors("test")
    n = cfg.model_max_train
    out = dict(mig(ztr, ftr, cfg.mig_bins, seed=seed))
    out.update({f"dci/{k}": v for k, v in dci(ztr[:n], ftr[:n], zte, fte, n_estimators=cfg.dci_estimators, seed=seed, n_jobs=n_jobs).items()})
    out.update(sap(ztr, ftr, zte, fte, seed=seed))
    out.update(sap(ztr, ftr, zte, fte, continuous=True, seed=seed))
    out.update(modularity_explicitness(ztr[:n], ftr[:n], zte, fte, cfg.modularity_bins, seed=seed))
    if sampler is not None and encode is not None:
        kw = dict(batch_size=cfg.sampled_batch_size, n_train=cfg.sampled_train, n_eval=cfg.sampled_eval, seed=seed)
        out.update(beta_vae_score(sampler, encode, **kw))
        out.update(factor_vae_score(sampler, encode, n_var_est=cfg.factorvae_var_samples, **kw))
    return out


def evaluate_encoder(emb: Embeddings, cfg: EvaluateConfig, seed: int, sampler=None, encode=None, n_jobs: int = 1) -> dict[str, float]:
    out = probe_metrics(emb, cfg, seed)
    if emb.pair_z1 is not None:
        out["alignment"] = alignment(emb.pair_z1, emb.pair_z2)
        out["uniformity"] = uniformity(emb.test_z[:2000])
    if emb.factor_names:
        out.update(disentanglement_metrics(emb, cfg, seed, sampler, encode, n_jobs))
    return out
