"""dvc.yaml from the stage declarations: ``sslpipe graph --write`` (``--check`` in CI and tests).

Each declaration becomes one DVC stage, ``foreach`` over ``study.datasets`` or the run table
(``runs`` of ``paths.RUNS_FILE``, loaded as DVC ``vars``; a stage's name is ``pretrain@<key>``,
the run's key ``<dataset>-<run>``; its own entry ``runs.<key>`` is a parameter dependency read
from that file, so a changed run reruns alone), with exactly its declared params, data and code
dependencies and outputs.  workflow/Snakefile derives its rules from DVC's
resolution of this file, so both runners see the same graph.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..core.paths import RUNS_FILE
from .base import Stage, is_run_key
from .code import NAME as CODE, fingerprint_deps

HEADER = """\
# The study graph, generated from the stage declarations in sslpipe/stages/*.py by
# `sslpipe graph --write`; do not edit by hand (tests/stages/test_graph.py checks it is current).
# Every stage is one `sslpipe` command; datasets come from params.yaml (study.datasets), runs from
# workflow/runs.json (generated from study.sweeps in params.yaml by `sslpipe runs --write`).
# Stages depend on their code through the fingerprints the `code` stage writes to .cache/code/.
# workflow/Snakefile derives its rules from this file.
"""

_ITEM = {
    "datasets": {"dataset": "${item}"},
    "runs": {"dataset": "${item.dataset}", "run": "${item.name}", "method": "${item.method}", "key": "${key}"},
    None: {},
}


def dvc_stage(stage: Stage) -> dict:
    item = _ITEM[stage.over]
    fill = lambda s: stage.fill(s, **item)  # noqa: E731
    body: dict = {"cmd": fill(stage.cmd)}
    code = list(stage.code) if stage.name == CODE else fingerprint_deps(stage, item.get("method", ""))
    deps = [fill(d) for d in stage.deps] + code
    if deps:
        body["deps"] = deps
    keys = [fill(p) for p in stage.params]
    # a run's entry comes from the generated run table: DVC reads that small JSON file for it, and
    # params.yaml (parsed once per stage by DVC) stays free of the table
    runs = [k for k in keys if is_run_key(k)]
    params = ([{RUNS_FILE: runs}] if runs else []) + [k for k in keys if not is_run_key(k)]
    if params:
        body["params"] = params
    for kind in ("outs", "plots", "metrics"):
        # persist: DVC leaves the old outputs in place until the stage replaces them (every output is
        # written atomically), so a stage that refuses bad params deletes nothing
        outs = [{fill(o.path): {**o.options, "persist": True}} for o in stage.outs if o.kind == kind]
        if outs:
            body[kind] = outs
    if stage.over is None:
        return body
    return {"foreach": "${runs}" if stage.over == "runs" else f"${{study.{stage.over}}}", "do": body}


def render(stages) -> str:
    doc = {"vars": [RUNS_FILE], "stages": {s.name: dvc_stage(s) for s in stages}}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=120)


def write(path: str | Path = "dvc.yaml") -> bool:
    """Write dvc.yaml from the declarations; True when it changed."""
    from ..core.io import write_text
    from . import STAGES

    text = render(STAGES.values())
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    write_text(path, text)
    return True


def is_current(path: str | Path = "dvc.yaml") -> bool:
    from . import STAGES

    path = Path(path)
    return path.exists() and path.read_text() == render(STAGES.values())
