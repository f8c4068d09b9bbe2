"""Adding a metric is one registration: it is evaluated, configurable, in summary.md and in MLflow."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import yaml

from sslpipe.cli import main
from sslpipe.core.schema import check, positive
from sslpipe.evaluate.base import METRICS, EvalContext, metric
from tests.conftest import tiny_toy_study

RAW = tiny_toy_study("toy-metric", metrics={"code_norm": {"power": 3}})


@dataclass
class CodeNormParams:
    power: int = check(2, positive, help="the norm's power.")


@pytest.fixture
def code_norm():
    @metric("code_norm", Params=CodeNormParams, keys="code_norm", paper="a test metric", columns=("code_norm",))
    def code_norm(ctx: EvalContext, p: CodeNormParams) -> dict[str, float]:
        """Mean p-norm of the test codes."""
        return {"code_norm": float(np.mean(np.sum(np.abs(ctx.emb.test_z) ** p.power, axis=1) ** (1 / p.power)))}

    yield code_norm
    del METRICS._items["code_norm"]


def test_a_registered_metric_reaches_metrics_summary_and_mlflow(code_norm, tmp_path, monkeypatch):
    import mlflow

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(RAW))
    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        for cmd in (["init-tracking"], ["shard", "toy"], ["pretrain", "toy", "random_init"],
                    ["evaluate", "toy", "random_init"], ["report"]):
            assert main(cmd) == 0, cmd
    finally:
        torch.set_num_threads(threads)
    value = json.loads((tmp_path / "metrics/toy/random_init.json").read_text())["metrics"]["code_norm"]
    z = np.load(tmp_path / "embeddings/toy/random_init.npz")["test_z"]
    assert value == pytest.approx(float(np.mean(np.sum(np.abs(z) ** 3, axis=1) ** (1 / 3))), rel=1e-6)  # power from params.yaml
    header = next(line for line in (tmp_path / "reports/summary.md").read_text().splitlines() if line.startswith("| method |"))
    assert "code_norm" in header
    metrics = json.loads((tmp_path / "metrics/toy/random_init.json").read_text())["metrics"]
    from sslpipe.evaluate.uncertainty import is_uncertainty_key

    without = [k for k in metrics if not is_uncertainty_key(k) and f"{k}/se" not in metrics and k not in ("code_norm", "factorvae/active_dims")]
    assert not without, f"metrics reported without an uncertainty: {without}"
    assert " ± " in (tmp_path / "reports/summary.md").read_text()
    summary = json.loads((tmp_path / "reports/summary.json").read_text())["rows"][0]["metrics"]
    assert "linear/shape/se" in summary or any(k.endswith("/se") for k in summary)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["toy-metric"], filter_string="tags.stage = 'evaluate'")
    assert runs["metrics.code_norm"].iloc[0] == pytest.approx(value)
    assert runs["params.evaluate.metrics.code_norm.power"].iloc[0] == "3"  # the resolved settings are logged


def test_docs_list_every_registered_metric():
    from pathlib import Path

    from sslpipe.evaluate.base import metrics_table

    docs = (Path(__file__).resolve().parents[2] / "docs/evaluation.md").read_text()
    assert metrics_table() in docs, "docs/evaluation.md's metrics table is stale: paste `sslpipe metrics --docs`"
