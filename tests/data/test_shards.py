import hashlib

import numpy as np
import pytest

from sslpipe.data.loader import load_split, train_batches
from sslpipe.data.shards import read_manifest, verify_shards, write_shards
from sslpipe.core.errors import DataError


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_round_trip_is_exact(tmp_path, toy_source):
    write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    manifest = verify_shards(tmp_path / "toy")
    for split in ("train", "val", "test"):
        ref = toy_source.split(split)
        images, targets = load_split(tmp_path / "toy", manifest, split)
        assert np.array_equal(images, ref.images) and np.array_equal(targets, ref.targets)
        assert sum(s["count"] for s in manifest["splits"][split]["shards"]) == len(ref.images)
    assert manifest["info"]["factors"] == ["size", "x"]
    assert len(manifest["splits"]["train"]["shards"]) == 4  # 300 images / 32 per record / 3 records per shard


def test_shards_are_byte_identical_for_same_params(tmp_path, toy_source):
    write_shards(toy_source, tmp_path / "a", "toy", log=lambda *_: None)
    write_shards(toy_source, tmp_path / "b", "toy", log=lambda *_: None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_corrupted_and_missing_shards_are_named(tmp_path, toy_source):
    d = tmp_path / "toy"
    write_shards(toy_source, d, "toy", log=lambda *_: None)
    shard = d / "train-00001.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF
    shard.chmod(0o644)
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"corrupted shard .*train-00001.tar.*Fix: rebuild"):
        verify_shards(d)
    shard.unlink()
    with pytest.raises(DataError, match=r"missing shard .*train-00001.tar"):
        verify_shards(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="corrupted shard manifest"):
        read_manifest(d)


def test_stream_is_deterministic_shuffled_and_complete(tmp_path, toy_source):
    write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    m = read_manifest(tmp_path / "toy")
    take = lambda seed: [next(it) for it in [train_batches(tmp_path / "toy", m, 50, 2, seed)] for _ in range(6)]  # noqa: E731
    a, b, c = take(1), take(1), take(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    epoch = np.concatenate(a)  # 6 x 50 = one epoch of 300: every image exactly once
    ref = toy_source.split("train").images
    key = lambda arr: sorted(x.tobytes() for x in arr)  # noqa: E731
    assert key(epoch) == key(ref)
    assert not np.array_equal(epoch, ref)
