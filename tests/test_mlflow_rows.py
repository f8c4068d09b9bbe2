"""The study as researchers browse it in MLflow: one row per encoder, stage runs nested under it,
dataset inputs on every shard-reading stage, and encoders that load as MLflow Models.

A smoke-size study (the committed params.yaml with the smoke preset, on dsprites: the
random_init baseline and a trained beta_vae) goes through the real stage commands in-process,
then everything is read back through the MLflow client.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sslpipe.cli import main
from sslpipe.config import load
from sslpipe.presets import apply_preset, write_runs, yaml_rt
from tests.conftest import python_env

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("random_init", "beta_vae")
STAGES = ("pretrain", "evaluate")


def smoke_params(dest: Path) -> None:
    """params.yaml at smoke size with one image dataset and two runs (a baseline and a trained method)."""
    shutil.copy(ROOT / "params.yaml", dest / "params.yaml")
    apply_preset("smoke", dest / "params.yaml")
    yaml = yaml_rt()
    data = yaml.load((dest / "params.yaml").read_text())
    data["study"]["name"] = "rows"
    data["study"]["datasets"] = ["dsprites"]
    data["study"]["sweeps"] = [{"dataset": "dsprites", "method": list(METHODS)}]
    with open(dest / "params.yaml", "w") as f:
        yaml.dump(data, f)
    write_runs(dest / "params.yaml")


def run_smoke_study(dest: Path):
    """The study of :func:`smoke_params` through every stage command, in ``dest`` (the cwd and store must point there)."""
    smoke_params(dest)
    cfg = load(dest / "params.yaml")
    assert main(["init-tracking"]) == 0
    assert main(["shard", "dsprites"]) == 0
    for r in cfg.runs():
        for stage in STAGES:
            assert main([stage, r.dataset, r.name]) == 0, (stage, r.name)
    assert main(["report"]) == 0
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    import mlflow

    dest = tmp_path_factory.mktemp("mlflow-rows")
    uri = f"sqlite:///{dest / 'mlflow.db'}"
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    mp.delenv("DVC_EXP_NAME", raising=False)
    mlflow.set_tracking_uri(uri)
    # the default delivery: the stages only journal, a sender process sends while they run, and the
    # report waits until every run has reached the store (the tests after it rerun stages in sync mode)
    mp.setenv("SSLPIPE_TRACKING", "deferred")
    try:
        cfg = run_smoke_study(dest)
        assert not list((dest / ".cache" / "tracking").glob("*.jsonl")), "the report left runs unsent"
        mp.setenv("SSLPIPE_TRACKING", "sync")
        yield dest, cfg, mlflow.MlflowClient(uri), mp
    finally:
        torch.set_num_threads(threads)
        mp.undo()


def _runs(client, cfg):
    exp = client.get_experiment_by_name(cfg.study.name)
    return exp, client.search_runs([exp.experiment_id], max_results=1000)


def _rows(runs):
    return [r for r in runs if r.data.tags.get("sslpipe.role") == "encoder"]


def test_the_experiment_opens_on_its_runs_table(study):
    _, cfg, client, _ = study
    exp, _ = _runs(client, cfg)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_one_row_per_encoder_with_its_params_tags_and_metrics(study):
    dest, cfg, client, _ = study
    _, runs = _runs(client, cfg)
    rows = _rows(runs)
    assert sorted(r.info.run_name for r in rows) == sorted(f"dsprites/{r.name}" for r in cfg.runs())
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_name for r in top) == sorted([r.info.run_name for r in rows] + ["shard/dsprites/-", "report/-/-"])
    for row in rows:
        t, p, m = row.data.tags, row.data.params, row.data.metrics
        spec = cfg.run("dsprites", t["mlflow.runName"].split("/")[1])
        assert (t["dataset"], t["method"], t["seed"], t["variant"], t["run"]) == ("dsprites", spec.method, str(spec.seed), "-", spec.key)
        assert t["family"] and row.info.status == "FINISHED"
        assert "backbone.width" in p and "train.lr" in p and p["seed"] == str(spec.seed)  # backbone and training
        assert any(k.startswith(f"methods.{spec.method}") for k in p) or spec.method == "random_init"
        evaluated = json.loads((dest / "metrics/dsprites" / f"{spec.name}.json").read_text())["metrics"]
        for k, v in evaluated.items():
            assert m[k.replace("@", "_at_")] == pytest.approx(v), k
        assert "train/seconds" in m
        assert row.inputs.dataset_inputs and row.inputs.dataset_inputs[0].dataset.name == "dsprites"
    vae = next(r for r in rows if r.data.tags["method"] == "beta_vae")
    assert "methods.beta_vae.beta" in vae.data.params and "train/final_loss" in vae.data.metrics


def test_stage_runs_are_children_of_their_row_with_dataset_inputs(study):
    dest, cfg, client, _ = study
    _, runs = _runs(client, cfg)
    manifest = json.loads((dest / "data/shards/dsprites/manifest.json").read_text())
    from sslpipe.tracking import manifest_digest

    for row in _rows(runs):
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == row.info.run_id]
        assert sorted(r.data.tags["stage"] for r in children) == sorted(STAGES)
        for child in children:
            inputs = child.inputs.dataset_inputs
            assert inputs, child.info.run_name
            assert inputs[0].dataset.digest == manifest_digest(manifest) and inputs[0].dataset.name == "dsprites"
            assert any(t.key == "mlflow.data.context" and t.value for t in inputs[0].tags)
        pretrain = next(c for c in children if c.data.tags["stage"] == "pretrain")
        # system metrics monitor the runs that train; the untrained baseline's pretrain does without them
        monitored = any(k.startswith("system/cpu_utilization_percentage") for k in pretrain.data.metrics)
        assert monitored == (row.data.tags["method"] != "random_init"), (row.data.tags["method"], pretrain.data.metrics.keys())
    shard = next(r for r in runs if r.info.run_name == "shard/dsprites/-")
    assert shard.inputs.dataset_inputs


def test_the_report_is_one_run_with_the_summary_and_figures(study):
    dest, cfg, client, _ = study
    _, runs = _runs(client, cfg)
    (report,) = [r for r in runs if r.data.tags.get("stage") == "report"]
    files = {f.path for f in client.list_artifacts(report.info.run_id, "reports")}
    assert {"reports/summary.md", "reports/summary.json"} <= files
    figures = {f.path.rsplit("/", 1)[1] for f in client.list_artifacts(report.info.run_id, "reports/figures")}
    assert figures and {p.name for p in (dest / "reports/figures").glob("*.png")} <= figures


LOAD = """
import sys, numpy as np, mlflow.pytorch, torch
import sslpipe  # noqa: F401  (the only import a user needs)
x = torch.from_numpy(np.load(sys.argv[1]))
for uri, out in zip(sys.argv[2::2], sys.argv[3::2]):
    with torch.no_grad():
        np.save(out, mlflow.pytorch.load_model(uri)(x).numpy())
