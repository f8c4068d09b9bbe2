"""The embed stage's output: representations of held-out images with their targets.

Stored as one ``.npz`` per encoder (``embeddings/<dataset>/<method>.npz``).
"""
from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.io import save_npz


@dataclass
class Embeddings:
    train_z: np.ndarray  # float32 [N, D]: train-split images (probe / metric training)
    train_targets: np.ndarray  # int64 [N, T]
    test_z: np.ndarray  # float32 [M, D]: test-split images (probe / metric evaluation)
    test_targets: np.ndarray  # int64 [M, T]
    target_names: list[str]
    factor_names: list[str] = field(default_factory=list)  # targets that are ground-truth factors
    factor_sizes: list[int] = field(default_factory=list)
    ordinal: list[str] = field(default_factory=list)  # ordered targets (regression R^2 applies)
    pair_z1: np.ndarray | None = None  # [P, D] codes of a standard augmentation of test images
    pair_z2: np.ndarray | None = None  # [P, D] codes of a second, independent augmentation
    # video datasets: the rows above are frames, clip-major (frame t of clip i is row i * T + t),
    # their targets the per-frame factors; the clips' own labels are below
    clip_target_names: list[str] = field(default_factory=list)
    clip_train_targets: np.ndarray | None = None  # int64 [N / T, K]
    clip_test_targets: np.ndarray | None = None  # int64 [M / T, K]

    @property
    def frames(self) -> int:
        """Frames per clip (0: an image dataset)."""
        return len(self.train_z) // len(self.clip_train_targets) if self.clip_train_targets is not None else 0

    def clip_codes(self, split: str = "train") -> np.ndarray:
        """Each clip's time-averaged frame code [clips, D]."""
        z = self.train_z if split == "train" else self.test_z
        return z.reshape(-1, self.frames, z.shape[1]).mean(1)

    def clip_target(self, name: str, split: str = "train") -> np.ndarray:
        t = self.clip_train_targets if split == "train" else self.clip_test_targets
        return t[:, self.clip_target_names.index(name)]

    def target(self, name: str, split: str = "train") -> np.ndarray:
        t = self.train_targets if split == "train" else self.test_targets
        return t[:, self.target_names.index(name)]

    def factors(self, split: str = "train") -> np.ndarray:
        t = self.train_targets if split == "train" else self.test_targets
        return t[:, [self.target_names.index(f) for f in self.factor_names]]

    def save(self, path: str | Path) -> None:
        arrays = {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        meta = {f"meta_{k}": np.asarray(v, dtype=np.int64 if k == "factor_sizes" else str) for k, v in self.__dict__.items() if isinstance(v, list)}
        save_npz(path, **arrays, **meta)

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        path = Path(path)
        stage = f"embed@{path.parent.name}-{path.stem}"
        if not path.exists():
            raise DataError(f"missing embeddings {path}. Fix: run its embed stage (`dvc repro {stage}`).")
        try:
            with np.load(path, allow_pickle=False) as f:
                kw = {}
                for k in f.files:
                    if k.startswith("meta_"):
                        v = f[k].tolist()
                        kw[k[5:]] = [int(x) for x in v] if k == "meta_factor_sizes" else [str(x) for x in v]
                    else:
                        kw[k] = f[k]
            required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
            if required - set(kw):
                raise ValueError(f"missing {', '.join(sorted(required - set(kw)))}")
            return cls(**kw)
        except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
            problem = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise DataError(f"unreadable embeddings {path} ({problem}). Fix: rebuild them with `dvc repro -f {stage}`.") from None
