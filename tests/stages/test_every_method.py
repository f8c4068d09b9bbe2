"""Every run of the default study through the real stage commands, in-process at smoke size.

The dvc and snakemake runners are driven end to end in tests/test_e2e.py on a few methods;
here each run of the committed params.yaml (every method, random_init with seeds 0 and 1) goes through the same
``sslpipe shard / pretrain / evaluate / report`` commands the runners call, so every
registered method is trained, embedded, evaluated and reported while the imports are paid
once (a subprocess per stage costs ~6 s of imports, tens of minutes over the whole study).
"""
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from sslpipe.core import paths
from sslpipe.cli import main
from sslpipe.config import load
from sslpipe.data.sources import SOURCES
from sslpipe.methods.base import METHODS
from sslpipe.presets import apply_preset
from sslpipe.smoke import restrict_runs

ROOT = Path(__file__).resolve().parents[2]
STUDY = load(ROOT / "params.yaml").runs()
#: random_init's seeds 0 and 1 on every dataset: its other seeds (2-9 on dSprites, 2 elsewhere) run the same code
SEEDS = {0, 1}
RUNS = [(r.dataset, r.name) for r in STUDY if r.method != "random_init" or r.seed in SEEDS]
TEXT = {d for d in load(ROOT / "params.yaml").study.datasets if getattr(SOURCES.get(d), "modality", "image") == "text"}
VIDEO = {d for d in load(ROOT / "params.yaml").study.datasets if getattr(SOURCES.get(d), "modality", "image") == "video"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The default study at smoke size in a scratch directory: params, shards and MLflow store."""
    dest = tmp_path_factory.mktemp("every-method")
    shutil.copy(ROOT / "params.yaml", dest / "params.yaml")
    apply_preset("smoke", dest / "params.yaml")
    restrict_runs(dest / "params.yaml", None, SEEDS)
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{dest / 'mlflow.db'}")
    try:
        assert main(["init-tracking"]) == 0
        cfg = load(dest / "params.yaml")
        for dataset in cfg.study.datasets:
            assert main(["shard", dataset]) == 0
        yield dest, cfg
    finally:
        torch.set_num_threads(threads)  # the smoke preset trains on one thread
        mp.undo()


def test_the_default_study_holds_every_registered_method():
    assert {r.method for r in STUDY} == set(METHODS.names())


@pytest.mark.parametrize("dataset,run", RUNS, ids=[f"{d}-{r}" for d, r in RUNS])
def test_run_trains_embeds_and_evaluates(study, dataset, run):
    for stage in ("pretrain", "evaluate"):
        assert main([stage, dataset, run]) == 0, f"{stage} {dataset} {run} failed"
    assert paths.model_file(dataset, run).exists() and paths.embedding_file(dataset, run).exists()
    metrics = json.loads(paths.metrics_file(dataset, run).read_text())["metrics"]
    if dataset in TEXT:  # word evaluation: analogies, similarity, word and token probes (and perplexity for a language model)
        probes = [k for k in metrics if k.startswith(("analogy/add", "probe/", "token_probe/")) and not k.endswith("/se")]
        assert {"analogy/add", "similarity/spearman", "probe/pos", "token_probe/pos"} <= set(metrics), metrics
        assert ("perplexity" in metrics) == run.startswith("ngram_lm") and not any(k.startswith("linear/") for k in metrics)
        plots = ("word_map.png", "neighbours.md")
    else:
        probes = [k for k in metrics if k.startswith("linear/")]
        if dataset != "digits":  # datasets with ground-truth factors get the disentanglement metrics
            assert {"mig", "dci/disentanglement", "sap", "betavae", "factorvae", "modularity"} <= set(metrics)
        plots = ("embedding.png",)
    if dataset in VIDEO:  # per-frame probes above; clip probes, label propagation against its baselines, task heads
        method = METHODS.get(run.split("-")[0])
        assert {"clip_linear/shape", "propagation/j_pixels", "propagation/j_copy", "propagation/j_masks", "propagation/j"} <= set(metrics), metrics
        assert ("propagation/j_embedding" in metrics) == hasattr(method, "location_map")
        assert ("task/arrow_of_time" in metrics) == (method.name == "arrow_of_time")
        assert ("task/frame_order" in metrics) == (method.name == "frame_order")
        plots += ("propagation.png",)
    assert probes and all(math.isfinite(metrics[k]) and 0 <= metrics[k] <= 1 for k in probes), metrics
    assert all((paths.plots_dir(dataset, run) / p).exists() for p in plots)


def test_report_lists_every_run_and_mlflow_has_every_stage(study):
    import mlflow

    dest, cfg = study
    assert main(["report"]) == 0
    rows = json.loads((dest / "reports/summary.json").read_text())["rows"]
    assert {(r["dataset"], r["run"]) for r in rows} == set(RUNS)
    md = (dest / "reports/summary.md").read_text()
    assert all(f"| {r.method} |" in md for r in STUDY)
    assert "| random_init | – | baseline | 0, 1 |" in md  # the baseline's seeds form one group
    assert all(f"## {d}" in md for d in TEXT) and "## Claims" in md  # the language table and the claim lines
    mlflow.set_tracking_uri(f"sqlite:///{dest / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[cfg.study.name])
    finished = set(runs.loc[runs["status"] == "FINISHED", "tags.mlflow.runName"])
    assert {f"{s}/{d}/{r}" for d, r in RUNS for s in ("pretrain", "evaluate")} <= finished
