"""CIFAR-10 (Krizhevsky 2009) from its python pickle batches in a local folder; never downloaded.

Get https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, extract it and point
``data.cifar10.path`` at the ``cifar-10-batches-py`` folder (data_batch_1..5,
test_batch, batches.meta).  train and val are drawn from the 50,000 images of the data
batches (val first, stratified by class; the default 45k/5k is the usual split), test
from the 10,000 of test_batch; n_train and n_test are capped by the images available.  Images are
3x32x32, area-averaged to 16 or nearest-upsampled to 64/128 by ``resolution``.  The
batches are pickles: only point ``path`` at files you trust.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.schema import check, positive
from ..core.errors import ConfigError
from .folder import stratified_order
from .sources import SOURCES, DataSource, SourceInfo, SourceParams, Split, downsample, resolution_check

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FILES = ("batches.meta", *TRAIN_FILES, "test_batch")


def read_batch(file: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, 3, 32, 32] images and int64 [N] labels of one pickle batch (rows are R, G, B planes)."""
    with open(file, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    return np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(d[b"labels"], dtype=np.int64)


def check_files(path: str, key: str = "data.cifar10") -> None:
    """Raise a ConfigError naming the first missing CIFAR-10 file and where to get it."""
    fix = f"download {URL}, extract it and set {key}.path to the extracted cifar-10-batches-py folder."
    if not path:
        raise ConfigError(f"{key}.path", "is empty.", fix)
    for name in FILES:
        if not (Path(path).expanduser() / name).is_file():
            raise ConfigError(f"{key}.path", f"CIFAR-10 file {name!r} is missing in {str(path)!r}.", fix)


@dataclass
class Cifar10Params(SourceParams):
    n_train: int = check(45000, positive, help="capped by the 50,000 data-batch images left after val.")
    n_val: int = check(5000, positive, help="taken first from the 50,000 data-batch images.")
    n_test: int = check(10000, positive, help="capped by the 10,000 test_batch images.")
    resolution: int = check(32, resolution_check, help="CIFAR-10 is 32x32: 16 area-averages, 64/128 upsample.")
    path: str = check("data/raw/cifar-10-batches-py", help=f"the folder extracted from {URL}.")

    def validate(self, key: str) -> None:
        check_files(self.path, key)


@SOURCES.register("cifar10")
class Cifar10(DataSource):
    Params = Cifar10Params

    def __init__(self, params, seed: int):
        super().__init__(params, seed)
        self._data: dict | None = None

    @classmethod
    def channels(cls, params) -> int:
        return 3

    def info(self) -> SourceInfo:
        check_files(self.params.path)
        return SourceInfo(3, self.params.resolution, ["label"])

    def _load(self) -> dict:
        """Both pools and the split indices into them, read once per source."""
        if self._data is None:
            path = Path(self.params.path).expanduser()
            check_files(self.params.path)
            train = [read_batch(path / f) for f in TRAIN_FILES]
            pool = (np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]))
            test = read_batch(path / "test_batch")
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xC1]))
            order, test_order = stratified_order(pool[1], rng), stratified_order(test[1], rng)
            p = self.params
            if p.n_val >= len(order):
                raise ConfigError("data.cifar10.n_val", f"{p.n_val} leaves no training image of the {len(order)} in the data batches.", "lower data.cifar10.n_val (default 5000).")
            idx = {"train": order[p.n_val:][:p.n_train], "val": order[:p.n_val], "test": test_order[:p.n_test]}
            self._data = {"pool": pool, "test": test, "idx": idx}
        return self._data

    def split_sizes(self) -> dict[str, int]:
        return {s: len(i) for s, i in self._load()["idx"].items()}

    def split(self, name: str) -> Split:
        d = self._load()
        images, labels = d["test" if name == "test" else "pool"]
        pick = d["idx"][name]
        return Split(downsample(images[pick], self.params.resolution), labels[pick][:, None])
