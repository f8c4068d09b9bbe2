"""The one entry point: ``sslpipe <stage> ...``; the only module that parses arguments."""
from __future__ import annotations

import argparse
import sys

from .core.errors import SslpipeError


def _cfg(args):
    from .config import load

    return load(args.params)


def cmd_stage(args):
    """Any declared stage: open its context (run check, tracked run, ...) and run it."""
    import os
    import time

    from .core.runtime import TIMES_ENV
    from .stages import STAGES
    from .stages.base import StageContext

    marks = [("start", time.perf_counter())]
    mark = lambda name: marks.append((name, time.perf_counter()))  # noqa: E731
    stage = STAGES[args.command]
    opts = {"stop_after": args.stop_after} if getattr(args, "stop_after", None) is not None else {}
    # a stage that reads no parameters and is not tracked (code) does without them: loading them imports torch
    cfg = _cfg(args) if stage.params or stage.over or stage.tracked else None
    mark("config")
    with StageContext(cfg, stage, **{a: getattr(args, a) for a in stage.args}) as ctx:
        mark("open")
        stage.run(ctx, **opts)
        mark("work")
    mark("close")
    if os.environ.get(TIMES_ENV):
        from .core.io import write_json

        write_json(os.environ[TIMES_ENV], {name: t - prev for (_, prev), (name, t) in zip(marks, marks[1:])})


def cmd_graph(args):
    from .stages import graph

    if args.check:
        if not graph.is_current(args.dvc_yaml):
            raise SslpipeError(f"{args.dvc_yaml} is not what the stage declarations generate. Fix: run `sslpipe graph --write`.")
        print(f"{args.dvc_yaml}: current")
    elif args.write:
        print(f"{args.dvc_yaml}: {'written' if graph.write(args.dvc_yaml) else 'already current'}")
    else:
        from .stages import STAGES

        print(graph.render(STAGES.values()), end="")


def cmd_metrics(args):
    from . import evaluate  # noqa: F401  (registers every metric)
    from .evaluate.base import METRICS, metrics_table

    if args.docs:
        print(metrics_table())
        return
    for m in METRICS.in_order():
        print(f"{m.name:14s} {m.keys}")


def cmd_config(args):
    import dataclasses

    import yaml

    cfg = _cfg(args)
    section = lambda v: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else {k: dataclasses.asdict(x) for k, x in v.items()}  # noqa: E731
    resolved = {"study": cfg.raw.get("study", {})} | {k: section(getattr(cfg, k)) for k in ("backbone", "train", "data", "methods", "evaluate", "report")}
    print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None), end="")


def cmd_validate(args):
    from .config import require_run_table

    cfg = _cfg(args)  # also fails when the run table is stale
    require_run_table(args.params, in_project_only=True)
    print(f"{args.params}: OK ({len(cfg.study.datasets)} datasets, {len(cfg.runs())} runs)")


def cmd_runs(args):
    """The runs study.sweeps expands to (one line each); --write regenerates the run table DVC reads, --check fails when it is stale."""
    from .config import expand_sweeps, load_raw, require_run_table, runs_file
    from .presets import write_runs

    table = runs_file(args.params)
    if args.write:
        changed = write_runs(args.params)
        print(f"{table or args.params}: {'written' if changed else 'already current'}"
              + ("" if table else " (a run table is written for a project's params.yaml only: DVC reads that file)"))
        return
    if args.check:
        require_run_table(args.params)
        _cfg(args)  # loading fails with the fix when the run table is not the expansion of study.sweeps
        print(f"{table}: current" if table else f"{args.params}: valid (no run table: not a project's params.yaml)")
        return
    runs, _ = expand_sweeps(load_raw(args.params).get("study") or {})
    width = max(map(len, runs), default=0)
    for key, r in runs.items():
        over = " ".join(f"{k}={v}" for k, v in _flat(r["overrides"]).items())
        print(f"{key:{width}s}  seed={r['seed']}  {over}".rstrip())
    print(f"{len(runs)} runs", file=sys.stderr)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def cmd_methods(args):
    from . import methods  # noqa: F401
    from .methods.base import METHODS

    for name in METHODS.names():
        print(name)


def cmd_datasets(args):
    from . import data  # noqa: F401
    from .data.sources import SOURCES

    for name in SOURCES.names():
        print(name)


def cmd_defaults(args):
    import dataclasses

    import yaml

    from . import methods  # noqa: F401
    from .methods.base import METHODS

    names = args.names or METHODS.names()
    block = {n: dataclasses.asdict(METHODS.get(n).Params()) for n in names}
    print(yaml.safe_dump({"methods": block}, sort_keys=False, default_flow_style=None), end="")


def cmd_init_tracking(args):
    from .tracking import init_store, tracking_uri, ui_address

    exp_id = init_store(_cfg(args).study.name)
    print(f"MLflow store ready: {tracking_uri()}")
    print(f"its runs table in the UI (make ui): {ui_address(exp_id)}")


