import pickle

import numpy as np
import pytest

from sslpipe.core.schema import build
from sslpipe.data.cifar10 import read_batch
from sslpipe.data.loader import load_split
from sslpipe.data.shards import verify_shards, write_shards
from sslpipe.data.sources import SOURCES
from sslpipe.core.errors import ConfigError

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _image(idx: int, label: int) -> np.ndarray:
    """A 3x32x32 image whose red plane encodes the label and green/blue planes a unique id."""
    img = np.zeros((3, 32, 32), np.uint8)
    img[0] = 20 * label
    img[1], img[2] = idx // 256, idx % 256
    img[2, :, 16:] = 255 - idx % 256  # right half differs from left, to check the plane layout
    return img


def _fake_cifar(root, per_batch=30, n_test=40):
    """The real format: pickled dicts with b"data" uint8 [N, 3072] (R, G, B planes) and b"labels"."""
    root.mkdir(parents=True)
    idx = 0
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = [int(v) for v in np.arange(idx, idx + n) % 10]
        data = np.stack([_image(idx + i, lab).reshape(-1) for i, lab in enumerate(labels)])
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": []}, f)
        idx += n
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072, b"num_cases_per_batch": per_batch}, f)
    return root


def _source(root, seed=0, **kw):
    cls = SOURCES.get("cifar10")
    return cls(build(cls.Params, {"path": str(root), "n_train": 100, "n_val": 20, "n_test": 25, **kw}, "data.cifar10"), seed)


def test_read_batch_keeps_the_plane_layout(tmp_path):
    images, labels = read_batch(_fake_cifar(tmp_path / "c") / "data_batch_2")
    assert images.shape == (30, 3, 32, 32) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert np.array_equal(images[0], _image(30, 0)) and np.array_equal(labels[:3], [0, 1, 2])


def test_loading_shapes_labels_and_caps(tmp_path):
    root = _fake_cifar(tmp_path / "c")
    src = _source(root)
    info = src.info()
    assert info.channels == 3 and info.targets == ["label"]
    assert SOURCES.get("cifar10").channels(src.params) == 3
    assert src.split_sizes() == {"train": 100, "val": 20, "test": 25}
    splits = {s: src.split(s) for s in ("train", "val", "test")}
    for s in splits.values():
        assert s.images.shape[1:] == (3, 32, 32) and s.targets.shape == (len(s.images), 1)
        assert np.array_equal(s.images[:, 0, 0, 0], 20 * s.targets[:, 0])  # label travels with its image
    ids = {s: set(256 * v.images[:, 1, 0, 0].astype(int) + v.images[:, 2, 0, 0]) for s, v in splits.items()}
    assert not ids["train"] & ids["val"] and ids["train"] | ids["val"] <= set(range(150))
    assert ids["test"] <= set(range(150, 190))  # test comes from test_batch only
    assert np.all(np.bincount(splits["val"].targets[:, 0], minlength=10) == 2)  # stratified
    capped = _source(root, n_train=45000, n_val=30, n_test=10000)
    assert capped.split_sizes() == {"train": 120, "val": 30, "test": 40}  # capped by availability
    with pytest.raises(ConfigError, match=r"data.cifar10.n_val: 5000 leaves no training image of the 150"):
        _source(root, n_val=5000).split("train")


def test_resolution_and_determinism(tmp_path):
    root = _fake_cifar(tmp_path / "c")
    a, b, c = _source(root).split("val"), _source(root).split("val"), _source(root, seed=1).split("val")
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    lo, hi = _source(root, resolution=16).split("val"), _source(root, resolution=64).split("val")
    assert lo.images.shape[1:] == (3, 16, 16) and hi.images.shape[1:] == (3, 64, 64)
    assert np.array_equal(hi.images[:, :, ::2, ::2], a.images) and np.array_equal(lo.targets, a.targets)
    assert np.array_equal(lo.images[:, 0], a.images[:, 0, ::2, ::2])  # constant plane survives averaging


def test_missing_files_are_named_with_the_download(tmp_path):
    cls = SOURCES.get("cifar10")
    with pytest.raises(ConfigError, match=r"data.cifar10.path: CIFAR-10 file 'batches.meta' is missing.*cifar-10-python.tar.gz"):
        build(cls.Params, {"path": str(tmp_path)}, "data.cifar10")
    root = _fake_cifar(tmp_path / "c")
    (root / "data_batch_3").unlink()
    with pytest.raises(ConfigError, match=r"'data_batch_3' is missing.*Fix: download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz.*data.cifar10.path"):
        build(cls.Params, {"path": str(root)}, "data.cifar10")
    with pytest.raises(ConfigError, match="data.cifar10.path: is empty"):
        build(cls.Params, {"path": ""}, "data.cifar10")


def test_round_trips_through_shards(tmp_path):
    src = _source(_fake_cifar(tmp_path / "c"), resolution=16, chunk_size=16, shard_chunks=2)
    write_shards(src, tmp_path / "sh", "cifar10", log=lambda *_: None)
    m = verify_shards(tmp_path / "sh")
    assert m["info"]["targets"] == ["label"]
    for split in ("train", "val", "test"):
        images, targets = load_split(tmp_path / "sh", m, split)
        ref = src.split(split)
        assert np.array_equal(images, ref.images) and np.array_equal(targets, ref.targets)
