"""The per-modality contract of the stages (see the package docstring)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

from ..core.registry import Registry


class Modality:
    """One kind of data through pretrain and evaluate (embedding, metrics)."""

    name: ClassVar[str]
    #: what the trainer's rate counts (the MLflow key ``train/<examples>_per_s``)
    examples: ClassVar[str] = "examples"

    # --- pretrain ------------------------------------------------------------------------
    def context(self, manifest: dict, cfg, run, seed: int) -> Any:
        """The method context of a run (its backbone overrides, its seed) built from the shard manifest."""
        raise NotImplementedError

    def train_config(self, cfg, run, method, shard_dir: Path, manifest: dict, seed: int):
        """The run's resolved training config (``Config.method_train``)."""
        return cfg.method_train(run)

    def train_stream(self, method, shard_dir: Path, manifest: dict, tcfg, seed: int) -> Iterator:
        """The endless, seeded stream of training batches the shared loop consumes."""
        raise NotImplementedError

    def fit_input(self, method, shard_dir: Path, manifest: dict, device):
        """What a fitted (non-gradient) baseline's ``fit`` gets from the training split."""
        raise NotImplementedError

    def encoder_model(self, method, shard_dir: Path, manifest: dict) -> tuple[Any, Any] | None:
        """The trained encoder as a torch module for users (an MLflow Model) with a numpy input
        example from the shards, or None where the modality has no such model."""
        return None

    # --- embed ---------------------------------------------------------------------------
    def embed(self, method, shard_dir: Path, manifest: dict, ecfg, device) -> tuple[Any, dict[str, float]]:
        """The embeddings file's content (``evaluate.embeddings``) and the counts to log."""
        raise NotImplementedError

    # --- evaluate ------------------------------------------------------------------------
    def eval_inputs(self, method, emb, manifest: dict, device) -> dict[str, Any]:
        """Extra fields of the metrics' ``EvalContext`` (e.g. a renderer of factor combinations)."""
        return {}

    def figures(self, method, emb, manifest: dict, shard_dir: Path, rcfg, seed: int, device, title: str, ecfg=None) -> dict[str, Any]:
        """File name -> matplotlib figure (saved as PNG) or text (saved as is), written under plots/ (``ecfg``: the evaluate section)."""
        return {}


MODALITIES: Registry[type[Modality]] = Registry("modality")


def modality_of(manifest: dict) -> Modality:
    """The modality a shard manifest names (image manifests name none)."""
    return MODALITIES.get(manifest.get("modality", "image"), "manifest.modality")()
