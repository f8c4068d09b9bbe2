"""Final model files: everything needed to rebuild a trained method without params.yaml."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .core.schema import build, unrecorded
from .models.backbones import BackboneConfig
from .core.errors import DataError
from .core.io import save_torch
from .methods.base import METHODS, Method, MethodContext


def save_method(path: str | Path, method: Method, **meta) -> None:
    ctx = method.ctx
    save_torch(path, {
        "method": method.name,
        "params": dataclasses.asdict(method.params),
        "context": {"channels": ctx.channels, "resolution": ctx.resolution, "backbone": dataclasses.asdict(ctx.backbone), "seed": ctx.seed},
        "state_dict": method.state_dict(),
        "extra_state": method.extra_state(),
        **meta,
    })


def load_method(path: str | Path, device: torch.device | str = "cpu") -> Method:
    path = Path(path)
    if not path.exists():
        raise DataError(f"missing model {path}. Fix: run its pretrain stage (`dvc repro pretrain@{path.parent.parent.name}-{path.parent.name}`).")
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
        cls = METHODS.get(ck["method"])
        c = ck["context"]
        with unrecorded():  # the model file's own settings, not params.yaml's
            params = build(cls.Params, ck["params"], f"methods.{ck['method']}")
            backbone = build(BackboneConfig, c["backbone"], "backbone")
        ctx = MethodContext(c["channels"], c["resolution"], backbone, c["seed"])
        method = cls(params, ctx)
        method.load_state_dict(ck["state_dict"])
        method.load_extra_state(ck["extra_state"])
    except (RuntimeError, KeyError, EOFError) as e:
        raise DataError(f"corrupted model file {path} ({e}). Fix: rerun its pretrain stage with `dvc repro -f`.") from None
    return method.to(device).eval()


@torch.no_grad()
def encode_images(method: Method, images, device: torch.device | str = "cpu", batch_size: int = 512):
    """Codes [N, D] (float32 numpy) of uint8 images [N, C, R, R]."""
    import numpy as np

    from .data.loader import to_device

    method.eval()
    out = [method.encode(to_device(images[i:i + batch_size], torch.device(device))).float().cpu().numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, method.ctx.code_dim), np.float32)
