"""The only module that talks to MLflow.

Every stage execution is one MLflow run named ``<stage>/<dataset>/<run>`` in the
study's experiment (tagged as a model-training experiment, so the UI opens on its runs table),
with the parameters the stage read, its metrics and artifacts, the shard manifest as the run's
dataset input, and tags ``dataset``, ``method``, ``stage``, ``git_commit``, ``params_hash``
(stages over a study run also ``run``, ``seed``, ``variant``; ``dvc_exp`` inside ``dvc exp run``).
The stage runs of a study run are children of its encoder's row (:class:`Parent`): one run per
(dataset, run) holding the encoder's parameters, its evaluation metrics and its logged model,
which is what the runs table compares.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo root>/mlflow.db`` with an
absolute path.  Queued ``dvc exp run`` experiments execute in a copy under
``<root>/.dvc/tmp/exps/``; the root is resolved to the user's repo so they log to the
same store.  A fresh SQLite store breaks when several processes create it at once
(a race between their schema migrations), so creation is serialized with a file lock.

Delivery (``SSLPIPE_TRACKING``):

- ``deferred`` (the default): a stage only appends its calls to a journal on disk, without
  importing MLflow (about 1.3 s per process), and one sender process per host
  (``python -m sslpipe.tracking serve``, started by the first stage that needs it, gone after
  ``SSLPIPE_SENDER_IDLE`` seconds without work) creates the runs and sends the journals, live
  while stages run.  The study's last stage (the report) waits until every journal has reached
  the store, so a finished ``dvc repro`` leaves the store complete.
- ``sync``: the same journal, sent by the stage itself when it ends (the default inside a SLURM
  job, whose processes end with the job).
- ``live``: every call sent as it is made, from the stage process.

Robustness:

- A store that cannot be reached stops the stage before any work, naming the URI and the
  fix (an HTTP server gets a 3 s ``/health`` probe; the SQLite store needs no network).
- Everything a run logs is first appended to a journal on disk
  (``.cache/tracking/<run id>.jsonl``) and then sent; a journal is deleted once all of it
  has reached the store.  If the store fails mid-stage the stage goes on (its outputs are
  files anyway) and ``sslpipe sync-tracking`` sends what was missed later.
- SIGTERM is handled like SIGINT: the run is flushed and closed as KILLED (SystemExit with a
  signal's exit code counts as killed too).  A run whose
  process died without closing it (kill -9, a lost node) is closed as KILLED by the next
  execution of the same stage, after its journal is replayed, with the tag
  ``sslpipe.replaced_by`` naming the new run.
- The default SQLite store records artifact locations as absolute paths; they are
  re-rooted to ``<repo root>/mlruns`` when the store is opened, so a copied or moved
  project writes its artifacts inside itself.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from .core.errors import SslpipeError
from .core.schema import flatten, params_hash

#: The tag by which MLflow nests a run under its parent in the runs table.
MLFLOW_PARENT = "mlflow.parentRunId"

#: The experiment is a model-training one: MLflow's tag for an experiment's kind.  The 3.17 UI
#: itself picks its views (runs table, or the GenAI traces overview) from its "GenAI / Model
#: training" switch, which the address sets with ``?workflowType=machine_learning`` (see
#: :func:`ui_address`) and the browser remembers once the switch is clicked.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
UI_WORKFLOW = "workflowType=machine_learning"


def ui_address(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The UI's address of the experiment, opening on its runs table."""
    return f"{base}/#/experiments/{experiment_id}?{UI_WORKFLOW}"

#: How logged models are stored: pickled (the module says how to rebuild itself, see
#: ``checkpoint.ImageEncoder``), not MLflow's default torch.export graph, which is traced for the
#: example's dtype only and cannot trace encoders that run numpy (the classical baselines).
MODEL_FORMAT = "pickle"

#: seconds between system metrics samples (MLflow's default, 10 s, misses most pretrain runs of a small study)
SYSTEM_METRICS_INTERVAL = 2.0

#: The tag that marks an encoder's row: the parent run of its stage executions.
ROLE = "sslpipe.role"

EXPS_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep

#: How a stage's run reaches the store (module docstring): deferred, sync or live.
MODE_ENV = "SSLPIPE_TRACKING"
MODES = ("deferred", "sync", "live")
#: Seconds a sender process waits for new journals before it exits.
SENDER_IDLE_ENV = "SSLPIPE_SENDER_IDLE"
SENDER_IDLE = 30.0
METRIC_SECONDS = "evaluate/seconds/"  # an evaluate run's seconds per metric: evaluate/seconds/<metric>
SENDER_LOG_MAX = 1 << 20  # bytes: a sender starting on a longer log moves it to <log>.1 (the one before is dropped)
#: The tag naming a deferred run's journal (``.cache/tracking/<id>.jsonl``).
JOURNAL_TAG = "sslpipe.journal"
#: A deferred model: the module as ``torch.save`` writes it, beside its input and output example.
DEFERRED_MODEL = "model.pth"
#: Placeholders of a deferred journal for run ids that only the sender knows.
THIS_RUN, ENCODER_ROW = "@run", "@row"


def tracking_mode() -> str:
    """The delivery mode: ``SSLPIPE_TRACKING``, else ``sync`` inside a SLURM job, else ``deferred``."""
    mode = os.environ.get(MODE_ENV) or ("sync" if os.environ.get("SLURM_JOB_ID") else "deferred")
    if mode not in MODES:
        raise SslpipeError(f"{MODE_ENV}={mode!r} is not a tracking mode. Fix: set it to one of {', '.join(MODES)}, or unset it.")
    return mode


def repo_root(start: str | Path | None = None) -> Path:
    """The user's project root: the cwd, or the repo a queued DVC experiment was copied from."""
    here = Path(start or os.getcwd()).resolve()
    s = str(here) + os.sep
    if EXPS_MARKER in s:
        return Path(s.split(EXPS_MARKER)[0])
    return here


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or _default_uri()


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


def init_store(experiment: str, uri: str | None = None) -> str:
    """Create the store (``uri``, else :func:`tracking_uri`) and the study's experiment once (safe to
    call from parallel jobs).

    Fails at once, naming the URI and the fix, when the store cannot be reached.
    """
    import mlflow

    uri = uri or tracking_uri()
    check_reachable(uri)
    _http_retry_defaults(uri)
    lock = repo_root() / ".cache" / "mlflow.lock" if uri.startswith("sqlite:") else None
    with _file_lock(lock) if lock else contextlib.nullcontext():
        client = mlflow.MlflowClient(uri)
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        if (exp.tags.get(EXPERIMENT_KIND[0]) if exp else None) != EXPERIMENT_KIND[1]:
            client.set_experiment_tag(exp_id, *EXPERIMENT_KIND)
        if uri == _default_uri():
            reroot_artifacts(repo_root() / "mlflow.db", repo_root() / "mlruns")
    return exp_id


