"""Where every stage reads and writes (relative to the project root); dvc.yaml uses the same layout."""
from __future__ import annotations

from pathlib import Path


def shard_dir(dataset: str) -> Path:
    return Path("data/shards") / dataset


def model_dir(dataset: str, method: str) -> Path:
    return Path("models") / dataset / method


def model_file(dataset: str, method: str) -> Path:
    return model_dir(dataset, method) / "model.pt"


def train_log(dataset: str, method: str) -> Path:
    return Path("logs") / dataset / method / "train.csv"


def resume_file(dataset: str, method: str) -> Path:
    """Outside DVC's outputs (DVC deletes outputs before a rerun), so a killed stage can resume."""
    return Path(".cache/resume") / f"{dataset}-{method}.pt"


def embedding_file(dataset: str, method: str) -> Path:
    return Path("embeddings") / dataset / f"{method}.npz"


def metrics_file(dataset: str, method: str) -> Path:
    return Path("metrics") / dataset / f"{method}.json"


def plots_dir(dataset: str, method: str) -> Path:
    return Path("plots") / dataset / method


REPORTS = Path("reports")
