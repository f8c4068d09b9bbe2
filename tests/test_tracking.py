from pathlib import Path

from sslpipe.tracking import StageRun, repo_root, tracking_uri


def test_queued_dvc_experiments_log_to_the_users_store(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    exp_dir = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    exp_dir.mkdir(parents=True)
    assert repo_root(exp_dir) == tmp_path / "proj"
    monkeypatch.chdir(exp_dir)
    assert tracking_uri() == f"sqlite:///{tmp_path / 'proj' / 'mlflow.db'}"


def test_environment_uri_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri() == "http://127.0.0.1:5999"


def test_stage_run_records_name_tags_params_metrics(mlflow_store, monkeypatch):
    import mlflow

    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    with StageRun("t", "pretrain", "toy", "simclr", {"train": {"lr": 0.1}, "methods.simclr": {"temperature": 0.5}}) as run:
        run.log_metrics({"loss": 1.0, "lowshot/lr@100/x": 0.5}, step=3)
    runs = mlflow.search_runs(experiment_names=["t"])
    r = runs.iloc[0]
    assert r["tags.mlflow.runName"] == "pretrain/toy/simclr"
    assert r["tags.stage"] == "pretrain" and r["tags.dataset"] == "toy" and r["tags.dvc_exp"] == "exp-1"
    assert r["params.train.lr"] == "0.1" and r["params.methods.simclr.temperature"] == "0.5"
    assert r["metrics.loss"] == 1.0 and r["metrics.lowshot/lr_at_100/x"] == 0.5
    assert len(r["tags.params_hash"]) == 12 and r["status"] == "FINISHED"


def test_a_study_run_is_tagged_with_its_seed_variant_and_key(mlflow_store):
    import mlflow

    tags = {"method": "beta_vae", "run": "toy-beta_vae-beta4-s1", "seed": "1", "variant": "beta4"}
    with StageRun("t2", "pretrain", "toy", "beta_vae-beta4-s1", {"seed": 1, "override": {"beta": 4.0}}, tags):
        pass
    r = mlflow.search_runs(experiment_names=["t2"]).iloc[0]
    assert r["tags.mlflow.runName"] == "pretrain/toy/beta_vae-beta4-s1"
    assert (r["tags.method"], r["tags.seed"], r["tags.variant"], r["tags.run"]) == ("beta_vae", "1", "beta4", "toy-beta_vae-beta4-s1")
    assert r["params.seed"] == "1" and r["params.override.beta"] == "4.0"


# --- killed runs, unreachable stores, moved projects ----------------------------------------
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from sslpipe.tracking import TrackingUnreachable, journal_dir

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """One SQLite store for this module's tests (creating a store runs MLflow's migrations, seconds)."""
    from sslpipe.tracking import init_store

    d = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(d)
        init_store("t")
    return uri


@pytest.fixture
def store(shared_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    monkeypatch.chdir(tmp_path)
    return shared_store


@pytest.fixture
def live(store, monkeypatch):
    """Live sending (every call from the stage process at once), whose failure modes these tests check."""
    monkeypatch.setenv("SSLPIPE_TRACKING", "live")
    return store


@pytest.fixture
def deferred(store, monkeypatch):
    monkeypatch.setenv("SSLPIPE_TRACKING", "deferred")
    return store


#: A stage process: logs `steps` loss values (fewer than the 900 a batch flushes), says it is
#: ready, then waits to be killed.
STAGE = """
import pathlib, sys, time
from sslpipe.tracking import StageRun
with StageRun("t", "pretrain", "toy", sys.argv[2], {"train": {"lr": 0.1}}) as run:
    for s in range(int(sys.argv[1])):
        run.log_metrics({"loss": 1.0 / (s + 1)}, step=s)
    pathlib.Path("ready").write_text(run.run_id or run._journal.path.stem)  # deferred: the journal's id
    time.sleep(60)
"""


def _start_stage(cwd, method, steps=50):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", STAGE, str(steps), method], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    ready = Path(cwd) / "ready"
    t0 = time.time()
    while not ready.exists():
        assert p.poll() is None, p.stderr.read()
        assert time.time() - t0 < 60, "the stage process did not start"
        time.sleep(0.05)
    time.sleep(0.1)
    return p, ready.read_text()


def test_a_killed_run_is_closed_as_killed_by_the_next_execution(live, tmp_path):
    import mlflow

    p, old = _start_stage(tmp_path, "killed")
    p.kill()  # kill -9: no handler runs, the 50 buffered values never reached the store
    p.wait()
    client = mlflow.MlflowClient(live)
    assert client.get_run(old).info.status == "RUNNING"
    assert (journal_dir() / f"{old}.jsonl").exists()
    with StageRun("t", "pretrain", "toy", "killed", {"train": {"lr": 0.1}}) as run:
        pass
    stale = client.get_run(old)
    assert stale.info.status == "KILLED" and stale.info.end_time
    assert stale.data.tags["sslpipe.replaced_by"] == run.run_id
    assert client.get_run(run.run_id).data.tags["sslpipe.replaces"] == old
    assert [m.value for m in client.get_metric_history(old, "loss")] == [1.0 / (s + 1) for s in range(50)]
    assert not list(journal_dir().glob("*.jsonl"))


def test_a_live_run_of_the_same_stage_is_left_alone(live, tmp_path):
    import mlflow

    p, other = _start_stage(tmp_path, "live", steps=1)
    try:
        with StageRun("t", "pretrain", "toy", "live", {"train": {"lr": 0.1}}):
            pass
        assert mlflow.MlflowClient(live).get_run(other).info.status == "RUNNING"
    finally:
        p.kill()
        p.wait()


def test_sigterm_flushes_and_closes_the_run_as_killed(live, tmp_path):
    import mlflow

    p, run_id = _start_stage(tmp_path, "sigterm")
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    client = mlflow.MlflowClient(live)
    assert client.get_run(run_id).info.status == "KILLED"
    assert len(client.get_metric_history(run_id, "loss")) == 50
    assert not list(journal_dir().glob("*.jsonl"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_stops_the_stage_at_once(monkeypatch, tmp_path, capsys):
    from sslpipe.cli import main

    uri = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    t0 = time.perf_counter()
    with pytest.raises(TrackingUnreachable, match="Fix: start the server") as e:
        with StageRun("t", "pretrain", "toy", "simclr", {}):
            raise AssertionError("the stage body must not run")
    assert uri in str(e.value) and time.perf_counter() - t0 < 5
    monkeypatch.chdir(ROOT)
    assert main(["init-tracking"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MLflow tracking store " + uri) and "unreachable" in err


def test_a_copied_project_writes_artifacts_inside_the_copy(shared_store, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    # the project's default store, made elsewhere: its locations point at another mlruns/ too
    shutil.copy(shared_store.removeprefix("sqlite:///"), a / "mlflow.db")
    monkeypatch.chdir(a)
    (a / "one.txt").write_text("1")
    with StageRun("moved", "report") as run:
        run.log_artifact(a / "one.txt")
    assert list(a.glob("mlruns/*/*/artifacts/one.txt"))
    shutil.copytree(a, b)
    monkeypatch.chdir(b)
    (b / "two.txt").write_text("2")
    with StageRun("moved", "report") as run:
        run.log_artifact(b / "two.txt")
    assert list(b.glob("mlruns/*/*/artifacts/two.txt")) and not list(a.glob("mlruns/*/*/artifacts/two.txt"))
    client = mlflow.MlflowClient(f"sqlite:///{b / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) >= 2 and all(r.info.artifact_uri.startswith(str(b / "mlruns") + "/") for r in runs)


# --- deferred sending: the stage only journals, this host's sender sends ----------------------
DEFERRED_STAGE = """
import os, pathlib
import numpy as np, torch
from sslpipe.tracking import Parent, StageRun
tags = {"method": "simclr", "run": "toy-deferred", "seed": "0", "variant": "-"}
pathlib.Path("out.txt").write_text("v1")
with StageRun("t", "pretrain", "toy", "deferred", {"train": {"lr": 0.1}}, tags, Parent("toy/deferred", tags, {"m": 1})) as run:
    for s in range(50):
        run.log_metrics({"loss": 1.0 / (s + 1)}, step=s)
    run.log_metrics({"linear/shape": 0.5}, encoder=True)
    torch.manual_seed(0)
    run.log_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), np.ones((3, 1, 2, 2), np.float32))
    run.log_artifact("out.txt")
    run.start_system_metrics()
# the next execution replaces its outputs (atomically, as the stages do): the logged version stays v1
pathlib.Path("new.txt").write_text("v2")
os.replace("new.txt", "out.txt")
pathlib.Path("done").write_text("")
"""


def _wait(cond, what, timeout=60.0):
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, what
        time.sleep(0.2)


def test_a_deferred_stage_journals_without_mlflow_and_its_sender_delivers_everything(deferred, tmp_path, monkeypatch):
    import fcntl

    import mlflow
    import numpy as np
    import torch

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT), SSLPIPE_SENDER_IDLE="2")
    subprocess.run([sys.executable, "-c", DEFERRED_STAGE], cwd=tmp_path, env=env, check=True)
    client = mlflow.MlflowClient(deferred)
    exp = client.get_experiment_by_name("t").experiment_id

    def delivered():
        runs = client.search_runs([exp], "attributes.run_name = 'pretrain/toy/deferred' and attributes.status = 'FINISHED'")
        return runs and not list(journal_dir().glob("*.jsonl"))

    _wait(delivered, "the sender did not deliver the run")
    (run,) = [r for r in client.search_runs([exp], "attributes.run_name = 'pretrain/toy/deferred'")
              if r.data.tags.get("sslpipe.project") == str(tmp_path)]
    row = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert run.data.params["train.lr"] == "0.1" and row.data.params["m"] == "1" and row.info.run_name == "toy/deferred"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0 / (s + 1) for s in range(50)]
    assert row.data.metrics["linear/shape"] == 0.5 and row.info.status == "FINISHED"
    assert any(k.startswith("system/cpu_utilization_percentage") for k in run.data.metrics)
    assert run.info.start_time <= run.info.end_time <= (tmp_path / "done").stat().st_mtime * 1000 + 1  # the stage's own times
    assert row.info.start_time == run.info.start_time  # the row the sender created starts with its stage, not when sent
    mlflow.set_tracking_uri(deferred)
    got = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="out.txt", dst_path=str(tmp_path / "dl")))
    assert got.read_text() == "v1"
    loaded = mlflow.pytorch.load_model(f"runs:/{row.info.run_id}/encoder")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.ones(3, 1, 2, 2)
    assert torch.equal(loaded(x), net(x))
    assert [m.model_id for m in client.get_run(run.info.run_id).outputs.model_outputs] == \
        [m.model_id for m in row.outputs.model_outputs]
    assert not [p for p in journal_dir().iterdir() if not p.name.startswith("sender-")]  # journals, locks, snapshots gone

    def sender_gone():  # it exits once idle, releasing this host's lock
        with open(journal_dir() / f"sender-{socket.gethostname()}.lock", "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    _wait(sender_gone, "the sender did not exit when idle", timeout=30)


def test_the_deferred_stage_imports_no_mlflow(deferred, tmp_path):
    code = ("import sys\nfrom sslpipe.tracking import StageRun\n"
            "with StageRun('t', 'embed', 'toy', 'x', {'a': 1}) as run:\n    run.log_metrics({'m': 1.0})\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'pandas', 'sqlalchemy')))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), SSLPIPE_SENDER_IDLE="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_killed_deferred_stage_reaches_the_store_as_killed(deferred, tmp_path):
    import mlflow

    p, jid = _start_stage(tmp_path, "killed-deferred")
    p.kill()
    p.wait()
    assert (journal_dir() / f"{jid}.jsonl").exists()  # nothing sent yet: the stage never reached its end
    (done,) = sync_pending(tmp_path)
    client = mlflow.MlflowClient(deferred)
    run = client.get_run(done[0])
    assert done[3] == "KILLED" and run.info.status == "KILLED" and run.data.tags["sslpipe.journal"] == jid
    assert [m.value for m in client.get_metric_history(done[0], "loss")] == [1.0 / (s + 1) for s in range(50)]
    assert not list(journal_dir().glob("*.jsonl"))


def test_sigterm_closes_a_deferred_run_as_killed(deferred, tmp_path):
    import mlflow

    p, jid = _start_stage(tmp_path, "sigterm-deferred")
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    _wait(lambda: not (journal_dir() / f"{jid}.jsonl").exists(), "the sender did not deliver the killed run")
    client = mlflow.MlflowClient(deferred)
    (run,) = client.search_runs([client.get_experiment_by_name("t").experiment_id], f"tags.`sslpipe.journal` = '{jid}'")
    assert run.info.status == "KILLED" and len(client.get_metric_history(run.info.run_id, "loss")) == 50


def test_a_dead_stage_whose_pid_was_reused_is_closed_as_killed(deferred, tmp_path):
    """A pid alone cannot tell a running stage from a later process that got its pid: the journal
    also records when its process started, and a process that started at another time is not it."""
    import mlflow

    from sslpipe import tracking

    p, jid = _start_stage(tmp_path, "reused-pid")
    try:
        path = journal_dir() / f"{jid}.jsonl"
        start = tracking.Journal(path).start()
        assert start["pid_start"] == tracking._proc_start(p.pid) and tracking._stage_alive(start)
        assert tracking.deliver(path)["status"] is None  # its process runs: the run stays open
        # the stage died and a later process got its pid: same pid, another start time
        lines = path.read_text().splitlines(keepends=True)
        lines[0] = json.dumps({**start, "pid_start": start["pid_start"] - 1}) + "\n"
        path.write_text("".join(lines))
        r = tracking.deliver(path)
        assert r["status"] == "KILLED" and not path.exists()
        assert mlflow.MlflowClient(deferred).get_run(r["run_id"]).info.status == "KILLED"
    finally:
        p.kill()
        p.wait()


def test_the_senders_log_is_moved_aside_when_a_sender_starts_on_a_long_one(deferred, monkeypatch):
    from sslpipe import tracking

    started = []
    monkeypatch.setattr(tracking.subprocess, "Popen", lambda *a, **k: started.append(k["stdout"].name))
    folder = journal_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"sender-{socket.gethostname()}.log"
    log.write_text("x" * 100)
    tracking.ensure_sender(folder)  # a short log is appended to
    assert log.read_text() == "x" * 100 and not log.with_name(log.name + ".1").exists()
    log.write_text("y" * (tracking.SENDER_LOG_MAX + 1))
    tracking.ensure_sender(folder)
    assert log.with_name(log.name + ".1").read_text().startswith("y") and log.stat().st_size == 0
    assert started == [str(log), str(log)]


def test_one_sender_at_a_time_per_journal_and_nothing_sent_twice(deferred, monkeypatch):
    import fcntl

    import mlflow

    from sslpipe import tracking

    monkeypatch.setattr(tracking, "ensure_sender", lambda folder: None)  # this test is the only sender
    with StageRun("t", "embed", "toy", "once", {"a": 1}) as run:
        run.log_metrics({"m": 1.0}, step=0)
    (path,) = journal_dir().glob("*.jsonl")
    with open(path.with_suffix(".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        assert tracking.deliver(path, block=False) is None
    r = tracking.deliver(path)
    assert r["status"] == "FINISHED" and r["sent"] == 3  # params, metrics, end
    assert tracking.deliver(path) is None and not path.exists()
    assert len(mlflow.MlflowClient(deferred).get_metric_history(r["run_id"], "m")) == 1


def test_a_stage_that_ends_while_the_sender_reads_its_journal_is_not_taken_for_killed(deferred, monkeypatch):
    """Found in a smoke study: the sender read a journal without its end record, then saw the process
    gone (it had written the record and exited in between) and closed a finished run as KILLED."""
    import mlflow

    from sslpipe import tracking

    monkeypatch.setattr(tracking, "ensure_sender", lambda folder: None)
    run = StageRun("t", "pretrain", "toy", "race", {"a": 1})
    run.__enter__()
    run.log_metrics({"m": 1.0}, step=0)
    gone = []
    read = tracking.Journal.calls_from

    def stage_ends_during_the_read(self, offset):
        out = read(self, offset)
        if not gone:
            run.__exit__(None, None, None)
            gone.append(True)
        return out

    monkeypatch.setattr(tracking, "_pid_alive", lambda pid: not gone)
    monkeypatch.setattr(tracking.Journal, "calls_from", stage_ends_during_the_read)
    path = run._journal.path
    first = tracking.deliver(path)
    assert first["status"] is None and path.exists()  # alive when asked: the run stays open
    second = tracking.deliver(path)
    assert second["status"] == "FINISHED" and not path.exists()
    assert mlflow.MlflowClient(deferred).get_run(second["run_id"]).info.status == "FINISHED"


def test_a_sender_whose_store_is_down_keeps_the_journal_and_still_exits_when_idle(deferred, monkeypatch):
    import threading

    from sslpipe import tracking

    monkeypatch.setattr(tracking, "ensure_sender", lambda folder: None)
    with StageRun("t", "embed", "toy", "down", {"a": 1}) as run:
        run.log_metrics({"m": 1.0})
    (path,) = journal_dir().glob("*.jsonl")
    start = json.loads(path.read_text().splitlines()[0])
    start["uri"] = f"http://127.0.0.1:{_free_port()}"  # a server that is not there
    path.write_text("\n".join([json.dumps(start)] + path.read_text().splitlines()[1:]) + "\n")
    sender = threading.Thread(target=tracking.serve, args=(journal_dir(),), kwargs={"idle": 1.0, "retry": 0.5}, daemon=True)
    sender.start()
    sender.join(20)
    assert not sender.is_alive(), "the sender kept retrying a journal it cannot send instead of exiting"
    assert path.exists()  # kept for the next sender or sslpipe sync-tracking


def test_a_run_whose_closing_failed_is_closed_with_its_own_status_on_the_next_try(deferred, monkeypatch):
    import mlflow

    from sslpipe import tracking

    monkeypatch.setattr(tracking, "ensure_sender", lambda folder: None)
    with StageRun("t", "embed", "toy", "close-fails", {"a": 1}) as run:
        run.log_metrics({"m": 1.0})
    (path,) = journal_dir().glob("*.jsonl")
    client = tracking._client_for(deferred)
    real = client.set_terminated
    monkeypatch.setattr(client, "set_terminated", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("store gone")))
    with pytest.raises(RuntimeError, match="store gone"):
        tracking.deliver(path)
    monkeypatch.setattr(client, "set_terminated", real)
    r = tracking.deliver(path)  # this process is alive: only the journal's end record can close the run
    assert r["status"] == "FINISHED" and not path.exists()
    assert mlflow.MlflowClient(deferred).get_run(r["run_id"]).info.status == "FINISHED"


def test_an_unknown_tracking_mode_is_refused_with_the_choices(monkeypatch):
    from sslpipe.core.errors import SslpipeError

    monkeypatch.setenv("SSLPIPE_TRACKING", "later")
    with pytest.raises(SslpipeError, match="deferred, sync, live"):
        StageRun("t", "embed")


# --- the encoder's row ----------------------------------------------------------------------
from sslpipe.tracking import Parent, sync_pending

TAGS = {"method": "simclr", "run": "toy-simclr", "seed": "0", "variant": "-"}


def _row(params=None):
    return Parent("toy/simclr", {**TAGS, "family": "contrastive"}, params)


def test_stage_runs_nest_under_one_encoder_row_until_its_parameters_change(store, monkeypatch):
    import mlflow

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    client = mlflow.MlflowClient(store)
    exp = client.get_experiment_by_name("t").experiment_id
    ids = []
    for stage, params in (("pretrain", {"methods.simclr": {"temperature": 0.5}}), ("evaluate", None), ("evaluate", None)):
        with StageRun("t", stage, "toy", "simclr", {"x": 1}, TAGS, _row(params)) as run:
            run.log_metrics({"loss": 2.0}, step=1)
            run.log_metrics({"linear/shape": 0.5 + len(ids) / 10}, encoder=True)
        ids.append((run.parent_id, run.run_id))
    assert len({p for p, _ in ids}) == 1
    row = client.get_run(ids[0][0])
    assert row.info.run_name == "toy/simclr" and row.info.status == "FINISHED" and row.data.tags["family"] == "contrastive"
    assert row.data.params["methods.simclr.temperature"] == "0.5" and row.data.metrics["linear/shape"] == 0.7
    assert "loss" not in row.data.metrics  # a stage's own metrics stay on its run
    assert all(client.get_run(r).data.tags["mlflow.parentRunId"] == row.info.run_id for _, r in ids)
    with StageRun("t", "pretrain", "toy", "simclr", {}, TAGS, _row({"methods.simclr": {"temperature": 0.2}})) as run:
        pass
    assert run.parent_id != row.info.run_id  # another encoder: MLflow parameters cannot change
    monkeypatch.setenv("DVC_EXP_NAME", "exp-2")
    with StageRun("t", "evaluate", "toy", "simclr", {}, TAGS, _row()) as other:
        pass
    assert other.parent_id not in (row.info.run_id, run.parent_id)
    assert client.get_run(other.parent_id).data.tags["dvc_exp"] == "exp-2"
    rows = client.search_runs([exp], "tags.`sslpipe.role` = 'encoder' and tags.run = 'toy-simclr'")
    assert len(rows) == 3


def test_a_killed_stage_leaves_its_rows_records_for_sync(live, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    client = mlflow.MlflowClient(live)
    run = StageRun("t", "evaluate", "toy", "sync", {}, {**TAGS, "run": "toy-sync"}, Parent("toy/sync", {**TAGS, "run": "toy-sync"}))
    run.__enter__()
    run._go_offline(RuntimeError("server gone"))  # as if the store had stopped answering
    run.log_metrics({"mig": 0.25}, encoder=True)
    run.__exit__(None, None, None)
    assert "mig" not in client.get_run(run.parent_id).data.metrics
    (done,) = sync_pending(tmp_path)
    assert done[0] == run.run_id and done[3] == "FINISHED"
    row = client.get_run(run.parent_id)
    assert row.data.metrics["mig"] == 0.25 and row.info.status == "FINISHED"


def test_a_model_logged_while_the_store_is_down_reaches_the_row_on_sync(live, tmp_path, monkeypatch):
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    client = mlflow.MlflowClient(live)
    tags = {**TAGS, "run": "toy-model"}
    run = StageRun("t", "pretrain", "toy", "model", {}, tags, Parent("toy/model", tags, {"m": 1}))
    run.__enter__()
    run._go_offline(RuntimeError("server gone"))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = np.ones((3, 1, 2, 2), np.float32)
    run.log_model(net, x)
    run.__exit__(None, None, None)
    assert not client.get_run(run.parent_id).outputs.model_outputs
    sync_pending(tmp_path)
    mlflow.set_tracking_uri(live)  # an earlier test's fixture set another one for the process
    loaded = mlflow.pytorch.load_model(f"runs:/{run.parent_id}/encoder")
    with torch.no_grad():
        assert torch.equal(loaded(torch.from_numpy(x)), net(torch.from_numpy(x)))
    assert [m.model_id for m in client.get_run(run.run_id).outputs.model_outputs] == \
        [m.model_id for m in client.get_run(run.parent_id).outputs.model_outputs]


def test_model_logging_leaves_the_process_store_variable_alone(monkeypatch):
    """MLflow's fluent store is pointed at the run's store only to log a model; its set_tracking_uri
    also rewrites MLFLOW_TRACKING_URI (deleting it when restoring an unset URI), which would send the
    rest of the process's runs to another store."""
    import os

    import mlflow
    from mlflow.tracking._tracking_service import utils

    from sslpipe.tracking import _fluent

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///process.db")
    for earlier in (None, "sqlite:///earlier-fluent.db"):  # a fresh process; one where the fluent store was set
        monkeypatch.setattr(utils, "_tracking_uri", earlier)
        with _fluent("sqlite:///model-store.db"):
            assert mlflow.get_tracking_uri() == "sqlite:///model-store.db"
        assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///process.db" and utils._tracking_uri == earlier


def test_registering_an_encoder_sends_the_pending_journals_first(deferred, monkeypatch):
    """`sslpipe models register` right after a pretrain finds its model though no sender has run yet."""
    import numpy as np
    import torch

    from sslpipe import tracking
    from sslpipe.tracking import register_encoder

    monkeypatch.setattr(tracking, "ensure_sender", lambda folder: None)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    tags = {**TAGS, "run": "toy-reg"}
    with StageRun("t", "pretrain", "toy", "reg", {}, tags, Parent("toy/reg", tags, {"m": 1})) as run:
        run.log_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), np.ones((3, 1, 2, 2), np.float32))
    assert list(journal_dir().glob("*.jsonl"))
    name, version, row = register_encoder("t", "toy", "toy-reg")
    assert name == "t-toy-reg" and row and not list(journal_dir().glob("*.jsonl"))