# --- reachability ---------------------------------------------------------------------
class TrackingUnreachable(SslpipeError):
    """The MLflow store named by the tracking URI does not answer."""

    def __init__(self, uri: str, reason: str):
        fix = ("start the server (`make tracking-server` here), or point MLFLOW_TRACKING_URI at a running one, "
               "or unset it to use the project's SQLite store")
        super().__init__(f"MLflow tracking store {_redact(uri)} is unreachable ({reason}); nothing was run. Fix: {fix}.")


def _redact(uri: str) -> str:
    """The URI without its password (database URIs carry one)."""
    p = urllib.parse.urlparse(uri)
    return uri.replace(f":{p.password}@", ":***@") if p.password else uri


def _default_uri() -> str:
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Raise :class:`TrackingUnreachable` unless the store answers, before a stage does any work.

    HTTP(S) servers: ``GET /health`` with a short timeout (MLflow's own client would retry
    for minutes).  Database URIs with a host: a TCP connection to it.  SQLite: the
    database's directory must exist (no network).
    """
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.split("+")[0]
    if scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                if r.status == 200:
                    return
                reason = f"/health answered HTTP {r.status}"
        except urllib.error.HTTPError as e:
            reason = f"/health answered HTTP {e.code}"
        except (OSError, ValueError) as e:
            reason = str(getattr(e, "reason", e))
        raise TrackingUnreachable(uri, reason)
    if scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("//") else parsed.path
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise TrackingUnreachable(uri, f"directory {Path(path).parent} does not exist")
        return
    if parsed.hostname:  # postgresql://, mysql://, ...: a database server
        port = parsed.port or {"postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(scheme)
        if port:
            try:
                socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            except OSError as e:
                raise TrackingUnreachable(uri, str(e)) from None


def _http_retry_defaults(uri: str) -> None:
    """Bound MLflow's HTTP retries (default 7 with backoff, about 4 minutes per failing call).

    A server that goes away mid-stage then costs one call about 15 s before the run goes
    on offline (journal only).  Explicit settings in the environment win.
    """
    if uri.startswith(("http:", "https:")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


# --- artifact locations of the default store ------------------------------------------
def reroot_artifacts(db: Path, mlruns: Path) -> int:
    """Point every local artifact location of a SQLite store at ``mlruns`` (returns rows changed).

    MLflow stores ``<dir>/mlruns/<experiment id>`` as an absolute path when an experiment
    is created (``<dir>`` being the creating process's cwd), and each run's artifact URI
    under it; a copied or moved project would go on writing into the original's mlruns/.
    Locations that are not local ``.../mlruns/<id>`` paths (object stores, a server's
    ``mlflow-artifacts:``) are left alone.
    """
    want = str(mlruns)
    changed = 0
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as con, con:
        for exp_id, loc in con.execute("SELECT experiment_id, artifact_location FROM experiments").fetchall():
            scheme = "file://" if loc and loc.startswith("file://") else ""
            path = Path(loc[len(scheme):]) if loc else None
            if path is None or not path.is_absolute() or path.parent.name != "mlruns" or str(path.parent) == want:
                continue
            old = scheme + str(path.parent)
            new = scheme + want
            con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (new + loc[len(old):], exp_id))
            cur = con.execute("UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                              (new, len(old) + 1, exp_id, len(old) + 1, old + "/"))
            changed += 1 + cur.rowcount
    return changed


# --- stage runs ------------------------------------------------------------------------
def _on_sigterm(signum, frame):
    """SIGTERM during a tracked stage (scancel, a cluster's time limit, `kill`): unwind like Ctrl-C."""
    print(f"sslpipe: stopping on signal {signal.Signals(signum).name}", file=sys.stderr)
    raise SystemExit(128 + signum)


def _killed(exc_type, exc) -> bool:
    """Stopped from outside: Ctrl-C, or a signal turned into SystemExit(128 + signal number)."""
    if exc_type is None:
        return False
    if issubclass(exc_type, KeyboardInterrupt):
        return True
    return isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code > 128


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux's /proc), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _process_alive(pid: int, started: int | None = None) -> bool:
    """Whether process ``pid`` is alive and is the one that started at ``started`` (when known): a
    pid reused by a later process is not the stage that wrote the journal or opened the run."""
    if not _pid_alive(pid):
        return False
    now = _proc_start(pid) if started is not None else None
    return now is None or now == started


def _stage_alive(start: dict) -> bool:
    """Whether the process of a journal's start record is still running (on this host)."""
    return _process_alive(int(start.get("pid") or 0) or -1, start.get("pid_start"))


def journal_dir() -> Path:
    return repo_root() / ".cache" / "tracking"


class StageRun:
    """One MLflow run of a stage; use as a context manager (``with StageRun(...) as run:``).

    Every call is journaled to disk first (see the module docstring).  In the ``deferred`` and
    ``sync`` modes the journal is all the stage writes (``run_id`` and ``parent_id`` are the
    MLflow ids once the run is delivered: at the end of a ``sync`` run, later for ``deferred``);
    in ``live`` mode each call is also sent at once, and a store that fails mid-stage sends the
    run offline: the stage continues, logging only to the journal, and ``sslpipe sync-tracking``
    sends the rest later.
    """

    def __init__(self, experiment: str, stage: str, dataset: str = "-", run: str = "-", params: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None, parent: "Parent | None" = None, wait_for_all: bool = False):
        self.experiment, self.stage, self.dataset, self.run_name = experiment, stage, dataset, run
        self.params = params or {}
        self.tags = {"method": run, **(tags or {})}
        self.parent = parent
        self.parent_id: str | None = None
        self.run_id: str | None = None
        self.wait_for_all = wait_for_all  # deferred: at the end, wait until every journal of the project reached its store
        self.mode = tracking_mode()
        self._monitor = None
        self._client = None
        self._journal: Journal | None = None
        self._metrics_buffer: list = []
        self._offline: str | None = None  # why the store stopped answering
        self._prev_sigterm = None

    @property
    def name(self) -> str:
        return f"{self.stage}/{self.dataset}/{self.run_name}"

    @property
    def deferred(self) -> bool:
        return self.mode != "live"

    def _tags(self) -> dict[str, str]:
        tags = {
            **self.tags,
            "stage": self.stage,
            "dataset": self.dataset,
            "git_commit": _git_commit(),
            "params_hash": params_hash(self.params),
            "sslpipe.project": str(repo_root()),
            "sslpipe.host": socket.gethostname(),
            "sslpipe.pid": str(os.getpid()),
            "sslpipe.pid_start": str(_proc_start(os.getpid()) or ""),
        }
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
        return tags

    def __enter__(self) -> "StageRun":
        self.uri = tracking_uri()
        tags = self._tags()
        if self.deferred:
            # No MLflow here: the journal says everything the sender needs to create the runs.
            check_reachable(self.uri)
            jid = uuid.uuid4().hex
            parent = None if self.parent is None else {"name": self.parent.name, "tags": self.parent.tags, "params": self.parent.params}
            self._journal = Journal.create(journal_dir() / f"{jid}.jsonl", self.uri, jid, self.name, deferred={
                "experiment": self.experiment, "dataset": self.dataset, "tags": tags, "parent": parent,
                "start_time": int(time.time() * 1000)})
            row = ENCODER_ROW if self.parent is not None else None
        else:
            import mlflow

            exp_id = init_store(self.experiment)
            self._client = mlflow.MlflowClient(self.uri)
            if self.parent is not None:
                self.parent_id = encoder_row(self._client, exp_id, self.dataset, self.parent, tags)
                tags[MLFLOW_PARENT] = self.parent_id
            self.run_id = self._client.create_run(exp_id, run_name=self.name, tags=tags).info.run_id
            self._journal = Journal.create(journal_dir() / f"{self.run_id}.jsonl", self.uri, self.run_id, self.name)
            close_stale(self._client, exp_id, self.name, tags, self.run_id)
            row = self.parent_id
        self._record({"kind": "params", "params": _flat(self.params)})
        if row:
            self._record({"kind": "status", "status": "RUNNING", "run_id": row})
            if self.parent.params is not None:
                self._record({"kind": "params", "params": _flat(self.parent.params), "run_id": row})
        # SIGTERM's default action would kill the process before the run is closed; a handler
        # already installed (the stage's own) is kept.
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._prev_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._prev_sigterm is not None:
            signal.signal(signal.SIGTERM, self._prev_sigterm)
        status = "FINISHED" if exc_type is None else "KILLED" if _killed(exc_type, exc) else "FAILED"
        if self._monitor is not None:
            self._stop_system_metrics()
        self.flush()
        row = ENCODER_ROW if self.deferred else self.parent_id
        if self.parent is not None:
            self._record({"kind": "status", "status": status, "run_id": row, "time": int(time.time() * 1000)})
        self._record({"kind": "end", "status": status, "end_time": int(time.time() * 1000)})
        self._journal.close()
        if self.deferred:
            self._deliver(status)
        elif self._offline:
            print(f"warning: MLflow store {_redact(self.uri)} failed during {self.name} ({self._offline}); the stage's files are "
                  f"written and its tracking data kept in {self._journal.path}. Fix: when the store is back, run "
                  "`sslpipe sync-tracking`.", file=sys.stderr)
        else:
            self._journal.remove()

    def _deliver(self, status: str) -> None:
        """Hand the finished journal over: send it now (``sync``, or the study's last stage), else
        make sure this host's sender is running."""
        if self.mode == "deferred" and not self.wait_for_all:
            ensure_sender(journal_dir())
            return
        try:
            r = deliver(self._journal.path)
            # the study's last stage waits for every run; a sync stage also closes runs whose process died
            deliver_all(journal_dir(), wait=self.wait_for_all)
        except Exception as e:  # noqa: BLE001 - the stage's files are written; its tracking data stays in the journal
            if _is_caller_error(e):
                raise
            print(f"warning: MLflow store {_redact(self.uri)} did not take the run of {self.name} ({type(e).__name__}: {e}); "
                  f"its tracking data is kept in {self._journal.path}. Fix: when the store is back, run `sslpipe sync-tracking`.",
                  file=sys.stderr)
            return
        if r is not None:
            self.run_id, self.parent_id = r["run_id"], r["parent_id"]

    # --- sending, journaled first --------------------------------------------------------
    def _record(self, rec: dict) -> None:
        """Journal one record, then (live mode) send it unless the store has failed already.

        Buffered metrics are sent first: an acknowledgement covers every earlier call.
        """
        self.flush()
        seq = self._journal.append(rec)
        if self.deferred or self._offline:
            return
        try:
            send(self._client, self.run_id, rec)
        except Exception as e:  # noqa: BLE001 - any failure of the store; a malformed call is re-raised
            if _is_caller_error(e):
                raise
            self._go_offline(e)
            return
        self._journal.ack(seq)

    def _go_offline(self, e: Exception) -> None:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        self._offline = f"{type(e).__name__}: {first}"
        print(f"warning: MLflow store {_redact(self.uri)} stopped answering ({self._offline}); {self.name} goes on, "
              f"journaling to {self._journal.path}", file=sys.stderr)

    # --- logging ---------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, float], step: int | None = None, encoder: bool = False) -> None:
        """Journaled at once; sent in batches (one store round-trip per ~1000 values).

        ``encoder=True`` also logs them on the encoder's row (its evaluation metrics, headline
        training figures), sent at once.
        """
        ts = int(time.time() * 1000)
        rows = [[_metric_key(k), float(v), ts, step or 0] for k, v in metrics.items()]
        if encoder and self.parent is not None:
            self._record({"kind": "metrics", "metrics": rows, "run_id": ENCODER_ROW if self.deferred else self.parent_id})
        seq = self._journal.append({"kind": "metrics", "metrics": rows})
        if self.deferred:
            return
        self._metrics_buffer.append((seq, rows))
        if sum(len(r) for _, r in self._metrics_buffer) >= 900:
            self.flush()

    def flush(self) -> None:
        if not self._metrics_buffer:
            return
        buffered, self._metrics_buffer = self._metrics_buffer, []
        if self._offline:
            return
        try:
            send(self._client, self.run_id, {"kind": "metrics", "metrics": [m for _, rows in buffered for m in rows]})
        except Exception as e:  # noqa: BLE001
            if _is_caller_error(e):
                raise
            self._go_offline(e)
            return
        self._journal.ack(buffered[-1][0])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Logged as it is now: a run that is not sent at once (deferred, offline) keeps a snapshot
        (hard links where the filesystem allows), since the stage's outputs may change before the sending."""
        path = Path(path)
        if not path.exists():
            return
        if self.deferred or self._offline:
            path = self._journal.keep(path, artifact_path)
        self._record({"kind": "artifact", "path": str(path.resolve()), "artifact_path": artifact_path})

    def log_figure(self, fig, name: str) -> None:
        """Saved as a file in the journal's folder first, then logged like any artifact."""
        dest = self._journal.folder / "figures" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(dest)
        parent = str(Path(name).parent)
        self._record({"kind": "artifact", "path": str(dest), "artifact_path": None if parent == "." else parent})

    def log_shards(self, shard_dir: str | Path, manifest: dict, context: str, encoder: bool = False) -> None:
        """The shard manifest as this run's dataset input (name, digest of the manifest, source path),
        which MLflow's runs table shows in its Dataset column; ``encoder=True`` also on the encoder's row."""
        digest = manifest_digest(manifest)
        rec = {"kind": "input", "name": manifest["dataset"], "digest": digest, "source": str(Path(shard_dir).resolve()), "context": context}
        self._record(rec)
        if encoder and self.parent is not None:
            self._record({**rec, "run_id": ENCODER_ROW if self.deferred else self.parent_id})

    def log_model(self, model, input_example, name: str = "encoder", registered_name: str | None = None) -> None:
        """A PyTorch module as an MLflow Model (pytorch flavour): ``runs:/<encoder row id>/<name>``.

        The model's source run is the encoder's row (so the runs table lists it in the row's
        Models column, and a registered version points to the row); the stage run lists it as
        its output.

        Its signature comes from ``input_example`` (a numpy batch) and the module's output on
        it; the requirements are stated (torch, mlflow, sslpipe), not inferred by importing
        the model in a subprocess.  The model is saved in the journal's folder first, so a
        store that fails keeps it for ``sslpipe sync-tracking``: as an MLflow Model in live
        mode, and with ``torch.save`` (the pickle MLflow's own format holds) beside the example
        and its output when the sender makes the MLflow Model (deferred, sync).
        ``registered_name`` also registers it in the Model Registry.
        """
        import numpy as np
        import torch

        with torch.no_grad():
            out = model(torch.from_numpy(input_example)).cpu().numpy()
        dest = self._journal.folder / "models" / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.deferred:
            dest.mkdir()
            torch.save(model, dest / DEFERRED_MODEL)
            np.save(dest / "input_example.npy", input_example)
            np.save(dest / "output_example.npy", out)
        else:
            import mlflow.pytorch
            from mlflow.models import infer_signature

            with _quiet_pickle_warning():
                mlflow.pytorch.save_model(model, str(dest), signature=infer_signature(input_example, out), input_example=input_example,
                                          pip_requirements=_model_requirements(), serialization_format=MODEL_FORMAT)
        row = (ENCODER_ROW if self.parent is not None else THIS_RUN) if self.deferred else (self.parent_id or self.run_id)
        self._record({"kind": "model", "path": str(dest), "name": name, "run_id": row,
                      "stage_run_id": THIS_RUN if self.deferred else self.run_id, "registered_name": registered_name})

    def start_system_metrics(self) -> None:
        """CPU, memory, disk, network (and GPU where MLflow can read it) as ``system/*`` metrics,
        sampled by MLflow's monitors every ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` s (default
        :data:`SYSTEM_METRICS_INTERVAL`) until the run ends.  Live mode sends them with MLflow's
        monitor (not journaled); the other modes journal them from a thread of their own, which
        imports MLflow's monitors beside the stage's work."""
        if self._offline or self._monitor is not None:
            return
        every = float(os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL") or SYSTEM_METRICS_INTERVAL)
        if self.deferred:
            self._monitor = _JournaledMonitor(self, every)
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        self._monitor = SystemMetricsMonitor(self.run_id, sampling_interval=every, tracking_uri=self.uri)
        self._monitor.start()

    def _stop_system_metrics(self) -> None:
        """Stop the monitor; a run shorter than one sampling interval still gets one sample (MLflow's
        monitor only publishes after a full interval, so a quick pretrain would show none)."""
        monitor, self._monitor = self._monitor, None
        if isinstance(monitor, _JournaledMonitor):
            monitor.finish()
            return
        monitor.finish()
        if monitor._logging_step == 0:
            try:
                monitor.collect_metrics()
                monitor.publish_metrics(monitor.aggregate_metrics())
                monitor.mlflow_logger.flush()
            except Exception as e:  # the store failing here is reported by the run's own records
                print(f"warning: system metrics of {self.name} not logged: {e}", file=sys.stderr)


class _JournaledMonitor:
    """MLflow's system-metrics collectors sampled in a thread, journaled as ``system/*`` metrics of
    the run (steps 0, 1, ...); at least one sample however short the run."""

    def __init__(self, run: StageRun, every: float):
        self.run, self.every, self.step = run, every, 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._mon = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sslpipe-system-metrics")
        self._thread.start()

    def _loop(self) -> None:
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._mon = SystemMetricsMonitor(None, sampling_interval=self.every, tracking_uri=self.run.uri)
            self._mon.collect_metrics()
        except Exception as e:  # noqa: BLE001 - system metrics are an extra, never a reason to fail a stage
            print(f"warning: system metrics of {self.run.name} not collected: {e}", file=sys.stderr)
            return
        finally:
            self._ready.set()
        while not self._stop.wait(self.every):
            self._publish()
            self._mon.collect_metrics()

    def _publish(self) -> None:
        with self._lock:
            values = self._mon.aggregate_metrics()
            for m in self._mon.monitors:
                m.clear_metrics()
            if values:
                self.run.log_metrics({f"system/{k}": v for k, v in values.items()}, step=self.step)
                self.step += 1

    def finish(self) -> None:
        self._ready.wait()
        self._stop.set()
        self._thread.join()
        if self._mon is not None and self.step == 0:
            self._mon.collect_metrics()
            self._publish()


def encoder_row(client, exp_id: str, dataset: str, parent: "Parent", tags: dict, start_time: int | None = None) -> str:
    """The id of the encoder's row (the parent of its stage runs), found or created.

    The row of a (dataset, run key) in this project and ``dvc exp run`` experiment (none
    outside one): the newest such row, so that re-running a stage updates it.  A stage that
    logs the encoder's parameters (pretrain) starts a new row when the newest one holds other
    values (``params_hash``): MLflow parameters are immutable, and changed ones make another
    encoder.  A row created by a deferred run's sender starts when that stage started (``start_time``,
    ms), not when it was sent.
    """
    p = parent
    want = params_hash(p.params) if p.params is not None else None
    filt = f"tags.`{ROLE}` = 'encoder' and tags.dataset = '{dataset}' and tags.run = '{p.tags['run']}'"
    rows = client.search_runs([exp_id], filter_string=filt, order_by=["attributes.start_time DESC"], max_results=1000)
    mine = [r for r in rows if r.data.tags.get("sslpipe.project") == tags["sslpipe.project"] and r.data.tags.get("dvc_exp") == tags.get("dvc_exp")]
    r = mine[0] if mine else None
    if r is not None and want is not None and r.data.tags.get("params_hash") not in (None, want):
        r = None
    row_tags = {**p.tags, "dataset": dataset, ROLE: "encoder", "git_commit": tags["git_commit"],
                "sslpipe.project": tags["sslpipe.project"], **({"dvc_exp": tags["dvc_exp"]} if tags.get("dvc_exp") else {}),
                **({"params_hash": want} if want else {})}
    if r is None:
        return client.create_run(exp_id, start_time=start_time, run_name=p.name, tags=row_tags).info.run_id
    for k, v in row_tags.items():
        if r.data.tags.get(k) != v:
            client.set_tag(r.info.run_id, k, v)
    return r.info.run_id


def close_stale(client, exp_id: str, name: str, tags: dict, run_id: str) -> None:
    """Close the RUNNING runs of this stage execution (``name``) whose process died, replaying their journals.

    Same experiment, stage, dataset, run (its name), project and ``dvc_exp``; a run started on
    this host whose process is alive is a concurrent execution and is left alone (DVC's
    and Snakemake's locks keep one project from running a stage twice at once, so a run
    from another host is one whose node was lost).
    """
    filt = (f"attributes.status = 'RUNNING' and tags.stage = '{tags['stage']}' and tags.dataset = '{tags['dataset']}' "
            f"and tags.method = '{tags['method']}'")
    try:
        runs = client.search_runs([exp_id], filter_string=filt, max_results=1000)
    except Exception as e:  # noqa: BLE001 - closing old runs must not stop the stage
        print(f"warning: could not look for stale runs of {name}: {e}", file=sys.stderr)
        return
    host = tags["sslpipe.host"]
    replaced = []
    for r in runs:
        t = r.data.tags
        if r.info.run_id == run_id or t.get("mlflow.runName") != name \
                or t.get("sslpipe.project", tags["sslpipe.project"]) != tags["sslpipe.project"] or t.get("dvc_exp") != tags.get("dvc_exp"):
            continue
        started = t.get("sslpipe.pid_start", "")
        if t.get("sslpipe.host") == host and t.get("sslpipe.pid", "").isdigit() \
                and _process_alive(int(t["sslpipe.pid"]), int(started) if started.isdigit() else None):
            continue
        jpath = journal_dir() / f"{t.get(JOURNAL_TAG, r.info.run_id)}.jsonl"
        status = None
        if JOURNAL_TAG in t:  # a deferred run: its journal's calls are sent, and its process being dead closes it
            if jpath.exists():
                deliver(jpath)
        else:
            status = Journal(jpath).replay(client) if jpath.exists() else None
        client.set_tag(r.info.run_id, "sslpipe.replaced_by", run_id)
        if client.get_run(r.info.run_id).info.status == "RUNNING":
            client.set_terminated(r.info.run_id, status or "KILLED")
        Journal(jpath).remove()
        replaced.append(r.info.run_id)
    if replaced:
        client.set_tag(run_id, "sslpipe.replaces", ",".join(replaced))


class Parent:
    """The encoder's row that a stage run belongs to: its name, tags and (for the stage that
    trains the encoder) the parameters that define it."""

    def __init__(self, name: str, tags: dict[str, str], params: dict[str, Any] | None = None):
        self.name, self.tags, self.params = name, tags, params


def manifest_digest(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def _flat(params: dict) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else str(v) for k, v in flatten(params).items()}


@contextlib.contextmanager
def _fluent(uri: str, experiment_id: str | None = None) -> Iterator[None]:
    """MLflow's fluent API pointed at ``uri`` (and an experiment) for a block, then exactly as before
    (an unset URI stays unset, so ``MLFLOW_TRACKING_URI`` keeps working in the process)."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # MLflow's set_tracking_uri also writes (or, restoring an unset URI, deletes) the
    # MLFLOW_TRACKING_URI variable, which names this process's store: it is restored too.
    prev_exp, prev_env = fluent._active_experiment_id, os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            if experiment_id is not None:
                mlflow.set_experiment(experiment_id=experiment_id)
            yield
    finally:
        fluent._active_experiment_id = prev_exp
        if prev_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = prev_env


@contextlib.contextmanager
def _quiet_pickle_warning() -> Iterator[None]:
    """MLflow warns on every pickled PyTorch model; sslpipe's stages never unpickle one (README: Tracking)."""
    import logging

    log = logging.getLogger("mlflow.pytorch")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _model_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    import mlflow
    import torch

    reqs = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]
    for dist in ("kornia", "numpy"):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pass
    return reqs


def _is_caller_error(e: Exception) -> bool:
    """A call the store refuses as malformed (a bug to surface), not a store that is down."""
    return getattr(e, "error_code", None) == "INVALID_PARAMETER_VALUE"


def send(client, run_id: str, rec: dict) -> None:
    """Send one journal record to the store (also used to replay a journal); a record with a
    ``run_id`` of its own goes to that run (the encoder's row)."""
    kind = rec["kind"]
    run_id = rec.get("run_id", run_id)
    if kind == "params":
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in rec["params"].items()]
        for i in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
            client.log_batch(run_id, params=items[i:i + 100])
    elif kind == "metrics":
        from mlflow.entities import Metric

        items = [Metric(k, v, ts, step) for k, v, ts, step in rec["metrics"]]
        for i in range(0, len(items), 1000):
            client.log_batch(run_id, metrics=items[i:i + 1000])
    elif kind == "artifact":
        path = Path(rec["path"])
        if path.is_dir():
            client.log_artifacts(run_id, str(path), rec["artifact_path"])
        elif path.exists():
            client.log_artifact(run_id, str(path), rec["artifact_path"])
        else:
            print(f"warning: artifact {path} no longer exists; not logged to run {run_id}", file=sys.stderr)
    elif kind == "input":
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():  # two registered local-file source types both match; either is right
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(rec["source"])
        ds = MetaDataset(source=source, name=rec["name"], digest=rec["digest"])
        client.log_inputs(run_id, datasets=[DatasetInput(ds._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, rec["context"])])])
    elif kind == "status":  # the encoder's row follows its latest stage run
        if rec["status"] == "RUNNING":
            client.update_run(run_id, status="RUNNING")
        else:
            client.set_terminated(run_id, rec["status"], end_time=rec.get("time"))
    elif kind == "model":
        _send_model(client, run_id, rec)
    elif kind == "end":
        client.set_terminated(run_id, rec["status"])


