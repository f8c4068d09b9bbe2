import numpy as np
import pytest
from PIL import Image

from sslpipe.core.schema import build
from sslpipe.data.folder import load_image, stratified_order
from sslpipe.data.loader import load_split
from sslpipe.data.shards import verify_shards, write_shards
from sslpipe.data.sources import SOURCES
from sslpipe.core.errors import ConfigError

# class -> (RGB colour, image count); sizes are non-square so the centre crop matters
CLASSES = {"cat": ((200, 30, 30), 12), "dog": ((30, 200, 30), 8), "zebra": ((30, 30, 200), 20)}


def _tree(root, classes=CLASSES):
    for i, (name, (colour, n)) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for j in range(n):
            a = np.zeros((40, 60, 3), np.uint8)
            a[:, 10:50] = colour  # the centred 40x40 square is the class colour; the edges are black
            a[:4, 10:14] = 10 * j  # a grey corner patch: images differ, so splits can be compared
            ext = ".png" if j % 2 else ".JPG"
            Image.fromarray(a).save(root / name / f"img{j:02d}{ext}", quality=95)
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def _source(root, seed=0, **kw):
    cls = SOURCES.get("folder")
    params = build(cls.Params, {"path": str(root), "n_train": 100, "n_val": 4, "n_test": 10, "resolution": 16, **kw}, "data.folder")
    return cls(params, seed)


def test_labels_class_names_sizes_and_crop(tmp_path):
    src = _source(_tree(tmp_path / "t"))
    assert src._classes == ["cat", "dog", "zebra"] and src.info().targets == ["label"]
    splits = {s: src.split(s) for s in ("train", "val", "test")}
    assert {s: len(v.images) for s, v in splits.items()} == {"train": 26, "val": 4, "test": 10} == src.split_sizes()
    for s in splits.values():
        assert s.images.shape[1:] == (3, 16, 16) and s.images.dtype == np.uint8 and s.targets.dtype == np.int64
        colours = np.array([CLASSES[n][0] for n in CLASSES])
        mean = s.images[:, :, 2:14, 2:14].mean(axis=(2, 3))  # centre-cropped: no black border anywhere
        assert np.abs(mean - colours[s.targets[:, 0]]).max() < 8  # label matches the folder's colour
    all_rows = np.concatenate([s.images.reshape(len(s.images), -1) for s in splits.values()])
    assert len(np.unique(all_rows, axis=0)) == 40  # every image exactly once across the splits
    test_counts = np.bincount(splits["test"].targets[:, 0], minlength=3)
    assert np.all(np.abs(test_counts - 10 * np.array([12, 8, 20]) / 40) <= 1)  # stratified


def test_deterministic_for_seed_and_grey(tmp_path):
    root = _tree(tmp_path / "t")
    a, b, c = _source(root, 0).split("test"), _source(root, 0).split("test"), _source(root, 1).split("test")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.images, c.images)
    grey = _source(root, 0, channels=1)
    assert SOURCES.get("folder").channels(grey.params) == 1 and grey.info().channels == 1
    g = grey.split("test")
    assert g.images.shape == (10, 1, 16, 16) and np.array_equal(g.targets, a.targets)


def test_stratified_order_prefixes_are_proportional():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    order = stratified_order(labels, np.random.default_rng(0))
    assert sorted(order) == list(range(100))
    for k in (5, 17, 40, 99):
        counts = np.bincount(labels[order[:k]], minlength=3)
        assert np.all(np.abs(counts - k * np.array([50, 30, 20]) / 100) <= 1)


def test_load_image_resizes_and_crops(tmp_path):
    a = np.zeros((30, 90, 3), np.uint8)
    a[:, 30:60] = 255
    Image.fromarray(a).save(tmp_path / "x.png")
    assert np.array_equal(load_image(tmp_path / "x.png", 16, 3), np.full((3, 16, 16), 255, np.uint8))
    assert load_image(tmp_path / "x.png", 64, 1).shape == (1, 64, 64)  # upsampled from 30x30


def test_clear_errors(tmp_path):
    cls = SOURCES.get("folder")
    with pytest.raises(ConfigError, match=r"data.folder.path: is empty.*Fix: set it to a folder"):
        build(cls.Params, {}, "data.folder")
    with pytest.raises(ConfigError, match=r"data.folder.path: .*nope.* does not exist"):
        build(cls.Params, {"path": str(tmp_path / "nope")}, "data.folder")
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="is not a directory"):
        build(cls.Params, {"path": str(tmp_path / "f.png")}, "data.folder")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ConfigError, match="has no class sub-folder with .png/.jpg/.jpeg images"):
        build(cls.Params, {"path": str(tmp_path / "empty")}, "data.folder")
    root = _tree(tmp_path / "t")
    (root / "lion").mkdir()
    with pytest.raises(ConfigError, match=r"class folder\(s\) lion .* hold no"):
        build(cls.Params, {"path": str(root)}, "data.folder")
    (root / "lion").rmdir()
    with pytest.raises(ConfigError, match=r"data.folder.n_test: n_val \+ n_test = 6000 leaves no training image of the 40"):
        build(cls.Params, {"path": str(root)}, "data.folder")
    with pytest.raises(ConfigError, match=r"data.folder.channels"):
        build(cls.Params, {"path": str(root), "channels": 2, "n_val": 2, "n_test": 2}, "data.folder")


def test_round_trips_through_shards(tmp_path):
    src = _source(_tree(tmp_path / "t"), chunk_size=8, shard_chunks=2)
    write_shards(src, tmp_path / "sh", "folder", log=lambda *_: None)
    m = verify_shards(tmp_path / "sh")
    assert m["info"]["targets"] == ["label"]
    for split in ("train", "val", "test"):
        images, targets = load_split(tmp_path / "sh", m, split)
        ref = src.split(split)
        assert np.array_equal(images, ref.images) and np.array_equal(targets, ref.targets)