"""


def test_the_logged_encoder_loads_in_a_new_process_and_gives_the_embeddings_codes(study, tmp_path):
    from mlflow.models import get_model_info

    from sslpipe.data.loader import load_split

    dest, cfg, client, _ = study
    _, runs = _runs(client, cfg)
    manifest = json.loads((dest / "data/shards/dsprites/manifest.json").read_text())
    images, _ = load_split(dest / "data/shards/dsprites", manifest, "test", limit=5)
    np.save(tmp_path / "x.npy", images)
    args, expected = [], {}
    for row in _rows(runs):
        if "dvc_exp" in row.data.tags:
            continue
        name = row.info.run_name.split("/")[1]
        (pretrain,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == row.info.run_id and r.data.tags["stage"] == "pretrain"]
        uri = f"runs:/{row.info.run_id}/encoder"
        info = get_model_info(uri)
        assert info.signature.inputs.to_dict()[0]["tensor-spec"]["dtype"] == "uint8" and info.signature.outputs is not None
        assert client.get_logged_model(info.model_id).source_run_id == row.info.run_id  # the row's Models column
        assert [m.model_id for m in pretrain.outputs.model_outputs] == [info.model_id]
        args += [uri, str(tmp_path / f"{name}.npy")]
        expected[name] = np.load(dest / "embeddings/dsprites" / f"{name}.npz")["test_z"][:5]
    assert sorted(expected) == sorted(METHODS)
    env = python_env(MLFLOW_TRACKING_URI=f"sqlite:///{dest / 'mlflow.db'}")
    out = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "x.npy"), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for name, codes in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), codes, atol=1e-5, err_msg=name)


def test_a_rerun_updates_its_row_and_a_dvc_experiment_gets_its_own(study):
    dest, cfg, client, mp = study
    exp, before = _runs(client, cfg)
    assert main(["evaluate", "dsprites", "beta_vae"]) == 0
    _, after = _runs(client, cfg)
    assert len(_rows(after)) == len(_rows(before))
    row = next(r for r in _rows(after) if r.data.tags["method"] == "beta_vae")
    evaluates = [r for r in after if r.data.tags.get("mlflow.parentRunId") == row.info.run_id and r.data.tags["stage"] == "evaluate"]
    assert len(evaluates) == 2
    with pytest.MonkeyPatch.context() as m:
        m.setenv("DVC_EXP_NAME", "wider-beta")
        assert main(["evaluate", "dsprites", "beta_vae"]) == 0
    _, runs = _runs(client, cfg)
    rows = [r for r in _rows(runs) if r.data.tags["method"] == "beta_vae"]
    assert len(rows) == 2
    (exp_row,) = [r for r in rows if r.data.tags.get("dvc_exp") == "wider-beta"]
    assert "linear/shape" in exp_row.data.metrics


def test_register_names_the_model_after_its_run_and_points_back(study):
    dest, cfg, client, _ = study
    assert main(["models", "register", "dsprites", "beta_vae"]) == 0
    _, runs = _runs(client, cfg)
    (version,) = client.search_model_versions("name = 'rows-dsprites-beta_vae'")
    row = client.get_run(version.run_id)
    assert row.data.tags["sslpipe.role"] == "encoder" and row.data.tags["run"] == "dsprites-beta_vae" and "dvc_exp" not in row.data.tags
    assert "methods.beta_vae.beta" in row.data.params