def _send_model(client, run_id: str, rec: dict) -> None:
    """Log a model saved by :meth:`StageRun.log_model` to its run (the encoder's row), listed as the stage run's output."""
    import mlflow
    import mlflow.pytorch
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model
    from mlflow.models.utils import _read_example

    path = Path(rec["path"])
    if (path / DEFERRED_MODEL).exists():  # saved by a deferred stage: the module, its example and output
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        # the stage's own file in the project's cache, unpickled as MLflow's pickle format would be
        model = torch.load(path / DEFERRED_MODEL, map_location="cpu", weights_only=False)
        example = np.load(path / "input_example.npy")
        signature = infer_signature(example, np.load(path / "output_example.npy"))
    else:
        saved = Model.load(str(path))
        model, signature, example = mlflow.pytorch.load_model(str(path)), saved.signature, _read_example(saved, str(path))
    # MLflow's model logging goes through its fluent API's current store and experiment: the run's own, for this call only
    with _fluent(client._tracking_client.tracking_uri, client.get_run(run_id).info.experiment_id), _quiet_pickle_warning():
        info = mlflow.pytorch.log_model(model, name=rec["name"], run_id=run_id, signature=signature,
                                        input_example=example, pip_requirements=_model_requirements(),
                                        registered_model_name=rec.get("registered_name"), serialization_format=MODEL_FORMAT)
    if rec.get("stage_run_id", run_id) != run_id:
        client.log_outputs(rec["stage_run_id"], models=[LoggedModelOutput(info.model_id, step=0)])


