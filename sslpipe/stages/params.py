"""params: each stage's parameter values and code fingerprints in a small file, the dependency DVC and Snakemake check instead.

Every other stage depends on ``.cache/params/<stage>/<item>.json`` (``<stage>.json`` for a stage
that runs once): the values of exactly the keys it declares, read from params.yaml and, for a
run's own entry ``runs.<key>``, from the run table (``paths.RUNS_FILE``), and the sha256 of the
code fingerprints that cover it (its stage's and, for a run, its method's; ``stages/code.py``),
read from the ``code`` stage's index.  This stage declares the whole of both parameter files as
its DVC parameters, depends on the index, and rewrites a values file only when its content
changes, so an edit reruns exactly the stages it affects, as when each stage declared its keys
and code itself: ``methods.simclr.temperature`` reruns the SimCLR runs and the report, an edit
of ``sslpipe/methods/generative.py`` the VAE family's runs.

Why a stage of its own: DVC reads a stage's parameters by parsing its parameter file and
looking each key up with dpath, once per stage, whenever it checks the stage.  In the default
study's 160 stages that was most of a no-op ``dvc status``: in a profile of it, parameters took
57% (parsing params.yaml 38%, dpath 25%).  On the built default study, declaring the values as
files took a no-op ``dvc status`` from 4.96 to 2.70 s and a no-op ``dvc repro`` from 6.57 to
4.17 s (README, "Study overhead").  The cost is one step of indirection: after an edit,
``dvc status`` lists this stage (with the changed sections) until it has run; ``dvc repro params``
(a fraction of a second) brings the values up to date, and ``dvc status`` then lists every stage
the edit affects.  Code changes take the same two steps: ``code``, then this stage.

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
from .code import NAME as CODE, fingerprints_of, read_index

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


def has_values(stage: Stage) -> bool:
    """Every stage but ``code`` and this one reads its code and parameters from a values file."""
    return stage.name not in (CODE, NAME)


def values_files(stages, raw: dict, table: dict, code: dict[str, str]) -> dict[Path, str]:
    """Every values file of ``stages`` -> its text; ``code``: fingerprint path -> sha256 (``code.read_index``;
    a fingerprint that is missing, e.g. of a method no module registers, is null: the stage refuses the run)."""
    out = {}
    for stage in filter(has_values, stages):
        for ident, item in items(stage, raw, table):
            name = stage.name + (f"@{ident}" if ident else "")
            doc = {"stage": name, "generated_by": "the `params` stage (`sslpipe params`) from params.yaml, the run table and .cache/code",
                   "params": values(stage, item, raw, table),
                   "code": {f: code.get(f) for f in fingerprints_of(stage, item.get("method", ""))}}
            out[paths.params_values(stage.name, ident)] = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    return out


def write_values(stages, params_file: str | Path = paths.PARAMS_FILE, runs_file: str | Path = paths.RUNS_FILE,
                 code_index: str | Path = paths.CODE_INDEX) -> list[Path]:
    """Write the values files that changed (others keep their bytes and times: Snakemake reruns by
    time), remove those of stage instances that no longer exist; returns the files written."""
    from ..core.io import sync_files

    return sync_files(values_files(stages, *read_sources(params_file, runs_file), read_index(code_index)), paths.PARAMS_DIR, "*.json")


def depends_on_values(stage: Stage) -> list[str]:
    """The values file a stage depends on in place of its parameters and code (DVC placeholders for its item)."""
    if not has_values(stage):
        return []
    return [str(paths.params_values(stage.name, {"datasets": "{dataset}", "runs": "{key}", None: ""}[stage.over]))]


def run(stages) -> None:
    from collections import Counter

    written = write_values(stages)
    per_stage = Counter(p.parent.name if p.parent != paths.PARAMS_DIR else p.stem for p in written)
    print(f"parameter values in {paths.PARAMS_DIR}: {len(written)} changed" + (f" ({', '.join(f'{s} {n}' for s, n in per_stage.items())})" if written else ""))


def declare(stages) -> Stage:
    """The params stage of ``stages``: it reads params.yaml and the run table whole, and the code stage's index."""
    return Stage(
        name=NAME,
        help="write the parameter values and code fingerprints every stage reads (.cache/params/): the dependency that reruns exactly the stages a change affects",
        over=None,
        params=(),
        deps=(str(paths.CODE_INDEX),),
        code=("sslpipe/stages/params.py", "sslpipe/stages/code.py"),  # code.py: which fingerprints cover a stage, and their index
        outs=(Out(str(paths.PARAMS_DIR), options={"cache": False}),),
        run=lambda ctx: run(stages),
        tracked=False,
    )
