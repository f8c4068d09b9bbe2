"""Stream shards into uint8 batches: the only way training data reaches the trainer.

WebDataset reads the tar records (one chunk of images each); shuffling mixes a buffer of
``shuffle_buffer`` chunks (shard order permuted per epoch, samples permuted across the
buffered chunks), all from one seeded numpy generator, so a run is deterministic and a
resumed run can replay the stream to the exact batch it stopped at.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import webdataset as wds

from ..core.errors import DataError
from .shards import shard_urls


IMAGE_ENTRIES = ("images.npy", "targets.npy")


def _decode(sample: dict, names: tuple[str, ...] = IMAGE_ENTRIES) -> tuple[np.ndarray, ...]:
    try:
        return tuple(np.load(io.BytesIO(sample[n]), allow_pickle=False) for n in names)
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"bad record {sample.get('__key__')!r} in {sample.get('__url__')}: {e}. Fix: rebuild the shards.") from None


def iter_records(urls: list[str], names: tuple[str, ...]) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield the arrays stored under ``names`` in each record of the shards in ``urls``, in order."""
    pipeline = wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples())
    try:
        for sample in pipeline:
            yield _decode(sample, names)
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"cannot read shards {urls}: {e}. Fix: rebuild the shards.") from None


def iter_chunks(urls: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (images, targets) chunks of the shards in ``urls``, in order."""
    return iter_records(urls, IMAGE_ENTRIES)


def load_split(shard_dir: str | Path, manifest: dict, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` images and targets of a split, in stored order."""
    imgs, tgts, n = [], [], 0
    for images, targets in iter_chunks(shard_urls(shard_dir, manifest, split)):
        imgs.append(images)
        tgts.append(targets)
        n += len(images)
        if limit is not None and n >= limit:
            break
    images, targets = np.concatenate(imgs), np.concatenate(tgts)
    return (images[:limit], targets[:limit]) if limit is not None else (images, targets)


def load_arrays(shard_dir: str | Path, manifest: dict, split: str, names, limit: int | None = None) -> dict[str, np.ndarray]:
    """The first ``limit`` samples of the arrays ``names`` of a split (e.g. clips with their masks), in stored order."""
    names = tuple(names)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    n = 0
    for record in iter_records(shard_urls(shard_dir, manifest, split), tuple(f"{k}.npy" for k in names)):
        for k, a in zip(names, record):
            parts[k].append(a)
        n += len(record[0])
        if limit is not None and n >= limit:
            break
    return {k: np.concatenate(v)[:limit] for k, v in parts.items()}


def frames_of(clips: np.ndarray) -> np.ndarray:
    """Clips [N, T, ...] as a frame stream [N * T, ...] (clip-major: frame t of clip i is row i * T + t)."""
    return clips.reshape(-1, *clips.shape[2:])


def train_batches(shard_dir: str | Path, manifest: dict, batch_size: int, shuffle_buffer: int, seed: int, split: str = "train",
                  frames: bool = False) -> Iterator[np.ndarray]:
    """An endless, shuffled stream of uint8 batches from a split's shards.

    Batches are samples as stored: images [B, C, R, R], or clips [B, T, C, R, R] of a video
    dataset.  ``frames=True`` streams a video dataset's frames instead ([B, C, R, R], shuffled
    across the buffered clips), which is how image methods train on video datasets.
    """
    urls = shard_urls(shard_dir, manifest, split)
    per_sample = manifest.get("frames", 1) if frames else 1
    total = manifest["splits"][split]["count"] * per_sample
    if total < batch_size:
        raise DataError(f"split {split} of {Path(shard_dir).name} has {total} {'frames' if frames else 'samples'}, fewer than batch_size {batch_size}. Fix: lower train.batch_size or raise data.<dataset>.n_{split}.")
    rng = np.random.default_rng(seed)
    carry = None
    while True:  # epochs
        order = [urls[i] for i in rng.permutation(len(urls))]
        buffer: list[np.ndarray] = []
        for images, _ in iter_chunks(order):
            buffer.append(frames_of(images) if frames and "frames" in manifest else images)
            if len(buffer) < shuffle_buffer:
                continue
            carry = yield from _emit(buffer, carry, batch_size, rng)
            buffer = []
        if buffer:
            carry = yield from _emit(buffer, carry, batch_size, rng)


def _emit(buffer, carry, batch_size, rng):
    pool = np.concatenate(([carry] if carry is not None else []) + buffer)
    pool = pool[rng.permutation(len(pool))]
    n_full = len(pool) // batch_size * batch_size
    for start in range(0, n_full, batch_size):
        yield pool[start:start + batch_size]
    return pool[n_full:] if n_full < len(pool) else None


def to_device(batch, device: torch.device):
    """uint8 image batch -> float [0, 1] on ``device`` (pinned, non-blocking copy on CUDA); a dict of integer arrays (token batches) -> int64 tensors."""
    if isinstance(batch, dict):
        return {k: _move(torch.from_numpy(v).long(), device) for k, v in batch.items()}
    return _move(torch.from_numpy(batch), device).float().div_(255.0)


def batch_len(batch) -> int:
    """Examples in a batch: images, or the first array of a token batch."""
    return len(next(iter(batch.values()))) if isinstance(batch, dict) else batch.shape[0]


def _move(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
