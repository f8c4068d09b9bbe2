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
