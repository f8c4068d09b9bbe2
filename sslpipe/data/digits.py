"""scikit-learn's bundled handwritten digits (1,797 8x8 images), upsampled; label = the digit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import check, positive
from ..core.errors import ConfigError
from .sources import SOURCES, DataSource, SourceInfo, SourceParams, Split, resolution_check

N_DIGITS = 1797


@dataclass
class DigitsParams(SourceParams):
    n_train: int = check(1197, positive)
    n_val: int = check(100, positive)
    n_test: int = check(500, positive)
    resolution: int = check(32, resolution_check)

    def validate(self, key: str) -> None:
        total = self.n_train + self.n_val + self.n_test
        if total > N_DIGITS:
            raise ConfigError(f"{key}.n_train", f"n_train + n_val + n_test = {total} exceeds the {N_DIGITS} images of the digits dataset.", "lower the split sizes (default 1197/100/500).")


@SOURCES.register("digits")
class Digits(DataSource):
    Params = DigitsParams

    @classmethod
    def channels(cls, params) -> int:
        return 1

    def info(self) -> SourceInfo:
        return SourceInfo(1, self.params.resolution, ["digit"])

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
        x = F.interpolate(x, size=(self.params.resolution,) * 2, mode="bilinear", align_corners=False)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), d.target.astype(np.int64)

    def split(self, name: str) -> Split:
        images, labels = self._all()
        p = self.params
        pick = split_indices(labels, p.n_train, p.n_val, p.n_test, self.seed)[name]
        return Split(images[pick], labels[pick][:, None])


def load_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as float32 [N, 8, 8] in [0, 1] and their labels int64 [N]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def split_indices(labels: np.ndarray, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Disjoint, class-stratified indices of the digits per split (deterministic for the seed)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=n_test, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, train_size=n_train, stratify=labels[rest], random_state=seed)
    return {"train": train, "val": val, "test": test}