class Journal:
    """Append-only record of one run's tracking calls (JSON lines), with acknowledgements.

    Line ``{"seq": n, ...}`` is a call; ``{"ack": n}`` says every call up to ``n`` reached
    the store (live mode; a deferred journal's progress is in ``<id>.sent``, written by its
    sender).  Appends are flushed to the OS at once, so a killed process loses nothing it
    had logged; files kept for the run sit in the folder of the same name.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.folder = self.path.with_suffix("")
        self._seq = -1
        self._lock = threading.Lock()  # the system-metrics thread appends too

    @classmethod
    def create(cls, path: Path, uri: str, run_id: str, name: str, deferred: dict | None = None) -> "Journal":
        j = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        j._file = open(path, "a", opener=lambda p, flags: os.open(p, flags, 0o600))  # the URI may hold a password
        j.append({"kind": "start", "uri": uri, "run_id": run_id, "name": name, "host": socket.gethostname(), "pid": os.getpid(),
                  "pid_start": _proc_start(os.getpid()), **({"deferred": deferred} if deferred else {})})
        return j

    def append(self, rec: dict) -> int:
        with self._lock:
            self._seq += 1
            self._file.write(json.dumps({"seq": self._seq, **rec}) + "\n")
            self._file.flush()
            return self._seq

    def ack(self, seq: int) -> None:
        with self._lock:
            self._file.write(json.dumps({"ack": seq}) + "\n")
            self._file.flush()

    def close(self) -> None:
        if getattr(self, "_file", None):
            self._file.close()

    def keep(self, path: Path, artifact_path: str | None) -> Path:
        """A snapshot of an artifact in the journal's folder: hard links (the stages replace their
        outputs by renaming, so a link keeps the logged version), copies across filesystems."""
        dest = self.folder / "artifacts" / (artifact_path or "") / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)

        def link(src, dst):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True, copy_function=link)
        else:
            dest.unlink(missing_ok=True)
            link(path, dest)
        return dest

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
        for side in (".sent", ".lock"):
            self.path.with_suffix(side).unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def records(self) -> tuple[dict, list[dict]]:
        """The start record and the calls not acknowledged (a torn last line is ignored)."""
        start, calls, acked = None, [], -1
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "ack" in rec:
                acked = max(acked, rec["ack"])
            elif rec.get("kind") == "start":
                start = rec
            else:
                calls.append(rec)
        return start, [r for r in calls if r["seq"] > acked]

    def start(self) -> dict | None:
        """The start record (None for a journal whose first line is not written yet)."""
        try:
            with open(self.path) as f:
                first = f.readline()
        except FileNotFoundError:
            return None
        try:
            rec = json.loads(first)
        except json.JSONDecodeError:
            return None
        return rec if rec.get("kind") == "start" else None

    def calls_from(self, offset: int) -> tuple[list[dict], int]:
        """The complete calls written after byte ``offset``, and the offset after them."""
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        calls = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        return [c for c in calls if "seq" in c and c.get("kind") != "start"], offset + end

    def replay(self, client) -> str | None:
        """Send the calls that did not reach the store; the run's final status if it had ended."""
        start, pending = self.records()
        run_id = start["run_id"] if start else self.path.stem
        status = None
        for rec in pending:
            if rec["kind"] == "end":
                status = rec["status"]
            else:
                send(client, run_id, rec)
        return status


