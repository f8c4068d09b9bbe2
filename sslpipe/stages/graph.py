"""dvc.yaml from the stage declarations: ``sslpipe graph --write`` (``--check`` in CI and tests).

Each declaration becomes one DVC stage, ``foreach`` over ``study.datasets`` or the run table
(``runs`` of ``paths.RUNS_FILE``, loaded as DVC ``vars``; a stage's name is ``pretrain@<key>``,
the run's key ``<dataset>-<run>``), with its declared data dependencies and outputs.  Its code
and parameters reach it as one file, the values file of the ``params`` stage: exactly its
declared keys (its run's entry ``runs.<key>`` among them, so a changed run reruns alone) and
the sha256 of the ``code`` stage's fingerprints of its code.  workflow/Snakefile derives its
rules from DVC's resolution of this file, so both runners see the same graph.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..core.paths import PARAMS_FILE, RUNS_FILE
from .base import Stage
from .code import NAME as CODE
from .params import NAME as PARAMS, depends_on_values

HEADER = """\
# The study graph, generated from the stage declarations in sslpipe/stages/*.py by
# `sslpipe graph --write`; do not edit by hand (tests/stages/test_graph.py checks it is current).
# Every stage is one `sslpipe` command; datasets come from params.yaml (study.datasets), runs from
# workflow/runs.json (generated from study.sweeps in params.yaml by `sslpipe runs --write`).
# Stages depend on their parameters and code through one file each, which the `params` stage writes to
# .cache/params/ from params.yaml, the run table and the fingerprints the `code` stage writes to
# .cache/code/: after editing params.yaml, `dvc status` lists `params` (after editing code, `code`)
# until `dvc repro params` (or any repro) has run.
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
    # a stage's parameters and code reach it as the values file the params stage writes (stages/params.py):
    # DVC parses params.yaml once, for that stage, and checks one file per stage instead of three
    code = list(stage.code) if stage.name == CODE else []
    deps = [fill(d) for d in stage.deps] + code + [fill(v) for v in depends_on_values(stage)]
    if deps:
        body["deps"] = deps
    if stage.name == PARAMS:  # the whole of both files (a null key list)
        body["params"] = [{PARAMS_FILE: None}, {RUNS_FILE: None}]
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
