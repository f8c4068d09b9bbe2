"""Helpers of the stage tests that build a scratch copy of the project with a small grid study and
drive DVC and Snakemake in it (tests/stages/test_sweeps.py, test_code.py)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

from sslpipe.cli import main
from sslpipe.smoke import scratch_copy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow"))
from dvcgraph import resolved_stages  # noqa: E402


def study_env(dest: Path) -> dict:
    """The environment a runner in the copy gets: this venv first, the copy's own package, its own store."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(dest)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{dest / 'mlflow.db'}"
    return env


def sh(cmd, cwd, **kw) -> str:
    """A command in the copy (``study_env``); its stdout; fails the test when it fails."""
    return subprocess.run(cmd, cwd=cwd, env=study_env(cwd), capture_output=True, text=True, check=True, **kw).stdout


def set_grid(dest: Path, grid: dict) -> None:
    """The copy's ``study`` section replaced by ``grid``, and its run table regenerated."""
    p = dest / "params.yaml"
    raw = yaml.safe_load(p.read_text())
    raw["study"] = grid
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["--params", str(p), "runs", "--write"]) == 0


def grid_copy(dest: Path, grid: dict) -> Path:
    """A scratch copy of the project in ``dest`` with the study ``grid``, in a git repository (DVC wants one)."""
    scratch_copy(ROOT, dest)
    sh(["git", "init", "-q"], dest)  # the copy holds .dvc/ already
    (dest / ".dvc/tmp").mkdir(exist_ok=True)
    set_grid(dest, grid)
    return dest


def stages(dest: Path) -> list[dict]:
    with contextlib.chdir(dest):  # DVC names stages relative to the working directory
        return resolved_stages(".")


def placeholder_outputs(dest: Path) -> None:
    """Every stage's outputs as small files, so `dvc commit` records a built study without training
    (the code stage's fingerprints and the params stage's values, which the others depend on, are
    made for real)."""
    sh([sys.executable, "-m", "sslpipe", "code"], dest)
    sh([sys.executable, "-m", "sslpipe", "params"], dest)
    for s in stages(dest):
        if any(s["update"]):  # code, params
            continue
        for o in s["outs"]:
            path = dest / o
            if not Path(o).suffix:
                path.mkdir(parents=True, exist_ok=True)
                (path / "placeholder").write_text(s["name"])
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(s["name"])
