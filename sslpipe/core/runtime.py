"""Process runtime shared by every stage: seeding, thread limits, device choice.

Here rather than in the training loop so that evaluate and bench get them without
importing it.
"""
from __future__ import annotations

import random

import numpy as np

from .errors import ConfigError

#: When set, a stage writes the seconds of its phases (config, open, work, close) to this JSON
#: file (``sslpipe bench --study`` times a stage's fixed cost with it).
TIMES_ENV = "SSLPIPE_STAGE_TIMES"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _device_available(name: str) -> bool:
    import torch

    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps and mps.is_available())
    return True


def check_device(name: str, key: str = "train.device") -> None:
    """Raise a ConfigError when ``name`` (auto, cpu, cuda, mps) is a device this machine lacks.

    ``train.device`` is checked with the rest of params.yaml, so ``sslpipe validate`` refuses
    ``cuda`` on a machine without CUDA before any stage runs.
    """
    if not _device_available(name):
        raise ConfigError(key, f"is {name!r} but no {name.upper()} device is available on this machine.", "set train.device: auto or cpu.")


def select_device(name: str = "auto"):
    """The torch device for ``train.device`` (auto: CUDA, then MPS, then CPU; a named one must exist)."""
    import torch

    if name == "auto":
        return torch.device(next((d for d in ("cuda", "mps") if _device_available(d)), "cpu"))
    check_device(name)
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
