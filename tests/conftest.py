"""Shared fixtures: a tiny toy data source, so pipeline tests do not depend on a real dataset's size."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from sslpipe.core.schema import check, positive
from sslpipe.data.sources import SPLITS, SOURCES, DataSource, SourceInfo, SourceParams, Split

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@dataclass
class ToyParams(SourceParams):
    n_train: int = check(300, positive)
    n_val: int = check(40, positive)
    n_test: int = check(100, positive)
    resolution: int = check(16, positive)
    chunk_size: int = check(32, positive)
    shard_chunks: int = check(3, positive)


if "toy" not in SOURCES:

    @SOURCES.register("toy")
    class Toy(DataSource):
        """Squares of two sizes at random positions: factors (size, x)."""

        Params = ToyParams

        @classmethod
        def channels(cls, params):
            return 1

        def info(self):
            return SourceInfo(1, self.params.resolution, ["size", "x"], ["size", "x"], [2, 4], ["x"])

        def render(self, factors):
            r = self.params.resolution
            out = np.zeros((len(factors), 1, r, r), np.uint8)
            for i, (s, x) in enumerate(factors):
                w = 3 + 3 * s
                out[i, 0, 2:2 + w, 1 + 2 * x:1 + 2 * x + w] = 255
            return out

        def split(self, name):
            n = self.split_sizes()[name]
            f = self.sample_factors(n, np.random.default_rng(split_seed(self.seed, name)))
            return Split(self.render(f), f)


def split_seed(seed: int, split: str) -> int:
    """A per-split seed so that the toy source's splits are independent and reproducible."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)[0])


@pytest.fixture
def toy_source():
    return SOURCES.get("toy")(ToyParams(), seed=0)


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
