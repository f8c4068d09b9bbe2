"""Shared fixtures: a tiny toy data source, so pipeline tests do not depend on a real dataset's size."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sslpipe.core.schema import check, positive
from sslpipe.data.sources import SPLITS, SOURCES, DataSource, SourceInfo, SourceParams, Split

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# Stages send their own tracking journal as they end (sslpipe.tracking: "sync"), so a test reads the
# store right after a stage without waiting for a sender; tests of the deferred sender and of live
# sending set their mode themselves.  A sender a test starts exits 3 s after its last journal.
os.environ.setdefault("SSLPIPE_TRACKING", "sync")
os.environ.setdefault("SSLPIPE_SENDER_IDLE", "3")

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """The slow modules (whole-graph builds) first, each module's tests kept in order.

    ``make test`` runs the suite on two pytest-xdist workers, one module at a time per worker
    (``--dist loadfile``, so a module's fixtures are built once); a long module handed out last
    would leave one worker idle at the end, so the longest ones start first."""
    weight: dict[str, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark:  # ``slow(minutes=N)``: the module's approximate build time on 2 cores (default 1)
            name = item.module.__name__
            weight[name] = max(weight.get(name, 0.0), float(mark.kwargs.get("minutes", 1)))
    items.sort(key=lambda item: -weight.get(item.module.__name__, 0.0))


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
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)  # an earlier test's set_tracking_uri would otherwise win over the variable
    return uri


# --- small methods, subprocesses and hostile files, shared by the reliability tests ---------
def tiny_context(modality: str = "image", channels: int = 1, resolution: int = 32):
    """The smallest context of a modality: a 4-d conv code on images, a 40-word vocabulary on text."""
    from sslpipe.methods.base import MethodContext
    from sslpipe.methods.base import TextContext
    from sslpipe.models.backbones import BackboneConfig

    make = {"image": lambda: MethodContext(channels, resolution, BackboneConfig(width=8, depth=2, code_dim=4), seed=0),
            "video": lambda: MethodContext(channels, resolution, BackboneConfig(width=8, depth=2, code_dim=4), seed=0),
            "text": lambda: TextContext([200] + [120 // (1 + i // 3) for i in range(39)], seed=0)}
    return make[modality]()


def tiny_method(name: str, resolution: int = 32, modality: str | None = None, **params):
    """A registered method at a tiny size with its committed params.yaml block (``modality`` picks random_init's data)."""
    from sslpipe.config import load_raw
    from sslpipe.core.schema import build
    from sslpipe.methods.base import METHODS

    cls = METHODS.get(name)
    block = {**(load_raw(ROOT / "params.yaml")["methods"].get(name) or {}), **params}
    modality = modality or (cls.modality if cls.modality != "any" else "image")
    ctx = tiny_context(modality, 3 if cls.needs_color else 1, resolution)
    return cls(build(cls.Params, block, f"methods.{name}"), ctx)


def image_stream(channels: int, resolution: int = 32, batch: int = 8, seed: int = 0, frames: int = 0):
    """An endless seeded stream of uint8 image batches, or clips of ``frames`` frames (what the shard loader yields)."""
    rng = np.random.default_rng(seed)
    shape = (batch, frames, channels, resolution, resolution) if frames else (batch, channels, resolution, resolution)
    while True:
        yield rng.integers(0, 256, shape, dtype=np.uint8)


def tiny_tokens(vocab_size: int, n: int = 400, seed: int = 0) -> np.ndarray:
    """A seeded int32 token stream of sentences of 3 to 8 words, each ended by </s> (id 0)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        out += list(rng.integers(1, vocab_size, rng.integers(3, 9))) + [0]
    return np.asarray(out, dtype=np.int32)


def token_stream(method, batch: int = 8, seed: int = 0):
    """An endless seeded stream of a text method's example batches (what the token loader yields)."""
    from sslpipe.data.textloader import make_examples

    rng = np.random.default_rng(seed)
    while True:
        ex = make_examples(method.stream, tiny_tokens(method.ctx.vocab_size, seed=int(rng.integers(1 << 30))), rng, **method.stream_options())
        yield {k: v[:batch] for k, v in ex.items()}


def method_inputs(method):
    """(training stream, fit input, encoder input) of a method's modality: images, clips of 8 frames, or token ids."""
    import torch

    if method.ctx.modality == "text":
        return token_stream(method), tiny_tokens(method.ctx.vocab_size), torch.tensor([[3, 5, 1, 2, -1]])
    ch = method.ctx.channels
    return image_stream(ch, frames=8 if method.modality == "video" else 0), torch.rand(64, ch, 32, 32), torch.rand(4, ch, 32, 32)


def python_env(**extra: str) -> dict:
    """The environment of a child Python that imports this checkout's sslpipe."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    env.update(extra)
    return env


def spawn_python(code: str, *args: str, **popen) -> subprocess.Popen:
    """Start ``python -c code args...`` with this interpreter and checkout (a real second process)."""
    popen.setdefault("env", python_env())
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], **popen)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is running (Linux /proc; a zombie has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def write_crafted_torch_file(path: Path, marker: Path, **content) -> None:
    """A torch file whose unpickling runs code that creates ``marker`` (what a hostile model.pt does)."""
    import torch

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    torch.save({**content, "payload": Payload()}, path)


def tiny_toy_study(name: str, metrics: dict | None = None) -> dict:
    """params for a one-run study (random_init on the toy source) small enough to run every stage in seconds."""
    study = {"name": name, "seed": 0, "datasets": ["toy"], "sweeps": [{"dataset": "toy", "method": "random_init"}]}
    return {
        "study": study,
        "data": {"toy": {}},
        "backbone": {"width": 8, "code_dim": 4},
        "train": {"threads": 1},
        "methods": {"random_init": {}},
        "evaluate": {"embed": {"n_train": 120, "n_test": 60}, "metrics": {
            "lowshot": {"sizes": [10]}, "dci": {"n_estimators": 3, "max_train": 60}, "modularity": {"max_train": 60},
            "betavae": {"batch_size": 4, "n_train": 8, "n_eval": 4},
            "factorvae": {"batch_size": 4, "n_train": 8, "n_eval": 4, "var_samples": 20}, **(metrics or {})}},
    }


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_decreases(losses, factor: float = 0.9, window: int = 8):
    """The mean of the last ``len // window`` losses (at least 3) is below ``factor`` x that of the first."""
    k = max(3, len(losses) // window)
    assert np.isfinite(losses).all()
    assert losses[-k:].mean() < factor * losses[:k].mean(), (losses[:k].mean(), losses[-k:].mean())
