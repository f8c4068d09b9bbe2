"""Any local ImageFolder-style tree: ``path/<class>/**/*.{png,jpg,jpeg}``; label = the class folder.

Classes are the sorted sub-folder names (as torchvision's ImageFolder), so labels do
not depend on the file system's listing order.  Images are decoded with Pillow,
converted to grey (``channels: 1``, ITU-R 601 luma) or RGB, centre-cropped to a square
and resized to ``resolution`` (box filter, i.e. area averaging, when shrinking).

Split sizes are counts: ``n_test`` then ``n_val`` images are taken first, stratified by
class; ``n_train`` is capped by the images that remain.  ``path`` is a local directory
only (nothing is downloaded); a relative path is taken from the working directory (the
project root under DVC/Snakemake).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.schema import check, one_of
from ..core.errors import ConfigError, DataError
from .sources import SOURCES, DataSource, SourceInfo, SourceParams, Split

EXTENSIONS = (".png", ".jpg", ".jpeg")


def scan(path: str, key: str = "data.folder") -> tuple[list[Path], np.ndarray, list[str]]:
    """The image files (sorted), their int64 labels and the class names of the tree at ``path``."""
    fix = "set it to a folder with one sub-folder of PNG/JPEG images per class (path/<class>/<image>.png)."
    if not path:
        raise ConfigError(f"{key}.path", "is empty.", fix)
    root = Path(path).expanduser()
    if not root.exists():
        raise ConfigError(f"{key}.path", f"{str(root)!r} does not exist.", fix)
    if not root.is_dir():
        raise ConfigError(f"{key}.path", f"{str(root)!r} is not a directory.", fix)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels, empty = [], [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not found:
            empty.append(name)
        files += found
        labels += [label] * len(found)
    if not files:
        raise ConfigError(f"{key}.path", f"{str(root)!r} has no class sub-folder with {'/'.join(EXTENSIONS)} images.", fix)
    if empty:
        raise ConfigError(f"{key}.path", f"class folder(s) {', '.join(empty)} under {str(root)!r} hold no {'/'.join(EXTENSIONS)} image.",
                          "add images to them or remove them.")
    return files, np.asarray(labels, dtype=np.int64), classes


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation whose every prefix holds each class in proportion (to within one image).

    Item ``i`` of a class of ``n`` (in shuffled order) is placed at quantile ``(i + 0.5) / n``;
    sorting all items by quantile interleaves the classes evenly.
    """
    labels = np.asarray(labels)
    key = np.empty(len(labels))
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        key[idx] = (np.arange(len(idx)) + 0.5) / len(idx)
    return np.lexsort((rng.random(len(labels)), key))


def split_indices(order: np.ndarray, n_train: int, n_val: int, n_test: int) -> dict[str, np.ndarray]:
    """test, then val, then at most ``n_train`` train items from a (stratified) order."""
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:][:n_train]}


def load_image(path: Path, resolution: int, channels: int) -> np.ndarray:
    """uint8 [C, R, R]: the image centre-cropped to a square and resized to ``resolution``."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read image {path} ({e}). Fix: replace or remove the file.") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    method = Image.Resampling.BOX if s >= resolution else Image.Resampling.BILINEAR
    a = np.asarray(im.resize((resolution, resolution), method), dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


@dataclass
class FolderParams(SourceParams):
    path: str = check("", help="a local folder with one sub-folder of images per class.")
    channels: int = check(3, one_of(1, 3), help="1 converts to grey, 3 to RGB.")

    def validate(self, key: str) -> None:
        files, _, _ = scan(self.path, key)
        if self.n_val + self.n_test >= len(files):
            raise ConfigError(f"{key}.n_test", f"n_val + n_test = {self.n_val + self.n_test} leaves no training image of the {len(files)} under {self.path!r}.",
                              f"lower {key}.n_val and {key}.n_test (e.g. 10% of the images each).")


@SOURCES.register("folder")
class Folder(DataSource):
    Params = FolderParams

    def __init__(self, params, seed: int):
        super().__init__(params, seed)
        self._files, self._labels, self._classes = scan(params.path)

    @classmethod
    def channels(cls, params) -> int:
        return params.channels

    def info(self) -> SourceInfo:
        return SourceInfo(self.params.channels, self.params.resolution, ["label"])

    def split_sizes(self) -> dict[str, int]:
        p = self.params
        return {"train": min(p.n_train, len(self._files) - p.n_val - p.n_test), "val": p.n_val, "test": p.n_test}

    def split(self, name: str) -> Split:
        p = self.params
        order = stratified_order(self._labels, np.random.default_rng(np.random.SeedSequence([self.seed, 0xF0])))
        pick = split_indices(order, p.n_train, p.n_val, p.n_test)[name]
        images = np.stack([load_image(self._files[i], p.resolution, p.channels) for i in pick])
        return Split(images, self._labels[pick][:, None])