def cmd_sync_tracking(args):
    from .tracking import sync_pending

    done = sync_pending()
    for run_id, name, n, status in done:
        print(f"{name}: run {run_id}: {n} logged calls sent, closed as {status}")
    print(f"{len(done)} run(s) synced" if done else "nothing to sync: every run's tracking data reached its store")


def cmd_models(args):
    from .tracking import register_encoder

    cfg = _cfg(args)
    key = cfg.run(args.dataset, args.run).key
    name, version, run_id = register_encoder(cfg.study.name, args.dataset, key)
    print(f"registered {name} version {version} (from the encoder's run {run_id}); load it with mlflow.pytorch.load_model('models:/{name}/{version}')")


def cmd_load_tracking(args):
    from . import loadtest

    if args.worker is not None:
        loadtest.worker(args.worker, args.experiment, args.steps, args.metrics, args.artifacts, args.out)
    else:
        loadtest.main(args.processes, args.steps, args.metrics, args.artifacts, args.snakemake_jobs)


def cmd_preset(args):
    from .presets import apply_preset

    apply_preset(args.name, args.params)
    print(f"applied preset {args.name!r} to {args.params}")


def cmd_smoke(args):
    from .smoke import main

    if args.profile and args.runner != "snakemake":
        raise SslpipeError(f"--profile {args.profile} is a Snakemake profile. Fix: add --runner snakemake.")
    main(args.runner, args.keep, args.all, args.profile)


def cmd_study(args):
    from .smoke import study

    study(args.name, args.size, args.runner, args.dir, args.cores)


def cmd_bench(args):
    import json

    from . import bench

    if args.study:
        result = bench.study(_cfg(args), args.repeats)
        show = bench.print_study
    else:
        result = bench.run(_cfg(args), args.dataset, args.methods, args.steps, args.workers, args.images)
        show = bench.print_data
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        show(result)


def cmd_fidelity(args):
    from pathlib import Path

    from . import fidelity
    from .core.io import read_json

    if not args.table and not args.changes:
        fidelity.run(_cfg(args), args.models, args.plan, args.out, args.runs, args.metrics, args.threads)
    if args.changes:
        print(fidelity.changes(read_json(args.out) if Path(args.out).exists() else None, *args.changes))
        return
    result = read_json(args.out)
    print(fidelity.markdown(result))
    for m, c in fidelity.choose(result).items():
        ok = ", ".join(f"{n} ({s['seconds']:.1f} CPU s{'' if s['passes'] else ', fails on ' + str(s['worst'])})" for n, s in c["settings"].items())
        print(f"{m}: cheapest within tolerance: {c['cheapest'] or 'none'}; {ok}")


