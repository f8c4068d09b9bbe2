"""``sslpipe bench``: the per-sample reference views, the --json figures, a stage's phase times
and the stage-time breakdown from MLflow, at a tiny size."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sslpipe.augment import ViewConfig
from sslpipe.augment.persample import PerSampleViews, per_sample_loader
from sslpipe.cli import main
from sslpipe.core.runtime import TIMES_ENV
from tests.conftest import tiny_toy_study


@pytest.mark.parametrize("channels", [1, 3])
def test_per_sample_views_are_seeded_float_views_of_one_image(channels):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (channels, 24, 24), dtype=np.uint8)
    cfg = ViewConfig(blur_p=1.0, solarize_p=0.5, affine_p=0.5, degrees=10.0, translate=0.1)
    a = [PerSampleViews(cfg, channels, 16, seed=3).view(image) for _ in range(2)]
    assert a[0].shape == (channels, 16, 16) and a[0].dtype == torch.float32
    assert 0.0 <= float(a[0].min()) and float(a[0].max()) <= 1.0
    assert torch.equal(a[0], a[1])  # same seed, same view
    views = PerSampleViews(cfg, channels, 16, seed=3)
    assert not torch.equal(views.view(image), views.view(image))  # the stream moves on


def test_identity_views_return_the_image():
    image = np.random.default_rng(1).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    cfg = ViewConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
    out = PerSampleViews(cfg, 3, 16).view(image)
    assert torch.equal(out, torch.from_numpy(image).float() / 255)


def test_per_sample_loader_yields_two_views_of_every_image():
    images = np.random.default_rng(2).integers(0, 256, (10, 1, 16, 16), dtype=np.uint8)
    batches = list(per_sample_loader(images, ViewConfig(), 1, 16, batch_size=4, workers=0))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert all(v1.shape == v2.shape == (len(v1), 1, 16, 16) for v1, v2 in batches)


@pytest.fixture
def toy_project(tmp_path, monkeypatch):
    raw = tiny_toy_study("toy-bench")
    raw["study"]["sweeps"] = [{"dataset": "toy", "method": ["random_init", "simclr"]}]
    raw["train"] = {"threads": 1, "batch_size": 32}
    raw["methods"]["simclr"] = {"steps": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.fixture
def quick_timers(monkeypatch):
    from sslpipe import bench

    monkeypatch.setattr(bench, "BLOCKS", 2)
    monkeypatch.setattr(bench, "BLOCK_SECONDS", 0.01)
    monkeypatch.setattr(bench, "PER_SAMPLE_IMAGES", 128)


def test_a_rate_is_the_median_of_timed_blocks_after_a_warm_up(monkeypatch):
    from sslpipe import bench

    # binary fractions, so that the fake clock adds up exactly
    costs = iter([8.0] * bench.WARMUP + [0.125] * 3 + [0.5] + [0.0625] * 6 + [0.25] * 2 + [1.0] * 20)
    clock = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])

    def call():  # each call advances the clock by its cost: the warm-up's slow calls are not timed
        clock[0] += next(costs)

    monkeypatch.setattr(bench, "BLOCKS", 4)
    monkeypatch.setattr(bench, "BLOCK_SECONDS", 0.375)
    rate = bench._block_rate(call, 10, torch.device("cpu"))
    # blocks: 3 calls of 0.125 s (80/s), 1 of 0.5 (20/s), 6 of 0.0625 (160/s), 2 of 0.25 (40/s) -> median (40 + 80) / 2
    assert rate == pytest.approx(60.0)


def test_bench_json_reports_every_figure(toy_project, capsys, quick_timers):
    assert main(["shard", "toy"]) == 0
    capsys.readouterr()
    assert main(["bench", "--dataset", "toy", "--methods", "random_init", "simclr", "--steps", "1", "--images", "64",
                 "--workers", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"device", "threads", "workers", "dataset", "shape", "read_images_per_s", "methods", "train_seconds_total"} <= set(r)
    assert r["methods"]["random_init"] == {"trained": False}
    m = r["methods"]["simclr"]
    assert {"views_per_s", "per_sample_views_per_s", "views_ratio", "synthetic_step_images_per_s", "shard_step_images_per_s",
            "shard_over_synthetic", "data_wait_fraction", "first_batch_seconds", "steps", "train_seconds"} <= set(m)
    assert 0 <= m["data_wait_fraction"] < 1 and m["first_batch_seconds"] > 0
    assert m["views_per_s"] > 0 and m["per_sample_views_per_s"] > 0
    assert m["views_ratio"] == pytest.approx(m["views_per_s"] / m["per_sample_views_per_s"])
    assert m["steps"] == 2 and r["shape"] == [1, 16, 16]


def test_stage_phase_times_and_stage_breakdown(toy_project, monkeypatch):
    from sslpipe import bench

    times = toy_project / "times.json"
    monkeypatch.setenv(TIMES_ENV, str(times))
    for cmd in (["init-tracking"], ["shard", "toy"], ["pretrain", "toy", "random_init"]):
        assert main(cmd) == 0, cmd
    phases = json.loads(times.read_text())
    assert list(phases) == ["config", "open", "work", "close"] and all(v >= 0 for v in phases.values())
    assert main(["pretrain", "toy", "random_init"]) == 0  # a second execution: only the latest counts
    assert main(["evaluate", "toy", "random_init"]) == 0
    kinds = bench.stage_breakdown("toy-bench")
    assert {k: v["runs"] for k, v in kinds.items()} == {"shard": 1, "pretrain": 1, "evaluate": 1}
    assert all(v["seconds"] >= v["median"] > 0 for v in kinds.values())
    # the evaluate stage's time per metric, slowest first, every metric that ran, within the stage's time
    per_metric = kinds["evaluate"]["metrics"]
    assert {"linear", "dci", "mig"} <= set(per_metric) and list(per_metric.values()) == sorted(per_metric.values(), reverse=True)
    assert 0 < sum(per_metric.values()) <= kinds["evaluate"]["seconds"]
    assert all("metrics" not in v for k, v in kinds.items() if k != "evaluate")


def test_stage_cost_runs_the_stage_in_the_tracking_mode_asked_for(monkeypatch):
    """The child process gets the mode (live: the stage sends its own run, as before the deferred sender);
    its phases come from the child's times file (the toy dataset exists only in this process, so the child is faked)."""
    from sslpipe import bench

    seen = []

    def fake_wall(cmd, repeats, env=None):
        seen.append((cmd[-3:], env["SSLPIPE_TRACKING"]))
        Path(env[TIMES_ENV]).write_text(json.dumps({"config": 0.5, "open": 0.25, "work": 1.0, "close": 0.25}))
        return 2.5, [2.5]

    monkeypatch.setattr(bench, "_median_wall", fake_wall)
    cost = bench.stage_cost("toy", "random_init", 2, mode="live")
    assert seen == [(["pretrain", "toy", "random_init"], "live")] * 2
    assert cost["tracking"] == "live" and cost["median"]["fixed"] == 1.5 and cost["median"]["tracking"] == 0.5
    assert cost["median"]["startup"] == pytest.approx(0.5)


