"""Process runtime shared by every stage: seeding, thread limits, device choice.

Here rather than in the training loop so that embed, evaluate and bench get them without
importing it.
"""
from __future__ import annotations

import random

import numpy as np

from .errors import ConfigError


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def select_device(name: str = "auto"):
    """The torch device for ``train.device`` (auto: CUDA, then MPS, then CPU)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", "is 'cuda' but no CUDA device is available.", "set train.device: auto or cpu.")
    return torch.device(name)


def seed_everything(seed: int, threads: int = 0) -> None:
    """Seed every RNG and ask torch for deterministic kernels (CPU runs are then repeatable)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        # CPU kernels are already deterministic; the call itself imports torch._dynamo (~1.5 s per stage)
        torch.use_deterministic_algorithms(True, warn_only=True)
    if threads > 0:
        # Oversubscribed cores make torch's OpenMP workers spin: 2-thread throughput fell from
        # 5.6k to 0.4k images/s with another busy process on a 2-core machine. Limit BLAS too.
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
