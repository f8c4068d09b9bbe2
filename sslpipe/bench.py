"""``sslpipe bench``: where the time goes.

Data path (default): (a) reading shards, (b) each method's batched Kornia views against (b')
the same views made one image at a time with PIL in DataLoader workers (the way image libraries
usually do it) and their ratio, (c) a training step on synthetic in-memory tensors, (d) the same
step fed from shards through the trainer's own loop, and (d)/(c): how much the data pipeline
costs the trainer (1.0 = free), with (e) the share of the loop's time spent waiting for batches
(on CUDA the loop prefetches: goal under 5%).  On CUDA it also times each method's views at 32
and 64 px.

Study (``--study``): a stage's fixed cost (process start, imports, config, tracked run: the
wall time of a stage with almost no work minus that work), a no-op ``dvc repro`` and ``dvc
status``, and the time of each stage kind in the last run of the study (from MLflow).

``--json`` prints the same figures as one JSON object instead of tables.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .config import Config
from .core import paths
from .core.errors import DataError, SslpipeError

METRICS_SHOWN = 8  # the slowest metrics printed under the evaluate stage kind


VIEW_RESOLUTIONS = (32, 64)  # the view sizes timed on CUDA


def _rate(n_images: int, seconds: float) -> float:
    return n_images / max(seconds, 1e-9)


def _sync(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously: a timer must not stop before it)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: a timed figure is the median of BLOCKS blocks of calls, each at least BLOCK_SECONDS long, after
#: WARMUP calls: a handful of 10-50 ms calls varied by 2-6x between runs of `sslpipe bench`
BLOCKS, BLOCK_SECONDS, WARMUP = 5, 0.3, 3
#: images through the per-sample views in their steady state (the given images repeated)
PER_SAMPLE_IMAGES = 8192


def _block_rate(call, n_images: int, device) -> float:
    """Images per second of ``call()`` (``n_images`` each): the median over timing blocks (see BLOCKS)."""
    for _ in range(WARMUP):
        call()
    rates = []
    for _ in range(BLOCKS):
        _sync(device)
        t0, calls = time.perf_counter(), 0
        while True:
            call()
            calls += 1
            _sync(device)
            if time.perf_counter() - t0 >= BLOCK_SECONDS:
                break
        rates.append(_rate(calls * n_images, time.perf_counter() - t0))
    return statistics.median(rates)


def read_rate(shard_dir, manifest) -> float:
    from .data.loader import iter_chunks
    from .data.shards import shard_urls

    t0, n = time.perf_counter(), 0
    for images, _ in iter_chunks(shard_urls(shard_dir, manifest, "train")):
        n += len(images)
    return _rate(n, time.perf_counter() - t0)


def step_rate(method, cfg, batches, device, steps: int) -> float:
    from .data.loader import to_device
    from .train import make_optimizer

    opt = make_optimizer(method.optim_parameters(), cfg)
    method.train()

    def step():
        x = to_device(next(batches), device)
        loss, _ = method.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        method.on_step_end(0)
        return x.shape[0]

    step()  # warm-up
    _sync(device)
    t0, n = time.perf_counter(), 0
    for _ in range(steps):
        n += step()
    _sync(device)
    return _rate(n, time.perf_counter() - t0)


def loop_rate(method, cfg, batches, device, steps: int, prefetch: bool | None = None) -> tuple[float, float, float]:
    """Images per second of the trainer's own loop (``fit_gradient``: shard stream, prefetching on
    CUDA, AMP where configured) over ``steps`` steps, the share of its time spent waiting for
    batches after the first, and the seconds until the first (the shuffle buffer filling, once per run)."""
    import dataclasses

    from .train import fit_gradient

    short = dataclasses.replace(cfg, steps=steps, log_every=steps, checkpoint_every=steps + 1)
    result = fit_gradient(method, short, batches, device, prefetch=prefetch)
    _sync(device)
    return result.images_per_s, result.data_wait_fraction, result.first_batch_seconds


def view_rate(method, x) -> float | None:
    """Images per second through the method's batched views (both views of each image); None: it has none."""
    import torch

    with torch.no_grad():
        if method.views(x) is None:
            return None
        return _block_rate(lambda: method.views(x), x.shape[0], x.device)