ARG_HELP = {"run": "run name within the dataset: the method for a plain run, else <method>[-<overrides>][-s<seed>] (see `sslpipe runs`)",
            "name": "the preset's name: smoke, paper, disentanglement or architectures (`sslpipe study`: a study preset)"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sslpipe", description="Reproducible self-supervised representation-learning study: "
                                "code, params -> shard -> pretrain -> evaluate (embed, metrics) -> report (driven by dvc.yaml or workflow/Snakefile).")
    p.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_, *args):
        sp = sub.add_parser(name, help=help_, description=help_)
        for a in args:
            sp.add_argument(a, help=ARG_HELP.get(a, f"{a} name"))
        sp.set_defaults(fn=fn)
        return sp

    from .stages import STAGES  # declarations only: each stage imports its heavy modules when it runs

    for name, stage in STAGES.items():
        sp = add(name, cmd_stage, stage.help, *stage.args)
        if name == "pretrain":
            sp.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    sp = add("graph", cmd_graph, "print dvc.yaml as the stage declarations generate it (--write to update it, --check to verify)")
    sp.add_argument("--write", action="store_true")
    sp.add_argument("--check", action="store_true")
    sp.add_argument("--dvc-yaml", default="dvc.yaml")
    sp = add("metrics", cmd_metrics, "list registered metrics and the keys they report")
    sp.add_argument("--docs", action="store_true", help="print docs/evaluation.md's table of registered metrics")
    add("config", cmd_config, "print the fully resolved configuration (params.yaml over the code's defaults)")
    add("validate", cmd_validate, "check params.yaml and exit")
    sp = add("runs", cmd_runs, "print the runs study.sweeps expands to (--write regenerates the run table workflow/runs.json that DVC reads, --check verifies it)")
    sp.add_argument("--write", action="store_true")
    sp.add_argument("--check", action="store_true")
    add("methods", cmd_methods, "list registered methods, one per line")
    add("datasets", cmd_datasets, "list registered datasets, one per line")
    sp = add("defaults", cmd_defaults, "print the params.yaml block of methods with every parameter at its default")
    sp.add_argument("names", nargs="*", help="method names (default: all)")
    add("init-tracking", cmd_init_tracking, "create the MLflow store and experiment (before parallel jobs)")
    add("sync-tracking", cmd_sync_tracking, "send tracking data that did not reach the MLflow store (server down mid-stage, killed runs)")
    sp = add("models", cmd_models, "MLflow Model Registry: `models register <dataset> <run>` registers a run's trained encoder "
             "as <study>-<dataset>-<run>, its version pointing to the encoder's run (its row)")
    sp.add_argument("action", choices=["register"])
    sp.add_argument("dataset", help="dataset name")
    sp.add_argument("run", help=ARG_HELP["run"])
    sp = add("load-tracking", cmd_load_tracking, "load test of the MLflow store (MLFLOW_TRACKING_URI or the project's SQLite): "
             "many stage processes logging at once, then every run, metric step and artifact counted")
    sp.add_argument("--processes", type=int, default=16, help="stage processes (runs), default 16")
    sp.add_argument("--steps", type=int, default=300, help="metric steps per run, default 300")
    sp.add_argument("--metrics", type=int, default=4, help="metrics per step, default 4")
    sp.add_argument("--artifacts", type=int, default=3, help="artifact files per run (64 KiB each), default 3")
    sp.add_argument("--snakemake-jobs", type=int, default=None, help="run the processes as Snakemake jobs, this many at a time")
    sp.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    sp.add_argument("--experiment", default=None, help=argparse.SUPPRESS)
    sp.add_argument("--out", default=None, help=argparse.SUPPRESS)
    sp = add("preset", cmd_preset, "apply a parameter preset to the params file: a study (disentanglement, architectures) "
             "or a size (smoke, paper); it regenerates the run table", "name")
    sp = add("smoke", cmd_smoke, "run the whole graph at smoke size in a scratch copy (your outputs stay untouched)")
    sp.add_argument("--runner", choices=["dvc", "snakemake"], default="dvc")
    sp.add_argument("--all", action="store_true", help="every method of the study (default: one method of every family)")
    sp.add_argument("--keep", default=None, help="scratch directory to use (default: a new temporary one)")
    sp.add_argument("--profile", default=None, help="Snakemake profile for --runner snakemake, e.g. workflow/profiles/slurm (every stage an sbatch job)")
    sp = add("study", cmd_study, "run a ready-made study (disentanglement, architectures) end to end in its own copy "
             "of the project under studies/<name>/ (your params and outputs stay untouched)", "name")
    sp.add_argument("--size", choices=["cpu", "smoke", "paper"], default="cpu", help="cpu: as the preset states it; smoke: tiny; paper: GPU scale")
    sp.add_argument("--runner", choices=["dvc", "snakemake"], default="dvc")
    sp.add_argument("--cores", type=int, default=2, help="snakemake's cores")
    sp.add_argument("--dir", default=None, help="directory of the study's copy (default: studies/<name>[-<size>])")
    sp = add("bench", cmd_bench, "throughput: shard reading, Kornia views against per-sample views, training steps (synthetic vs "
             "from shards); --study: a stage's fixed cost, no-op dvc repro and status, the last run's stage times")
    sp.add_argument("--dataset", default="dsprites")
    sp.add_argument("--methods", nargs="*", default=None, help="methods to time (default: the dataset's methods in the study)")
    sp.add_argument("--steps", type=int, default=20)
    sp.add_argument("--workers", type=int, default=None, help="DataLoader workers of the per-sample views (default: the CPU count)")
    sp.add_argument("--images", type=int, default=1024, help="training images through the per-sample views (default 1024)")
    sp.add_argument("--study", action="store_true", help="time the built study instead: stage fixed cost, no-op dvc repro and status, stage times")
    sp.add_argument("--repeats", type=int, default=5, help="--study: runs of each timed command (the median is shown)")
    sp.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    sp = add("fidelity", cmd_fidelity, "evaluate the study's encoders under cheaper and paper evaluation settings and compare "
             "every metric (mean absolute difference, Spearman rank correlation, CPU seconds)")
    sp.add_argument("--models", default="models", help="directory of trained models, <dataset>/<run>/model.pt (default: models)")
    sp.add_argument("--plan", default=None, help="YAML: reference and settings (default: params.yaml's evaluate against the paper preset's)")
    sp.add_argument("--out", default="reports/fidelity.json", help="results, written after every encoder; a rerun resumes")
    sp.add_argument("--runs", nargs="*", default=None, help="run keys (<dataset>-<run>, as `sslpipe runs` lists them) or datasets (default: every image run of the study)")
    sp.add_argument("--metrics", nargs="*", default=None, help="metrics to evaluate (default: every applicable one but interpolation)")
    sp.add_argument("--threads", type=int, default=1, help="torch/BLAS/DCI threads (default 1: clean CPU seconds per metric)")
    sp.add_argument("--table", action="store_true", help="only print the table of an existing --out file")
    sp.add_argument("--changes", nargs=2, metavar=("OLD", "NEW"), default=None,
                    help="print each encoder's values under OLD next to NEW and how the rankings changed: two settings of --out, or two "
                    "metrics directories (a copy of metrics/ taken before changing `evaluate`, and metrics/)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except SslpipeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
