"""Final model files: everything needed to rebuild a trained method without params.yaml.

A model file holds only tensors and plain data (names, numbers, lists, dicts) and is read
with :func:`sslpipe.core.io.load_torch`, which refuses anything else: model files travel through
DVC remotes and MLflow artifact stores, and unpickling arbitrary objects runs code.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .core.errors import ConfigError, DataError
from .core.io import load_torch, save_torch
from .core.schema import build, unrecorded
from .methods.base import CONTEXTS, METHODS, Method


def save_method(path: str | Path, method: Method, **meta) -> None:
    ctx = method.ctx
    save_torch(path, {
        "method": method.name,
        "params": dataclasses.asdict(method.params),
        "context": {"modality": ctx.modality, **ctx.to_data()},
        "state_dict": method.state_dict(),
        "extra_state": method.extra_state(),
        **meta,
    })


def load_method(path: str | Path, device: torch.device | str = "cpu") -> Method:
    path = Path(path)
    stage = f"pretrain@{path.parent.parent.name}-{path.parent.name}"
    if not path.exists():
        raise DataError(f"missing model {path}. Fix: run its pretrain stage (`dvc repro {stage}`).")
    fix = f"rebuild it with `dvc repro -f {stage}` (and load model files only from stores you trust)."
    ck = load_torch(path, map_location=device, fix=fix)
    try:
        cls = METHODS.get(ck["method"])
        c = ck["context"]
        with unrecorded():  # the model file's own settings, not params.yaml's
            params = build(cls.Params, ck["params"], f"methods.{ck['method']}")
        ctx = CONTEXTS.get(c.get("modality", "image")).from_data(c)  # files without one predate text data
        method = cls(params, ctx)
        method.load_state_dict(ck["state_dict"])
        method.load_extra_state(ck["extra_state"])
    except (RuntimeError, KeyError, TypeError, ValueError, ConfigError) as e:
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: not a model this version of sslpipe can rebuild ({problem}). Fix: {fix}") from None
    return method.to(device).eval()


@torch.no_grad()
def encode_images(method: Method, images, device: torch.device | str = "cpu", batch_size: int = 512):
    """Codes [N, D] (float32 numpy) of uint8 images [N, C, R, R]."""
    import numpy as np

    from .data.loader import to_device

    method.eval()
    out = [method.encode(to_device(images[i:i + batch_size], torch.device(device))).float().cpu().numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, method.ctx.code_dim), np.float32)


class ImageEncoder(torch.nn.Module):
    """A trained method's encoder as a plain module: images [N, C, R, R] in, codes [N, D] out.

    uint8 images are scaled to [0, 1] as the evaluate stage does when it embeds; float images are taken as
    already in [0, 1].  This is what sslpipe logs as an MLflow Model: it pickles as the
    method's model-file content (tensors and plain data) and is rebuilt by
    :func:`encoder_from_data` on load, so a new process needs ``sslpipe`` importable and
    nothing of the training code's objects.  sslpipe's own stages never unpickle it; they
    read model files with :func:`load_method`.
    """

    def __init__(self, method: Method):
        super().__init__()
        self.method = method.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
        return self.method.encode(x.to(next(self.method.parameters(), torch.empty(0)).device)).float()

    def __reduce__(self):
        method = self.method
        data = {"method": method.name, "params": dataclasses.asdict(method.params),
                "context": {"modality": method.ctx.modality, **method.ctx.to_data()},
                "state_dict": {k: v.detach().cpu() for k, v in method.state_dict().items()}, "extra_state": method.extra_state()}
        return encoder_from_data, (data,)


def encoder_from_data(data: dict) -> ImageEncoder:
    """The :class:`ImageEncoder` of a method's model-file content (on the CPU, in eval mode)."""
    cls = METHODS.get(data["method"])
    with unrecorded():
        params = build(cls.Params, data["params"], f"methods.{data['method']}")
    method = cls(params, CONTEXTS.get(data["context"].get("modality", "image")).from_data(data["context"]))
    method.load_state_dict(data["state_dict"])
    method.load_extra_state(data["extra_state"])
    return ImageEncoder(method.eval())
