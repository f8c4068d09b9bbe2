"""Where every stage reads and writes (relative to the project root); dvc.yaml uses the same layout.

``run`` is a run's name within its dataset (``<method>[-<overrides>][-s<seed>]``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def shard_dir(dataset: str) -> Path:
    return Path("data/shards") / dataset


def model_dir(dataset: str, run: str) -> Path:
    return Path("models") / dataset / run


def model_file(dataset: str, run: str) -> Path:
    return model_dir(dataset, run) / "model.pt"


def train_log(dataset: str, run: str) -> Path:
    return Path("logs") / dataset / run / "train.csv"


def resume_file(dataset: str, run: str) -> Path:
    """Outside DVC's outputs (DVC deletes outputs before a rerun), so a killed stage can resume."""
    return Path(".cache/resume") / f"{dataset}-{run}.pt"


def embedding_file(dataset: str, run: str) -> Path:
    return Path("embeddings") / dataset / f"{run}.npz"


def metrics_file(dataset: str, run: str) -> Path:
    return Path("metrics") / dataset / f"{run}.json"


def plots_dir(dataset: str, run: str) -> Path:
    return Path("plots") / dataset / run


REPORTS = Path("reports")


# --- run names: <method>[-<overrides>][-s<seed>] -----------------------------------------------
def value_label(v: Any) -> str:
    """A value as it appears in a run name: 4 -> '4', 0.5 -> '0p5', -1 -> 'm1', [0.2, 1] -> '0p2_1'."""
    if isinstance(v, (list, tuple)):
        return "_".join(value_label(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).replace(".", "p").replace("-", "m").replace("+", "")


def override_label(leaf: str, v: Any) -> str:
    """One override in a run name: numbers ``beta4``, strings ``variant_ii``, booleans ``bank`` / ``no_bank``."""
    if isinstance(v, bool):
        return leaf if v else f"no_{leaf}"
    if v is None or isinstance(v, str):
        return f"{leaf}_{v if v is not None else 'none'}"
    return f"{leaf}{value_label(v)}"


def overrides_label(overrides: dict, exclude: tuple[str, ...] = ()) -> str:
    """The variant part of a run name for nested ``overrides`` (in their order), e.g. ``beta4-width64``."""
    def leaves(d: dict, top: bool):
        for k, v in d.items():
            if top and k in exclude:
                continue
            if isinstance(v, dict):
                yield from leaves(v, False)
            else:
                yield override_label(str(k), v)

    return "-".join(leaves(overrides, True))


def run_name(method: str, variant: str, seed: int, study_seed: int) -> str:
    """``<method>[-<variant>][-s<seed>]``; the seed part is left out for the study's seed."""
    return "-".join([method] + ([variant] if variant else []) + ([f"s{seed}"] if seed != study_seed else []))
