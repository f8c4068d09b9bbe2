"""``sslpipe smoke``: the whole study graph at smoke size, in a scratch copy of the project.

The copy (tracked and untracked-but-not-ignored files, as git sees them) gets the
``smoke`` preset, its own git repo and MLflow store, then the real ``dvc repro`` (or
``snakemake``) runs in it; the user's outputs and store are untouched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .presets import apply_preset


def _run(cmd: list[str], cwd: Path, env: dict) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def scratch_copy(src: Path, dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        rel = f.decode()
        if not (src / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)
    return dest


def smoke_env(dest: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{dest / 'mlflow.db'}"
    # the copy's own package first: edits in the source tree during the run do not leak in
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dest), env.get("PYTHONPATH", "")]))
    env.setdefault("GIT_AUTHOR_NAME", "sslpipe"), env.setdefault("GIT_AUTHOR_EMAIL", "smoke@sslpipe.local")
    env.setdefault("GIT_COMMITTER_NAME", "sslpipe"), env.setdefault("GIT_COMMITTER_EMAIL", "smoke@sslpipe.local")
    return env


#: One method of every family (and the baseline): the default smoke study, every stage and
#: dataset of the graph in a few minutes. ``sslpipe smoke --all`` runs every method.
FAMILY_SAMPLE = frozenset({"random_init", "pca", "rotation", "mae", "beta_vae", "triplet", "simclr", "byol", "colorization", "arrow_of_time"})


def restrict_runs(params_path: Path, methods) -> None:
    """Keep only the study runs of ``methods`` (comments kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(params_path.read_text())
    runs = data["study"]["runs"]
    for key in [k for k, v in runs.items() if v["method"] not in methods]:
        del runs[key]
    with open(params_path, "w") as f:
        yaml.dump(data, f)


def prepare(src: Path, dest: Path, preset: str = "smoke", methods=None) -> dict:
    """A scratch copy of ``src`` with the preset applied (and only ``methods``' runs), committed to git."""
    scratch_copy(src, dest)
    apply_preset(preset, dest / "params.yaml")
    if methods is not None:
        restrict_runs(dest / "params.yaml", methods)
    env = smoke_env(dest)
    _run(["git", "init", "-q"], dest, env)
    _run(["git", "add", "-A"], dest, env)
    _run(["git", "commit", "-q", "-m", "smoke"], dest, env)
    _run(["sslpipe", "init-tracking"], dest, env)
    return env


def snakemake_command(profile: str | None = None, extra=()) -> list[str]:
    """Snakemake on the local cores, or through a profile (e.g. workflow/profiles/slurm: every job an sbatch job)."""
    cmd = ["snakemake", "-s", "workflow/Snakefile", "-q"]
    return cmd + (["--profile", profile] if profile else ["--cores", "2"]) + list(extra)


def run_smoke(src: Path, dest: Path, runner: str = "dvc", methods=FAMILY_SAMPLE, profile: str | None = None) -> Path:
    env = prepare(src, dest, methods=methods)
    if runner == "dvc":
        _run(["dvc", "repro", "-q"], dest, env)
    else:
        _run(snakemake_command(profile), dest, env)
    return dest / "reports" / "summary.md"


def main(runner: str = "dvc", keep: str | None = None, every_method: bool = False, profile: str | None = None) -> None:
    src = Path.cwd()
    dest = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="sslpipe-smoke-"))
    dest.mkdir(parents=True, exist_ok=True)
    summary = run_smoke(src, dest, runner, None if every_method else FAMILY_SAMPLE, profile)
    print(summary.read_text())
    print(f"smoke study in {dest} (MLflow store {dest / 'mlflow.db'})")