def test_the_study_bench_runs_the_environments_dvc_without_it_on_path(monkeypatch):
    """`.venv/bin/sslpipe bench --study` (make bench-study) runs without the venv on PATH."""
    import sys

    from sslpipe import bench

    monkeypatch.setenv("PATH", "/nonexistent")
    assert bench._dvc() == str(Path(sys.executable).parent / "dvc")


def test_views_at_a_resolution_and_their_table(capsys, quick_timers):
    """The CUDA figures (views at 32 and 64 px) come from the same function on any device; the table shows them."""
    from sslpipe import bench
    from sslpipe.augment import ViewConfig

    rates = {str(res): bench.views_at(ViewConfig(), 3, res, 8, torch.device("cpu")) for res in bench.VIEW_RESOLUTIONS}
    assert set(rates) == {"32", "64"} and all(v > 0 for v in rates.values())
    m = {"trained": True, "views_per_s": 1.0, "per_sample_views_per_s": 1.0, "views_ratio": 1.0, "synthetic_step_images_per_s": 2.0,
         "shard_step_images_per_s": 1.0, "shard_over_synthetic": 0.5, "data_wait_fraction": 0.02, "steps": 3, "train_seconds": 1.0,
         "views_per_s_at": {"32": 12345.0, "64": 2345.0}}
    bench.print_data({"device": "cuda:0", "threads": 1, "workers": 1, "dataset": "d", "shape": [3, 32, 32], "read_images_per_s": 1.0,
                      "methods": {"simclr": m}, "train_seconds_total": 1.0})
    out = capsys.readouterr().out
    assert "2.0%" in out and "views on cuda:0" in out and "12,345" in out and "2,345" in out
