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


#: A stage process: logs `steps` loss values (fewer than the 900 a batch flushes), says it is
#: ready, then waits to be killed.
STAGE = """
import pathlib, sys, time
from sslpipe.tracking import StageRun
with StageRun("t", "pretrain", "toy", sys.argv[2], {"train": {"lr": 0.1}}) as run:
    for s in range(int(sys.argv[1])):
        run.log_metrics({"loss": 1.0 / (s + 1)}, step=s)
    pathlib.Path("ready").write_text(run.run_id)
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


def test_a_killed_run_is_closed_as_killed_by_the_next_execution(store, tmp_path):
    import mlflow

    p, old = _start_stage(tmp_path, "killed")
    p.kill()  # kill -9: no handler runs, the 50 buffered values never reached the store
    p.wait()
    client = mlflow.MlflowClient(store)
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


def test_a_live_run_of_the_same_stage_is_left_alone(store, tmp_path):
    import mlflow

    p, other = _start_stage(tmp_path, "live", steps=1)
    try:
        with StageRun("t", "pretrain", "toy", "live", {"train": {"lr": 0.1}}):
            pass
        assert mlflow.MlflowClient(store).get_run(other).info.status == "RUNNING"
    finally:
        p.kill()
        p.wait()


def test_sigterm_flushes_and_closes_the_run_as_killed(store, tmp_path):
    import mlflow

    p, run_id = _start_stage(tmp_path, "sigterm")
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    client = mlflow.MlflowClient(store)
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


def test_a_killed_stage_leaves_its_rows_records_for_sync(store, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    client = mlflow.MlflowClient(store)
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


def test_a_model_logged_while_the_store_is_down_reaches_the_row_on_sync(store, tmp_path, monkeypatch):
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    client = mlflow.MlflowClient(store)
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
    mlflow.set_tracking_uri(store)  # an earlier test's fixture set another one for the process
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
