"""params: each stage's parameter values in a small file, the dependency DVC and Snakemake check instead.

Every other stage depends on ``.cache/params/<stage>/<item>.json`` (``<stage>.json`` for a stage
that runs once): the values of exactly the keys it declares, read from params.yaml and, for a
run's own entry ``runs.<key>``, from the run table (``paths.RUNS_FILE``).  This stage declares
the whole of both files as its DVC parameters and rewrites a values file only when its content
changes, so an edit reruns exactly the stages whose values it changes, as when each stage
declared its keys itself: ``methods.simclr.temperature`` reruns the SimCLR runs and the report.

Why a stage of its own: DVC reads a stage's parameters by parsing its parameter file and
looking each key up with dpath, once per stage, whenever it checks the stage.  In the default
study's 160 stages that was most of a no-op ``dvc status``: in a profile of it, parameters took
57% (parsing params.yaml 38%, dpath 25%).  On the built default study, declaring the values as
files took a no-op ``dvc status`` from 4.96 to 2.70 s and a no-op ``dvc repro`` from 6.57 to
4.17 s (README, "Study overhead").  The cost is one step of indirection: after an edit,
``dvc status`` lists this stage (with the changed sections) until it has run; ``dvc repro params``
(a fraction of a second) brings the values up to date, and ``dvc status`` then lists every stage
the edit affects.  Code changes reach the stages the same way, through the ``code`` stage.

The values are the files' own, not the validated config with the code's defaults filled in:
reading them must not import torch (Snakemake runs this stage before it plans every run), and a
default that changes is a code change, which the ``code`` stage's fingerprints cover.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.errors import ConfigError
from .base import Out, Stage, is_run_key

NAME = "params"


def _lookup(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None  # as Snakemake read it; the stage itself refuses the incomplete params when it runs
        node = node[part]
    return node


def read_sources(params_file: str | Path = paths.PARAMS_FILE, runs_file: str | Path = paths.RUNS_FILE) -> tuple[dict, dict]:
    """params.yaml and the run table as plain data."""
    from ..core.io import load_params

    raw, runs_file = load_params(params_file), Path(runs_file)
    try:
        table = json.loads(runs_file.read_text()) if runs_file.exists() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(str(runs_file), f"is not valid JSON ({e}).", "regenerate it: sslpipe runs --write.") from None
    if not isinstance(table, dict):
        raise ConfigError(str(runs_file), "must be a mapping.", "regenerate it: sslpipe runs --write.")
    return raw, table


def items(stage: Stage, raw: dict, table: dict) -> list[tuple[str, dict]]:
    """(item id, placeholder values) of every instance of ``stage``: '' for a stage that runs once,
    the dataset for a stage over datasets, the run's key for a stage over runs."""
    if stage.over is None:
        return [("", {})]
    if stage.over == "datasets":
        return [(d, {"dataset": d}) for d in (_lookup(raw, ["study", "datasets"]) or [])]
    return [(key, {"dataset": r["dataset"], "run": r["name"], "method": r["method"], "key": key})
            for key, r in (table.get("runs") or {}).items()]


def values(stage: Stage, item: dict, raw: dict, table: dict) -> dict[str, Any]:
    """The declared keys of one instance of ``stage`` -> their values in params.yaml / the run table."""
    return {k: _lookup(table, k.split(".")) if is_run_key(k) else _lookup(raw, k.split(".")) for k in stage.param_keys(**item)}


def values_files(stages, raw: dict, table: dict) -> dict[Path, str]:
    """Every values file of ``stages`` (those that declare parameters) -> its text."""
    out = {}
    for stage in stages:
        if not stage.params:
            continue
        for ident, item in items(stage, raw, table):
            name = stage.name + (f"@{ident}" if ident else "")
            doc = {"stage": name, "generated_by": "the `params` stage (`sslpipe params`) from params.yaml and the run table",
                   "params": values(stage, item, raw, table)}
            out[paths.params_values(stage.name, ident)] = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    return out


def write_values(stages, params_file: str | Path = paths.PARAMS_FILE, runs_file: str | Path = paths.RUNS_FILE) -> list[Path]:
    """Write the values files that changed (others keep their bytes and times: Snakemake reruns by
    time), remove those of stage instances that no longer exist; returns the files written."""
    from ..core.io import sync_files

    return sync_files(values_files(stages, *read_sources(params_file, runs_file)), paths.PARAMS_DIR, "*.json")


def depends_on_values(stage: Stage) -> list[str]:
    """The values file a stage depends on in place of its parameters (DVC placeholders for its item)."""
    if not stage.params:
        return []
    return [str(paths.params_values(stage.name, {"datasets": "{dataset}", "runs": "{key}", None: ""}[stage.over]))]


def run(stages) -> None:
    from collections import Counter

    written = write_values(stages)
    per_stage = Counter(p.parent.name if p.parent != paths.PARAMS_DIR else p.stem for p in written)
    print(f"parameter values in {paths.PARAMS_DIR}: {len(written)} changed" + (f" ({', '.join(f'{s} {n}' for s, n in per_stage.items())})" if written else ""))


def declare(stages) -> Stage:
    """The params stage of ``stages``: it reads params.yaml and the run table whole."""
    return Stage(
        name=NAME,
        help="write the parameter values every stage reads (.cache/params/): the dependency that reruns exactly the stages a parameter change affects",
        over=None,
        params=(),
        deps=(),
        code=("sslpipe/stages/params.py",),
        outs=(Out(str(paths.PARAMS_DIR), options={"cache": False}),),
        run=lambda ctx: run(stages),
        tracked=False,
    )
