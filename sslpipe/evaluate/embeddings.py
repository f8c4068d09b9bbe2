"""The evaluate stage's embeddings: representations of held-out images with their targets, or of words and tokens.

Stored as one ``.npz`` per encoder (``embeddings/<dataset>/<method>.npz``); a text encoder's
file (:class:`WordEmbeddings`) names its modality, and :func:`load_embeddings` reads either.
"""
from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..core.errors import DataError
from ..core.io import save_npz


@dataclass
class Embeddings:
    modality: ClassVar[str] = "image"
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

    def target(self, name: str, split: str = "train") -> np.ndarray:
        t = self.train_targets if split == "train" else self.test_targets
        return t[:, self.target_names.index(name)]

    def factors(self, split: str = "train") -> np.ndarray:
        t = self.train_targets if split == "train" else self.test_targets
        return t[:, [self.target_names.index(f) for f in self.factor_names]]

    def save(self, path: str | Path) -> None:
        _save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        return _load(cls, path)


@dataclass
class WordEmbeddings:
    """A text encoder's representation: its word-vector table and vectors of tokens in context (per-token probes).

    Word ids index the shard manifest's vocabulary, whose tags and evaluation lists the text
    metrics read.  Static methods' token vectors are their words' vectors; contextual
    methods' word vectors are means over the encoded training tokens (``word_occurrences``).
    """

    modality: ClassVar[str] = "text"
    target_names: ClassVar[list[str]] = []  # no image targets: the text metrics name the word tags they read
    word_vectors: np.ndarray  # float32 [V, D]
    word_occurrences: np.ndarray  # int64 [V]: occurrences among the encoded training tokens
    train_ids: np.ndarray  # int64 [N]: training-split tokens (per-token probe training)
    train_z: np.ndarray  # float32 [N, D]: their vectors in context
    test_ids: np.ndarray  # int64 [M]: test-split tokens (per-token probe evaluation)
    test_z: np.ndarray  # float32 [M, D]

    def save(self, path: str | Path) -> None:
        _save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "WordEmbeddings":
        return _load(cls, path)


@dataclass
class ClipEmbeddings(Embeddings):
    """A video encoder's representation: per-frame codes (the rows above, clip-major: frame t of
    clip i is row i * T + t, their targets the per-frame factors) and the clips' own labels.

    Every image metric reads the per-frame rows; the video metrics add what needs clips.
    """

    modality: ClassVar[str] = "video"
    clip_target_names: list[str] = field(default_factory=list)
    clip_train_targets: np.ndarray | None = None  # int64 [N / T, K]
    clip_test_targets: np.ndarray | None = None  # int64 [M / T, K]

    @property
    def frames(self) -> int:
        """Frames per clip."""
        return len(self.train_z) // len(self.clip_train_targets)

    def clip_codes(self, split: str = "train") -> np.ndarray:
        """Each clip's time-averaged frame code [clips, D]."""
        z = self.train_z if split == "train" else self.test_z
        return z.reshape(-1, self.frames, z.shape[1]).mean(1)

    def clip_target(self, name: str, split: str = "train") -> np.ndarray:
        t = self.clip_train_targets if split == "train" else self.clip_test_targets
        return t[:, self.clip_target_names.index(name)]


EMBEDDINGS = {"image": Embeddings, "text": WordEmbeddings, "video": ClipEmbeddings}


def _save(emb, path: str | Path) -> None:
    arrays = {k: v for k, v in emb.__dict__.items() if isinstance(v, np.ndarray)}
    meta = {f"meta_{k}": np.asarray(v, dtype=np.int64 if k == "factor_sizes" else str) for k, v in emb.__dict__.items() if isinstance(v, list)}
    tag = {"modality": np.asarray(emb.modality)} if emb.modality != "image" else {}  # image files stay as they were
    save_npz(path, **arrays, **meta, **tag)


def _where(path: Path) -> str:
    return f"evaluate@{path.parent.name}-{path.stem}"


def _read(path: Path) -> dict:
    if not path.exists():
        raise DataError(f"missing embeddings {path}. Fix: run its evaluate stage (`dvc repro {_where(path)}`).")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        _unreadable(path, e)


def _unreadable(path: Path, e: Exception):
    problem = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    raise DataError(f"unreadable embeddings {path} ({problem}). Fix: rebuild them with `dvc repro -f {_where(path)}`.") from None


def _build(cls, path: Path, arrays: dict):
    try:
        kw = {}
        for k, v in arrays.items():
            if k == "modality":
                continue
            if k.startswith("meta_"):
                v = v.tolist()
                kw[k[5:]] = [int(x) for x in v] if k == "meta_factor_sizes" else [str(x) for x in v]
            else:
                kw[k] = v
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        if required - set(kw):
            raise ValueError(f"missing {', '.join(sorted(required - set(kw)))}")
        return cls(**kw)
    except (ValueError, TypeError) as e:
        _unreadable(path, e)


def _modality(arrays: dict) -> str:
    return str(arrays["modality"]) if "modality" in arrays else "image"  # files without one hold images


def _load(cls, path: str | Path):
    path = Path(path)
    arrays = _read(path)
    if _modality(arrays) != cls.modality:
        _unreadable(path, ValueError(f"it holds {_modality(arrays)} embeddings, not {cls.modality}"))
    return _build(cls, path, arrays)


def load_embeddings(path: str | Path) -> Embeddings | WordEmbeddings:
    """The embeddings file of either modality (its ``modality`` entry)."""
    path = Path(path)
    arrays = _read(path)
    if _modality(arrays) not in EMBEDDINGS:
        _unreadable(path, ValueError(f"unknown modality {_modality(arrays)!r}"))
    return _build(EMBEDDINGS[_modality(arrays)], path, arrays)
