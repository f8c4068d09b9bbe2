"""Tracking against real MLflow servers: a server stopped before and during a stage, and the
load tests (``make test-tracking``: 16 stage processes against the PostgreSQL-backed server,
16 Snakemake jobs 4 at a time against the default SQLite store).
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sslpipe.tracking import TrackingUnreachable, journal_dir

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mlflow server`` on a SQLite backend in a directory; start() and stop() at will, same store."""

    def __init__(self, d: Path):
        self.d, self.port, self.proc = d, _free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{self.d / 'server.db'}",
               "--artifacts-destination", str(self.d / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        t0 = time.time()
        while time.time() - t0 < 120:
            try:
                urllib.request.urlopen(self.uri + "/health", timeout=2)
                return self
            except OSError:
                assert self.proc.poll() is None, "mlflow server exited"
                time.sleep(0.3)
        raise AssertionError("mlflow server did not start in 120 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


#: A stage: logs 30 steps, signals "half", waits for "go", logs 30 more and an artifact, then
#: writes its output file (as every stage writes its outputs whatever the tracking does).
STAGE = """
import pathlib, time
from sslpipe.tracking import StageRun
with StageRun("t", "pretrain", "toy", "simclr", {"train": {"lr": 0.1}}) as run:
    for s in range(30):
        run.log_metrics({"loss": float(s)}, step=s)
    run.flush()
    pathlib.Path("half").write_text(run.run_id)
    while not pathlib.Path("go").exists():
        time.sleep(0.05)
    for s in range(30, 60):
        run.log_metrics({"loss": float(s)}, step=s)
    pathlib.Path("model.txt").write_text("weights")
    run.log_artifact("model.txt", "model")
pathlib.Path("out.txt").write_text("done")
"""


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path).start()
    yield s
    s.stop()


@pytest.mark.slow
def test_a_server_gone_mid_stage_loses_nothing(server, tmp_path, monkeypatch):
    import mlflow

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    # live sending: the stage itself meets the server gone, mid-stage
    env = dict(os.environ, PYTHONPATH=str(ROOT), MLFLOW_HTTP_REQUEST_MAX_RETRIES="1", SSLPIPE_TRACKING="live")
    p = subprocess.Popen([sys.executable, "-c", STAGE], cwd=work, env=env, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (work / "half").exists():
        assert p.poll() is None and time.time() - t0 < 120, p.stderr.read() if p.poll() is not None else "stage did not start"
        time.sleep(0.05)
    run_id = (work / "half").read_text()
    server.stop()
    (work / "go").touch()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert (work / "out.txt").read_text() == "done"  # the stage's own output is written
    assert "sslpipe sync-tracking" in err and server.uri in err
    assert (journal_dir() / f"{run_id}.jsonl").exists()

    # Down at the start of the next stage: it stops at once, naming the URI and the fix.
    from sslpipe.tracking import StageRun

    t0 = time.perf_counter()
    with pytest.raises(TrackingUnreachable, match="Fix: start the server"):
        with StageRun("t", "pretrain", "toy", "simclr", {}):
            raise AssertionError("the stage body must not run")
    assert time.perf_counter() - t0 < 5
    out = subprocess.run([sys.executable, "-m", "sslpipe.cli", "sync-tracking"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 2 and f"MLflow tracking store {server.uri} is unreachable" in out.stderr and "Fix:" in out.stderr

    server.start()
    out = subprocess.run([sys.executable, "-m", "sslpipe.cli", "sync-tracking"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "closed as FINISHED" in out.stdout
    client = mlflow.MlflowClient(server.uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [float(s) for s in range(60)]
    assert [f.path for f in client.list_artifacts(run_id, "model")] == ["model/model.txt"]
    assert not list(journal_dir().glob("*.jsonl"))


def test_a_server_gone_when_a_journaled_stage_ends_keeps_everything_for_sync(server, tmp_path, monkeypatch, capsys):
    import mlflow

    from sslpipe.tracking import StageRun, sync_pending

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("SSLPIPE_TRACKING", "sync")  # the stage sends its journal as it ends
    with StageRun("t", "pretrain", "toy", "gone", {"a": 1}) as run:
        for s in range(60):
            run.log_metrics({"loss": float(s)}, step=s)
        server.stop()
    err = capsys.readouterr().err
    assert "did not take the run of pretrain/toy/gone" in err and "sslpipe sync-tracking" in err and server.uri in err
    assert len(list(journal_dir().glob("*.jsonl"))) == 1
    server.start()
    (done,) = sync_pending(work)
    client = mlflow.MlflowClient(server.uri)
    assert done[3] == "FINISHED" and client.get_run(done[0]).info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(done[0], "loss")] == [float(s) for s in range(60)]
    assert not list(journal_dir().glob("*.jsonl"))


# --- load tests (make test-tracking) ---------------------------------------------------------
@pytest.mark.tracking
def test_load_16_processes_against_the_tracking_server(monkeypatch, tmp_path):
    from sslpipe import loadtest

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith("http"):
        pytest.fail("needs a tracking server in MLFLOW_TRACKING_URI. Fix: run `make test-tracking`.")
    monkeypatch.chdir(tmp_path)
    result = loadtest.run(processes=16, steps=300, metrics=4, artifacts=3)
    print("\n" + result.table(), file=sys.stderr)
    assert result.complete, result.table()


@pytest.mark.tracking
def test_load_16_snakemake_jobs_4_at_a_time_against_sqlite(monkeypatch, tmp_path):
    from sslpipe import loadtest

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    result = loadtest.run(processes=16, steps=300, metrics=4, artifacts=3, snakemake_jobs=4)
    assert result.store == "sqlite"
    print("\n" + result.table(), file=sys.stderr)
    assert result.complete, result.table()
