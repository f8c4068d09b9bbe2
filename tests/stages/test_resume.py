"""A killed and resumed pretrain stage leaves the same outputs as an uninterrupted one.

Same model file (byte for byte), the whole training curve in train.csv, and the whole loss
history in the resumed MLflow run, through the real stage command.
"""
import csv

import yaml

from sslpipe.cli import main
from sslpipe.core import paths

STUDY = {"name": "resume", "seed": 0, "datasets": ["toy"], "sweeps": [{"dataset": "toy", "method": "simclr"}]}
PARAMS = {
    "study": STUDY,
    "data": {"toy": {}},
    "backbone": {"width": 8, "depth": 2, "code_dim": 4},
    "train": {"batch_size": 32, "steps": 12, "checkpoint_every": 4, "log_every": 2, "warmup_steps": 2, "threads": 1},
    "methods": {"simclr": {"steps": 12}},
}


def _project(path, monkeypatch):
    path.mkdir()
    (path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(path)
    assert main(["shard", "toy"]) == 0


def _curve(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "images_per_s"} for r in csv.DictReader(f)]


def test_kill_and_resume_leaves_the_outputs_of_an_uninterrupted_run(tmp_path, monkeypatch, mlflow_store):
    import mlflow

    _project(tmp_path / "clean", monkeypatch)
    assert main(["pretrain", "toy", "simclr"]) == 0
    clean_model = paths.model_file("toy", "simclr").read_bytes()
    clean_curve = _curve(paths.train_log("toy", "simclr"))

    _project(tmp_path / "killed", monkeypatch)
    assert main(["pretrain", "toy", "simclr", "--stop-after", "5"]) == 0  # as if killed after step 5
    assert paths.resume_file("toy", "simclr").exists() and not paths.model_file("toy", "simclr").exists()
    assert main(["pretrain", "toy", "simclr"]) == 0
    assert paths.model_file("toy", "simclr").read_bytes() == clean_model
    curve = _curve(paths.train_log("toy", "simclr"))
    assert [int(r["step"]) for r in curve] == [2, 4, 6, 8, 10, 12]
    assert curve == clean_curve  # first_loss of the metrics file comes from this curve

    client = mlflow.MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("resume").experiment_id],
                              "attributes.run_name = 'pretrain/toy/simclr'", order_by=["attributes.start_time DESC"])
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert sorted(m.step for m in history) == [2, 4, 6, 8, 10, 12]
