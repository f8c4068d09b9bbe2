"""WebDataset shards: write a source's splits as tar shards with a checksummed manifest.

Record layout: one tar entry holds a *chunk* of ``chunk_size`` images as a single
``images.npy`` (uint8 [n, C, R, R]) plus ``targets.npy`` (int64 [n, T]); a text source's
record is ``tokens.npy`` (int32 token ids of whole sentences, see ``data/text.py``); a video
source's record holds a chunk of clips (``images.npy`` uint8 [n, T, C, R, R]) and their extra
per-clip arrays (``<name>.npy``: instance masks, factor trajectories), its manifest says
``frames`` per clip and each array's dtype and per-clip shape.  Reading one
image per tar entry runs at ~5k images/s on a core (tar-header parsing dominates);
one .npy batch per entry reads at ~250k images/s (shared/STACK-NOTES.md).  Shards are
byte-identical for the same params: fixed mtime, owner and mode in every tar header.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import webdataset as wds

from ..core.errors import DataError
from ..core.io import atomic_dir
from .sources import SPLITS, DataSource

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_records(out_dir: Path, split: str, records, shard_chunks: int) -> list[dict]:
    """Write one split's ``(entries, count)`` records as ``<split>-%05d.tar`` shards; returns per-shard {file, count, sha256}.

    ``entries`` maps a tar entry suffix (``images.npy``, ``tokens.npy``) to the array stored there.
    """
    pattern = str(out_dir / f"{split}-%05d.tar")
    counts: dict[str, int] = {}
    with wds.ShardWriter(pattern, maxcount=shard_chunks, mtime=0.0, user="sslpipe", group="sslpipe", mode=0o444, verbose=0) as sink:
        for i, (entries, count) in enumerate(records):
            sink.write({"__key__": f"{split}-{i:06d}", **{k: _npy_bytes(v) for k, v in entries.items()}})
            shard = Path(sink.fname).name
            counts[shard] = counts.get(shard, 0) + count
    return [{"file": f, "count": c, "sha256": sha256_file(out_dir / f)} for f, c in counts.items()]


UNITS = {"image": "images", "text": "tokens", "video": "clips"}


def write_shards(source: DataSource, out_dir: str | Path, dataset: str, log=print) -> dict:
    """Generate every split of ``source`` and write shards + manifest atomically into ``out_dir``.

    A split's ``count`` is its number of images (image sources) or tokens (text sources).
    """
    p = source.params
    with atomic_dir(out_dir) as tmp:
        splits = {}
        for split in SPLITS:
            shards = write_records(tmp, split, source.records(split), p.shard_chunks)
            count = sum(s["count"] for s in shards)
            splits[split] = {"count": count, **source.split_summary(split), "shards": shards}
            log(f"  {split}: {count} {UNITS.get(source.modality, 'samples')} in {len(shards)} shard(s)")
        manifest = {
            "format": FORMAT_VERSION,
            "dataset": dataset,
            "seed": source.seed,
            "params": dataclasses.asdict(p),
            **source.manifest_fields(),
            "splits": splits,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(shard_dir: str | Path) -> dict:
    path = Path(shard_dir) / MANIFEST
    fix = f"rebuild the shards: `dvc repro shard@{Path(shard_dir).name}` (or `sslpipe shard {Path(shard_dir).name}`)."
    if not path.exists():
        raise DataError(f"missing shard manifest {path}. Fix: {fix}")
    try:
        manifest = json.loads(path.read_text())
        manifest["splits"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"corrupted shard manifest {path} ({e}). Fix: {fix}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise DataError(f"shard manifest {path} has format {manifest.get('format')}, expected {FORMAT_VERSION}. Fix: {fix}")
    return manifest


def verify_shards(shard_dir: str | Path, splits=SPLITS) -> dict:
    """Check every shard of ``splits`` exists and matches its manifest checksum; returns the manifest."""
    shard_dir = Path(shard_dir)
    manifest = read_manifest(shard_dir)
    fix = f"rebuild the shards: `dvc repro -f shard@{shard_dir.name}` (or `sslpipe shard {shard_dir.name}`)."
    for split in splits:
        for shard in manifest["splits"][split]["shards"]:
            path = shard_dir / shard["file"]
            if not path.exists():
                raise DataError(f"missing shard {path} (listed in {shard_dir / MANIFEST}). Fix: {fix}")
            digest = sha256_file(path)
            if digest != shard["sha256"]:
                raise DataError(f"corrupted shard {path}: sha256 {digest[:12]}... does not match the manifest's {shard['sha256'][:12]}.... Fix: {fix}")
    return manifest


def shard_urls(shard_dir: str | Path, manifest: dict, split: str) -> list[str]:
    return [str(Path(shard_dir) / s["file"]) for s in manifest["splits"][split]["shards"]]