def views_at(views_cfg, channels: int, resolution: int, batch_size: int, device) -> float:
    """Images per second (two views each, made as the methods make them: one batched call) of a
    method's view pipeline on random images of ``resolution`` px."""
    import torch

    from .augment import build_views, view_pair
    from .data.loader import to_device

    views = build_views(views_cfg, channels, resolution).to(device)
    x = to_device(np.random.default_rng(0).integers(0, 256, size=(batch_size, channels, resolution, resolution), dtype=np.uint8), device)
    with torch.no_grad():
        return _block_rate(lambda: view_pair(views, x), batch_size, device)


def per_sample_rate(views_cfg, images: np.ndarray, batch_size: int, workers: int) -> float:
    """Images per second (two views each) made one image at a time with PIL in ``workers`` DataLoader
    processes, in their steady state: from the first batch (the workers started, which a training
    run pays once) to the last, over at least ``PER_SAMPLE_IMAGES`` images (``images`` repeated)."""
    from .augment.persample import per_sample_loader

    images = np.concatenate([images] * max(2, -(-PER_SAMPLE_IMAGES // len(images))))
    loader = per_sample_loader(images, views_cfg, images.shape[1], images.shape[-1], batch_size, workers)
    t0, n = None, 0
    for v1, _ in loader:
        if t0 is None:
            t0 = time.perf_counter()
            continue
        n += v1.shape[0]
    return _rate(n, time.perf_counter() - t0)


def run(cfg: Config, dataset: str, methods: list[str] | None, steps: int, workers: int | None = None,
        per_sample_images: int = 1024) -> dict:
    """The data-path figures as a dict (``print_data`` shows them as a table)."""
    import torch

    from .augment import ViewConfig
    from .core.runtime import seed_everything, select_device
    from .data.loader import load_split, to_device, train_batches
    from .data.shards import verify_shards
    from .methods.base import MethodContext, build_method

    shard_dir = paths.shard_dir(dataset)
    manifest = verify_shards(shard_dir, splits=("train",))
    if manifest.get("modality", "image") != "image":
        raise DataError(f"dataset {dataset!r} holds {manifest['modality']}; bench measures image pipelines. Fix: bench an image dataset.")
    info = manifest["info"]
    device = select_device(cfg.train.device)
    seed_everything(cfg.study.seed, cfg.train.threads)
    workers = max(1, os.cpu_count() or 1) if workers is None else workers
    names = methods or list(dict.fromkeys(r.method for r in cfg.runs() if r.dataset == dataset))
    images, _ = load_split(shard_dir, manifest, "train", limit=per_sample_images)
    out = {"device": str(device), "threads": torch.get_num_threads(), "workers": workers, "dataset": dataset,
           "shape": [info["channels"], info["resolution"], info["resolution"]],
           "read_images_per_s": read_rate(shard_dir, manifest), "methods": {}}
    total = 0.0
    for name in names:
        tcfg = cfg.method_train(name)
        method = build_method(name, cfg.methods[name], MethodContext(info["channels"], info["resolution"], cfg.backbone, cfg.study.seed)).to(device)
        if not method.trainable:
            out["methods"][name] = {"trained": False}
            continue
        shape = (tcfg.batch_size, info["channels"], info["resolution"], info["resolution"])
        rng = np.random.default_rng(0)
        synthetic = [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(2)]
        batch = images[:tcfg.batch_size] if len(images) >= tcfg.batch_size else synthetic[0]
        views = view_rate(method, to_device(batch, device))
        views_cfg = getattr(cfg.methods[name], "views", None)
        per_sample = None
        if views is not None and isinstance(views_cfg, ViewConfig):
            per_sample = per_sample_rate(views_cfg, images, tcfg.batch_size, workers)

        def cycle():
            while True:
                yield from synthetic

        def shard_stream():
            return train_batches(shard_dir, manifest, tcfg.batch_size, tcfg.shuffle_buffer, cfg.study.seed)

        c = step_rate(method, tcfg, cycle(), device, steps)
        d, wait, first = loop_rate(method, tcfg, shard_stream(), device, steps)
        seconds = tcfg.steps * tcfg.batch_size / d  # the pretrain stage's training time at this rate
        total += seconds
        out["methods"][name] = {
            "trained": True, "views_per_s": views, "per_sample_views_per_s": per_sample,
            "views_ratio": views / per_sample if views and per_sample else None,
            "synthetic_step_images_per_s": c, "shard_step_images_per_s": d, "shard_over_synthetic": d / c,
            "data_wait_fraction": wait, "first_batch_seconds": first, "steps": tcfg.steps, "train_seconds": seconds,
        }
        if device.type == "cuda":
            # the same loop reading each batch when it needs it (the trainer before prefetching)
            d0, wait0, _ = loop_rate(method, tcfg, shard_stream(), device, steps, prefetch=False)
            out["methods"][name]["no_prefetch"] = {"shard_step_images_per_s": d0, "data_wait_fraction": wait0}
            if isinstance(views_cfg, ViewConfig):
                out["methods"][name]["views_per_s_at"] = {
                    str(res): views_at(views_cfg, info["channels"], res, tcfg.batch_size, device) for res in VIEW_RESOLUTIONS}
    out["train_seconds_total"] = total
    return out


def print_data(r: dict) -> None:
    c, res, _ = r["shape"]
    print(f"device {r['device']}, {r['threads']} threads, {r['workers']} DataLoader workers, dataset {r['dataset']} {c}x{res}x{res}")
    print(f"(a) read shards: {r['read_images_per_s']:,.0f} images/s")
    print(f"{'method':16s} {'(b) views':>10s} {'(b) 1-by-1':>11s} {'ratio':>6s} {'(c) synthetic':>14s} {'(d) shards':>11s} "
          f"{'(d)/(c)':>8s} {'(e) wait':>8s} {'steps':>6s} {'train s':>8s}")
    fmt = lambda v, f="{:,.0f}": "-" if v is None else f.format(v)  # noqa: E731
    for name, m in r["methods"].items():
        if not m["trained"]:
            print(f"{name:16s} {'-':>10s} {'-':>11s} {'-':>6s} {'(not trained)':>14s}")
            continue
        print(f"{name:16s} {fmt(m['views_per_s']):>10s} {fmt(m['per_sample_views_per_s']):>11s} {fmt(m['views_ratio'], '{:.1f}'):>6s} "
              f"{m['synthetic_step_images_per_s']:>14,.0f} {m['shard_step_images_per_s']:>11,.0f} {m['shard_over_synthetic']:>8.2f} "
              f"{100 * m['data_wait_fraction']:>7.1f}% {m['steps']:>6d} {m['train_seconds']:>8.1f}")
    print("(b) batched Kornia views; (b) 1-by-1: the same views one image at a time with PIL in DataLoader workers; "
          "ratio = batched / 1-by-1 (images/s, two views each); (e) the trainer's loop waiting for batches after the first, share of its time")
    off = {name: m["no_prefetch"] for name, m in r["methods"].items() if m.get("no_prefetch")}
    if off:
        print("without prefetching (each batch read when the step needs it): " + ", ".join(
            f"{name} {v['shard_step_images_per_s']:,.0f} images/s, wait {100 * v['data_wait_fraction']:.1f}%" for name, v in off.items()))
    at = {name: m["views_per_s_at"] for name, m in r["methods"].items() if m.get("views_per_s_at")}
    if at:
        sizes = list(next(iter(at.values())))
        print(f"views on {r['device']} (images/s, two views each, the method's batch size):")
        print(f"  {'method':16s} " + " ".join(f"{s + ' px':>10s}" for s in sizes))
        for name, v in at.items():
            print(f"  {name:16s} " + " ".join(f"{v[s]:>10,.0f}" for s in sizes))
    print(f"training time of these methods at their configured steps: {r['train_seconds_total']:.0f} s (stage start-up and evaluation not included)")


# --- the study's fixed costs ------------------------------------------------------------
def _median_wall(cmd: list[str], repeats: int, env: dict | None = None) -> tuple[float, list[float]]:
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["stages are not up to date"]
            raise SslpipeError(f"`{' '.join(cmd)}` exited with {done.returncode} ({last[0]}): the study is not built and unchanged. "
                               "Fix: run `dvc repro` first, then bench it.")
    return statistics.median(walls), walls


def stage_cost(dataset: str, run_name: str, repeats: int, mode: str | None = None) -> dict:
    """Whole-process wall time of ``sslpipe pretrain <dataset> <run>`` of an untrained run (random_init:
    nearly no work; median of ``repeats``) and its phases: start-up (interpreter, CLI), config (imports and params.yaml), open (run
    check, tracked run), work, close; fixed cost = wall - work.  ``mode``: the tracking mode
    (``SSLPIPE_TRACKING``; default: this environment's)."""
    from .core.io import read_json
    from .core.runtime import TIMES_ENV
    from .tracking import MODE_ENV, tracking_mode

    mode = mode or tracking_mode()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, **{TIMES_ENV: str(Path(tmp) / "times.json"), MODE_ENV: mode})
        for _ in range(repeats):
            _, (wall,) = _median_wall([sys.executable, "-m", "sslpipe", "pretrain", dataset, run_name], 1, env)
            phases = read_json(Path(tmp) / "times.json")
            rows.append({"wall": wall, "startup": wall - sum(phases.values()), **phases})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    med["fixed"] = statistics.median(r["wall"] - r["work"] for r in rows)
    med["tracking"] = statistics.median(r["open"] + r["close"] for r in rows)
    return {"stage": f"pretrain {dataset} {run_name}", "tracking": mode, "repeats": repeats, "median": med, "runs": rows}


def _dvc() -> str:
    """DVC of this Python's environment (``.venv/bin/sslpipe`` runs without the venv on PATH), else the one on PATH."""
    import shutil

    here = Path(sys.executable).parent / "dvc"
    found = str(here) if here.exists() else shutil.which("dvc")
    if found is None:
        raise SslpipeError("dvc is not installed in this environment. Fix: `make install` (or `pip install -e .`), then run this again.")
    return found


def stage_breakdown(experiment: str) -> dict:
    """Seconds per stage kind in the latest finished run of every stage (MLflow's run times); the
    evaluate kind also sums each metric's seconds over its runs (``metrics``, slowest first)."""
    from .tracking import stage_times

    times = stage_times(experiment)
    kinds: dict[str, list[float]] = {}
    per_metric: dict[str, dict[str, float]] = {}
    for t in times:
        kinds.setdefault(t["stage"], []).append(t["seconds"])
        for name, s in t.get("metrics", {}).items():
            sums = per_metric.setdefault(t["stage"], {})
            sums[name] = sums.get(name, 0.0) + s
    return {k: {"runs": len(v), "seconds": sum(v), "median": statistics.median(v),
                **({"metrics": dict(sorted(per_metric[k].items(), key=lambda kv: -kv[1]))} if k in per_metric else {})}
            for k, v in kinds.items()}


def study(cfg: Config, repeats: int = 5, dataset: str | None = None, run_name: str | None = None) -> dict:
    """The study's fixed costs and its last run's stage times (the project must be built: ``dvc repro``)."""
    runs = cfg.runs()
    baseline = [r for r in runs if r.method == "random_init"] or runs
    if dataset is None or run_name is None:
        dataset, run_name = baseline[0].dataset, baseline[0].name
    times = stage_breakdown(cfg.study.name)  # before the timed stage executions below add runs of their own
    dvc = _dvc()
    status = _median_wall([dvc, "status", "-q"], repeats)
    repro = _median_wall([dvc, "repro", "-q"], repeats)
    return {
        "repeats": repeats,
        "stage": stage_cost(dataset, run_name, repeats),
        # the same stage sending its run itself, as every stage did before the deferred sender
        "stage_live": stage_cost(dataset, run_name, repeats, mode="live"),
        "dvc_status_s": status[0], "dvc_status_runs": status[1],
        "dvc_noop_repro_s": repro[0], "dvc_noop_repro_runs": repro[1],
        "stage_times": times,
    }


def print_study(r: dict) -> None:
    for s in (r["stage"], r.get("stage_live")):
        if s is None:
            continue
        m = s["median"]
        print(f"stage fixed cost ({s['stage']}, tracking {s.get('tracking', 'live')}, median of {s['repeats']}): {m['fixed']:.2f} s of "
              f"{m['wall']:.2f} s wall (start-up {m['startup']:.2f}, config {m['config']:.2f}, open {m['open']:.2f}, work {m['work']:.2f}, "
              f"close {m['close']:.2f}; tracked run {m['tracking']:.2f})")
    print(f"no-op dvc repro: {r['dvc_noop_repro_s']:.2f} s, dvc status: {r['dvc_status_s']:.2f} s (median of {r['repeats']})")
    times = r["stage_times"]
    if not times:
        print("stage times: no finished runs in the MLflow store yet")
        return
    total = sum(t["seconds"] for t in times.values())
    print(f"stage times of the last run (inside the tracked runs; MLflow), {total:.0f} s in all:")
    for kind, t in sorted(times.items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"  {kind:10s} {t['runs']:4d} runs {t['seconds']:8.1f} s ({100 * t['seconds'] / max(total, 1e-9):4.1f}%), median {t['median']:.2f} s")
        for name, s in list(t.get("metrics", {}).items())[:METRICS_SHOWN]:
            print(f"    {name:16s} {s:8.1f} s ({100 * s / max(t['seconds'], 1e-9):4.1f}% of {kind})")