# --- deferred delivery: the sender ------------------------------------------------------
_EXPERIMENTS: dict[tuple[str, str], str] = {}
_CLIENTS: dict[str, Any] = {}


def _client_for(uri: str):
    import mlflow

    if uri not in _CLIENTS:
        check_reachable(uri)
        _http_retry_defaults(uri)
        _CLIENTS[uri] = mlflow.MlflowClient(uri)
    return _CLIENTS[uri]


def _resolve(rec: dict, ids: dict[str, str | None]) -> dict:
    return {**rec, **{k: ids[rec[k]] for k in ("run_id", "stage_run_id") if rec.get(k) in ids}}


def _batches(calls: list[dict]) -> Iterator[list[dict]]:
    """Consecutive metric calls to the same run merged (at most ~1000 values a batch); others one by one."""
    batch: list[dict] = []
    for c in calls:
        if batch and (c["kind"] != "metrics" or batch[0]["kind"] != "metrics" or c.get("run_id") != batch[0].get("run_id")
                      or sum(len(b["metrics"]) for b in batch) + len(c["metrics"]) > 1000):
            yield batch
            batch = []
        batch.append(c)
    if batch:
        yield batch


def deliver(path: Path, block: bool = True, dead_elsewhere: bool = False) -> dict | None:
    """Send what a deferred journal holds that has not reached its store yet.

    On first contact the sender finds or creates the encoder's row and creates the run (with the
    stage's start time and the tag ``sslpipe.journal``), then closes stale runs of the same
    stage as a live run would.  A run whose journal has ended, or whose process died on this
    host, is closed (KILLED for the latter) and its journal removed.  One sender per journal at a
    time (a lock beside it); ``block=False`` skips a journal someone else is sending.
    ``dead_elsewhere`` takes a run started on another host to be dead (``sslpipe sync-tracking``:
    its node was lost).  Returns ``{"run_id", "parent_id", "sent", "status"}`` (status None while the run goes on),
    or None when there was nothing to do.
    """
    path = Path(path)
    try:
        lockf = open(path.with_suffix(".lock"), "a")
    except FileNotFoundError:  # the project's cache is gone
        return None
    with lockf:
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        j = Journal(path)
        start = j.start() if path.exists() else None
        if start is None or "deferred" not in start:
            if not path.exists():
                path.with_suffix(".lock").unlink(missing_ok=True)
            return None
        d, name = start["deferred"], start["name"]
        state_path = path.with_suffix(".sent")
        state = json.loads(state_path.read_text()) if state_path.exists() else None
        client = _client_for(start["uri"])
        if state is None:
            key = (start["uri"], d["experiment"])
            if key not in _EXPERIMENTS:
                _EXPERIMENTS[key] = init_store(d["experiment"], start["uri"])
            exp_id = _EXPERIMENTS[key]
            tags = {**d["tags"], JOURNAL_TAG: start["run_id"]}
            parent_id = None
            if d["parent"]:
                parent_id = encoder_row(client, exp_id, d["dataset"], Parent(**d["parent"]), tags, start_time=d["start_time"])
                tags[MLFLOW_PARENT] = parent_id
            run_id = client.create_run(exp_id, start_time=d["start_time"], tags=tags, run_name=name).info.run_id
            state = {"run_id": run_id, "parent_id": parent_id, "sent": -1, "offset": 0}
            write_json_atomic(state_path, state)
            close_stale(client, exp_id, name, tags, run_id)
        ids = {THIS_RUN: state["run_id"], ENCODER_ROW: state["parent_id"]}
        # whether the process is gone, asked before reading: a process writes its end record before it
        # exits, so one that was gone already has nothing more to write than what is read next
        if start.get("host") != socket.gethostname():
            gone = dead_elsewhere
        else:
            gone = not _stage_alive(start)
        calls, offset = j.calls_from(state["offset"])
        calls = [c for c in calls if c["seq"] > state["sent"]]
        end = None
        for batch in _batches(calls):
            rec = batch[0] if len(batch) == 1 else {**batch[0], "metrics": [m for b in batch for m in b["metrics"]]}
            if rec["kind"] == "end":  # counted as sent once the run is closed (below)
                end = rec
                break
            send(client, state["run_id"], _resolve(rec, ids))
            state["sent"] = batch[-1]["seq"]
            write_json_atomic(state_path, state)
        status = None
        if end is not None:
            status = end["status"]
            client.set_terminated(state["run_id"], status, end_time=end.get("end_time"))
            state["sent"] = end["seq"]
        state["offset"] = offset
        write_json_atomic(state_path, state)
        if end is None and gone:
            status = "KILLED"  # its process died without ending the run
            client.set_terminated(state["run_id"], status)
            if state["parent_id"] and client.get_run(state["parent_id"]).info.status == "RUNNING":
                client.set_terminated(state["parent_id"], status)
        if status is not None:
            j.remove()
        return {"run_id": state["run_id"], "parent_id": state["parent_id"], "sent": len(calls), "status": status, "name": name}


