"""Seeds on CPU: two runs that differ only in their seed give different models and metrics, and the
same run made twice gives identical ones (through the stage commands, in-process, on the toy source)."""
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from sslpipe.cli import main

pytestmark = pytest.mark.slow

STUDY = {"name": "seeds", "seed": 0, "datasets": ["toy"], "sweeps": [{"dataset": "toy", "method": "ae", "seeds": [0, 1]}]}
RAW = {
    "study": STUDY,
    "data": {"toy": {}},
    "backbone": {"width": 8, "code_dim": 4},
    "train": {"batch_size": 32, "steps": 30, "threads": 1, "log_every": 5},
    "methods": {"ae": {}},
    "evaluate": {"embed": {"n_train": 200, "n_test": 80}, "metrics": {
        "lowshot": {"sizes": [10, 50]}, "dci": {"n_estimators": 5, "max_train": 100}, "modularity": {"max_train": 100},
        "betavae": {"batch_size": 4, "n_train": 10, "n_eval": 6}, "factorvae": {"batch_size": 4, "n_train": 10, "n_eval": 6, "var_samples": 40},
        "interpolation": {"images": 60, "n_pairs": 20}}},
    "report": {"scatter_points": 50},
}


def _run(name: str) -> tuple[dict, dict]:
    for stage in ("pretrain", "evaluate"):
        assert main([stage, "toy", name]) == 0
    state = torch.load(f"models/toy/{name}/model.pt", weights_only=False)["state_dict"]
    return state, json.loads(Path(f"metrics/toy/{name}.json").read_text())


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    dest = tmp_path_factory.mktemp("seeds")
    (dest / "params.yaml").write_text(yaml.safe_dump(RAW, sort_keys=False))
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{dest / 'mlflow.db'}")
    try:
        assert main(["init-tracking"]) == 0 and main(["shard", "toy"]) == 0
        first = {name: _run(name) for name in ("ae", "ae-s1")}
        shutil.rmtree("models/toy/ae")
        again = _run("ae")
        yield first, again
    finally:
        torch.set_num_threads(threads)
        mp.undo()


def test_runs_that_differ_only_in_seed_differ(made):
    (s0, m0), (s1, m1) = made[0]["ae"], made[0]["ae-s1"]
    assert any(not torch.equal(s0[k], s1[k]) for k in s0 if s0[k].is_floating_point())
    assert m0["seed"] == 0 and m1["seed"] == 1
    assert m0["metrics"] != m1["metrics"]
    assert m0["metrics"]["linear/size"] != m1["metrics"]["linear/size"] or m0["metrics"]["mig"] != m1["metrics"]["mig"]


def test_the_same_run_twice_gives_identical_models_and_metrics(made):
    (s0, m0), (s0b, m0b) = made[0]["ae"], made[1]
    assert all(torch.equal(s0[k], s0b[k]) for k in s0)
    assert m0 == m0b
