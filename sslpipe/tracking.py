"""The only module that talks to MLflow.

Every stage execution is one MLflow run named ``<stage>/<dataset>/<run>`` in the
study's experiment, with the parameters the stage read, its metrics and artifacts, the
shard manifest as the run's dataset input, and tags ``dataset``, ``method``, ``stage``,
``git_commit``, ``params_hash`` (stages over a study run also ``run``, ``seed``, ``variant``;
``dvc_exp`` inside ``dvc exp run``).

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo root>/mlflow.db`` with an
absolute path.  Queued ``dvc exp run`` experiments execute in a copy under
``<root>/.dvc/tmp/exps/``; the root is resolved to the user's repo so they log to the
same store.  A fresh SQLite store breaks when several processes create it at once
(a race between their schema migrations), so creation is serialized with a file lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

from .core.schema import flatten, params_hash

EXPS_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def repo_root(start: str | Path | None = None) -> Path:
    """The user's project root: the cwd, or the repo a queued DVC experiment was copied from."""
    here = Path(start or os.getcwd()).resolve()
    s = str(here) + os.sep
    if EXPS_MARKER in s:
        return Path(s.split(EXPS_MARKER)[0])
    return here


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def init_store(experiment: str) -> str:
    """Create the store and the study's experiment once (safe to call from parallel jobs)."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    lock = repo_root() / ".cache" / "mlflow.lock" if uri.startswith("sqlite:") else None
    with _file_lock(lock) if lock else contextlib.nullcontext():
        client = mlflow.MlflowClient(uri)
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    return exp_id


class StageRun:
    """One MLflow run of a stage; use as a context manager (``with StageRun(...) as run:``)."""

    def __init__(self, experiment: str, stage: str, dataset: str = "-", run: str = "-", params: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None):
        self.experiment, self.stage, self.dataset, self.run_name = experiment, stage, dataset, run
        self.params = params or {}
        self.tags = {"method": run, **(tags or {})}
        self._mlflow = None
        self._metrics_buffer: list = []

    @property
    def name(self) -> str:
        return f"{self.stage}/{self.dataset}/{self.run_name}"

    def __enter__(self) -> "StageRun":
        import mlflow

        self._mlflow = mlflow
        exp_id = init_store(self.experiment)
        tags = {
            **self.tags,
            "stage": self.stage,
            "dataset": self.dataset,
            "git_commit": _git_commit(),
            "params_hash": params_hash(self.params),
        }
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
        self.run = mlflow.start_run(experiment_id=exp_id, run_name=self.name, tags=tags)
        flat = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in flatten(self.params).items()}
        items = list(flat.items())
        for i in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
            mlflow.log_params(dict(items[i:i + 100]))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.flush()
        self._mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    # --- logging ---------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Buffered; flushed in batches (one SQLite round-trip per ~1000 values)."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        for k, v in metrics.items():
            self._metrics_buffer.append(Metric(_metric_key(k), float(v), ts, step or 0))
        if len(self._metrics_buffer) >= 900:
            self.flush()

    def flush(self) -> None:
        if self._metrics_buffer:
            self._mlflow.MlflowClient().log_batch(self.run.info.run_id, metrics=self._metrics_buffer)
            self._metrics_buffer = []

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path)
        elif path.exists():
            self._mlflow.log_artifact(str(path), artifact_path)

    def log_figure(self, fig, name: str) -> None:
        self._mlflow.log_figure(fig, name)

    def log_shards(self, shard_dir: str | Path, manifest: dict, context: str) -> None:
        """The shard manifest as this run's dataset input (name, digest, source path)."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        import warnings

        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
        with warnings.catch_warnings():  # two registered local-file source types both match; either is right
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(Path(shard_dir).resolve()))
        ds = MetaDataset(source=source, name=manifest["dataset"], digest=digest)
        self._mlflow.log_input(ds, context=context)


def _metric_key(k: str) -> str:
    # MLflow metric names allow / - . _ and alphanumerics; '@' (lowshot/lr@100) is not allowed everywhere.
    return k.replace("@", "_at_")