def write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _deferred_journals(folder: Path, host: str | None = None) -> list[Path]:
    """The deferred journals in ``folder`` (of processes on ``host`` if given), oldest first."""
    found = []
    for path in folder.glob("*.jsonl"):
        start = Journal(path).start()
        if start is not None and "deferred" in start and (host is None or start.get("host") == host):
            found.append((start["deferred"].get("start_time", 0), path))
    return [p for _, p in sorted(found)]


def deliver_all(folder: Path, wait: bool = True) -> list[dict]:
    """:func:`deliver` every deferred journal of this host in ``folder``; ``wait`` waits for the ones being sent."""
    done = []
    for path in _deferred_journals(folder, socket.gethostname()):
        r = deliver(path, block=wait)
        if r is not None:
            done.append(r)
    return done


def _sender_lock(folder: Path):
    return open(folder / f"sender-{socket.gethostname()}.lock", "a")


def ensure_sender(folder: Path) -> None:
    """Start this host's sender unless one is running (it holds the lock)."""
    with _sender_lock(folder) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        fcntl.flock(f, fcntl.LOCK_UN)
    log_path = folder / f"sender-{socket.gethostname()}.log"
    if (_size(log_path) or 0) > SENDER_LOG_MAX:
        os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    log = open(log_path, "a")
    pkg_parent = str(Path(__file__).resolve().parents[1])  # the sender runs this very code
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")]))}
    with log:
        subprocess.Popen([sys.executable, "-m", "sslpipe.tracking", "serve", str(folder)], cwd=repo_root(), env=env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def serve(folder: Path, idle: float | None = None, poll: float = 0.2, retry: float = 10.0) -> None:
    """This host's sender: deliver the deferred journals in ``folder`` as they grow; exit after
    ``idle`` seconds (``SSLPIPE_SENDER_IDLE``, default 30) with nothing sent.  A journal that fails
    (the store down) is tried again after ``retry`` seconds, and does not keep the sender alive: it
    stays for the next sender or ``sslpipe sync-tracking``.  A second sender exits at once."""
    idle = float(os.environ.get(SENDER_IDLE_ENV) or SENDER_IDLE) if idle is None else idle
    folder = Path(folder)
    lockf = _sender_lock(folder)
    try:
        fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    sizes: dict[Path, int] = {}  # journal -> its size when last sent (or tried)
    retry_at: dict[Path, float] = {}
    last = time.monotonic()
    while folder.is_dir():
        now = time.monotonic()
        for path in _deferred_journals(folder, socket.gethostname()):
            try:
                size = path.stat().st_size
                if now < retry_at.get(path, 0.0):
                    continue
                start = Journal(path).start()
                alive = start is not None and _stage_alive(start)
                if sizes.get(path) == size and alive:
                    continue  # nothing new from a stage still running
                r = deliver(path, block=False)
            except FileNotFoundError:
                continue
            except Exception as e:  # noqa: BLE001 - keep serving the others; the journal stays for the next try
                print(f"{time.strftime('%H:%M:%S')} {path.name}: {type(e).__name__}: {e}", flush=True)
                sizes[path], retry_at[path] = size, now + retry
                continue
            sizes[path] = size
            if r is not None and (r["sent"] or r["status"]):
                last = now
        if time.monotonic() - last > idle:
            fcntl.flock(lockf, fcntl.LOCK_UN)
            # a stage that ended just now saw this sender's lock and started none: look once more
            fresh = [p for p in _deferred_journals(folder, socket.gethostname()) if _ended(p) and sizes.get(p) != _size(p)]
            if not fresh:
                break
            try:
                fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                break  # another sender took over
            last = time.monotonic()
        time.sleep(poll)
    lockf.close()


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _ended(path: Path) -> bool:
    """Whether a journal's run has ended or its process is gone (it awaits a sender)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            tail = f.read().splitlines()
        start = Journal(path).start()
    except FileNotFoundError:
        return False
    if start is None:
        return False
    return (bool(tail) and b'"kind": "end"' in tail[-1]) or not _stage_alive(start)


def sync_pending(root: Path | None = None) -> list[tuple[str, str, int, str]]:
    """Send every journal of a finished or dead process to its store: (run id, name, calls sent, status).

    The run is closed with the status its process recorded, or KILLED if the process died
    first (a process on another host counts as dead: its node was lost); journals of processes
    still running on this host are left for them (deferred ones: what they logged so far is sent).
    """
    import mlflow

    folder = (root or repo_root()) / ".cache" / "tracking"
    done = []
    for path in sorted(folder.glob("*.jsonl")):
        j = Journal(path)
        start = j.start()
        if start is not None and "deferred" in start:
            r = deliver(path, dead_elsewhere=True)
            if r is not None and r["status"] is not None:
                done.append((r["run_id"], r["name"], r["sent"], r["status"]))
            continue
        start, pending = j.records()
        if start is None:
            continue
        ended = any(r["kind"] == "end" for r in pending)
        if not ended and start.get("host") == socket.gethostname() and _stage_alive(start):
            continue
        check_reachable(start["uri"])
        _http_retry_defaults(start["uri"])
        client = mlflow.MlflowClient(start["uri"])
        status = j.replay(client) or "KILLED"
        if client.get_run(start["run_id"]).info.status == "RUNNING":
            client.set_terminated(start["run_id"], status)
        j.remove()
        done.append((start["run_id"], start["name"], len(pending), status))
    return done


def register_encoder(experiment: str, dataset: str, run_key: str) -> tuple[str, str, str]:
    """Register the encoder of a run (the newest ``encoder`` model of its row) in the Model Registry
    as ``<experiment>-<run key>``; returns (name, version, the row's run id).

    The version's source run is the encoder's row.  Inside ``dvc exp run`` the experiment's row is used.
    """
    import mlflow

    uri = tracking_uri()
    check_reachable(uri)
    deliver_all(journal_dir(), wait=True)  # a pretrain that just ended may not have reached the store yet
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    filt = f"tags.`{ROLE}` = 'encoder' and tags.dataset = '{dataset}' and tags.run = '{run_key}'"
    rows = [] if exp is None else client.search_runs([exp.experiment_id], filter_string=filt, order_by=["attributes.start_time DESC"])
    rows = [r for r in rows if r.data.tags.get("sslpipe.project") == str(repo_root()) and r.data.tags.get("dvc_exp") == os.environ.get("DVC_EXP_NAME")
            and r.outputs and r.outputs.model_outputs]
    if not rows:
        raise SslpipeError(f"no row of {run_key} with a logged encoder in experiment {experiment!r} of {_redact(uri)}. "
                           f"Fix: run `dvc repro pretrain@{run_key}` (runs on image datasets log their encoder).")
    name = f"{experiment}-{run_key}"
    with _fluent(uri):
        version = mlflow.register_model(f"runs:/{rows[0].info.run_id}/encoder", name)
    return name, version.version, rows[0].info.run_id


def _metric_key(k: str) -> str:
    # MLflow metric names allow / - . _ and alphanumerics; '@' (lowshot/lr@100) is not allowed everywhere.
    return k.replace("@", "_at_")


def inventory(uri: str, experiment: str) -> list[dict]:
    """What the store holds for each run of an experiment, counted through the MLflow client:
    status, number of params, steps per metric key, artifact files (for load tests and checks)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []

    def files(run_id: str, path: str | None = None) -> int:
        return sum(files(run_id, f.path) if f.is_dir else 1 for f in client.list_artifacts(run_id, path))

    out = []
    for r in client.search_runs([exp.experiment_id], max_results=50000):
        rid = r.info.run_id
        out.append({"run_id": rid, "name": r.info.run_name, "status": r.info.status, "params": len(r.data.params),
                    "metric_steps": {k: len(client.get_metric_history(rid, k)) for k in r.data.metrics},
                    "artifacts": files(rid)})
    return out


def stage_times(experiment: str, uri: str | None = None) -> list[dict]:
    """The latest finished run of every stage execution name (``<stage>/<dataset>/<run>``) of an
    experiment with its wall time in seconds (MLflow's start and end times: the time inside the
    tracked run, not the process start-up before it), and for evaluate runs each metric's
    seconds (``metrics``: the run's ``evaluate/seconds/<metric>``)."""
    import mlflow

    deliver_all(journal_dir(), wait=True)  # stages that just ended count too
    client = mlflow.MlflowClient(uri or tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    latest: dict[str, Any] = {}
    for r in client.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=50000):
        i, tags = r.info, r.data.tags
        if "stage" not in tags or tags.get(ROLE) or i.end_time is None:  # encoder rows are not stage executions
            continue
        if i.run_name not in latest or latest[i.run_name][0].start_time < i.start_time:
            latest[i.run_name] = (i, tags["stage"], r.data.metrics)
    return [{"name": n, "stage": stage, "start": i.start_time / 1000, "seconds": (i.end_time - i.start_time) / 1000,
             "metrics": {k[len(METRIC_SECONDS):]: v for k, v in m.items() if k.startswith(METRIC_SECONDS)}}
            for n, (i, stage, m) in sorted(latest.items())]


def _main(argv: list[str]) -> None:
    """``python -m sslpipe.tracking serve <journal folder>``: this host's sender (see :func:`serve`)."""
    if len(argv) != 2 or argv[0] != "serve":
        raise SystemExit("usage: python -m sslpipe.tracking serve <journal folder>")
    serve(Path(argv[1]))


if __name__ == "__main__":
    _main(sys.argv[1:])
