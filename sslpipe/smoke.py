"""``sslpipe smoke`` and ``sslpipe study``: a study graph run in a copy of the project.

The copy (tracked and untracked-but-not-ignored files, as git sees them) gets presets (a
ready-made study and/or a size), its own git repo and MLflow store, then the real ``dvc repro``
(or ``snakemake``) runs in it; the user's params, outputs and store are untouched.
``sslpipe smoke`` uses a scratch directory and the ``smoke`` size; ``sslpipe study <name>``
keeps its copy under ``studies/<name>/`` (a project of its own: ``dvc exp run`` and the
MLflow UI work there), so running it again resumes from what is built.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .presets import apply_preset, write_params, yaml_rt


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
FAMILY_SAMPLE = frozenset({"random_init", "pca", "rotation", "mae", "beta_vae", "triplet", "simclr", "byol", "colorization", "skipgram", "arrow_of_time"})
#: The seeds a smoke study keeps of an entry that lists seeds: the baseline's spread and the `-s<seed>`
#: run names are exercised without the default study's ten dSprites baseline seeds.
SMOKE_SEEDS = frozenset({0, 1, 2})


def _prune(items: list, keep) -> None:
    """Delete the items for which ``keep(item)`` is false, in place (a ruamel list keeps its comments and style)."""
    for i in reversed(range(len(items))):
        if not keep(items[i]):
            del items[i]


def _keep(sweeps, field: str, allowed) -> None:
    """Drop the values of ``field`` (a name or a list of names) not in ``allowed`` from every entry, and entries left empty."""
    def kept(entry) -> bool:
        if isinstance(entry[field], list):
            _prune(entry[field], lambda v: v in allowed)
            return bool(entry[field])
        return entry[field] in allowed

    _prune(sweeps, kept)


def restrict_runs(params_path: Path, methods, seeds=None, seed_datasets=None, datasets=None) -> None:
    """Keep only the study's sweep entries (and methods of entries) of ``methods`` (None: all), and of the
    entries' own seed lists only ``seeds`` (None: all), and regenerate the run table (comments kept).

    ``seed_datasets``: only the entries of these datasets keep more than their first seed (None: every
    entry), e.g. the baseline's seed spread on dSprites alone.  ``datasets``: only these of the study's
    datasets (None: all)."""
    path, yaml = Path(params_path), yaml_rt()
    data = yaml.load(path.read_text())
    sweeps = data["study"]["sweeps"]
    if methods is not None:
        _keep(sweeps, "method", methods)
    if datasets is not None:
        _keep(sweeps, "dataset", datasets)
        _prune(data["study"]["datasets"], lambda d: d in datasets)
    for entry in sweeps:
        if "seeds" not in entry:
            continue
        if seeds is not None:
            entry["seeds"] = [s for s in entry["seeds"] if s in seeds] or entry["seeds"][:1]
        of = entry["dataset"] if isinstance(entry["dataset"], list) else [entry["dataset"]]
        if seed_datasets is not None and not set(of) <= set(seed_datasets):
            entry["seeds"] = entry["seeds"][:1]
    write_params(path, yaml, data)


def prepare(src: Path, dest: Path, presets=("smoke",), methods=None, seeds=None, seed_datasets=None, datasets=None) -> dict:
    """A copy of ``src`` with the presets applied in order (and only ``methods``' runs, of ``seeds``, on
    ``datasets``; see :func:`restrict_runs`), committed to git."""
    scratch_copy(src, dest)
    for preset in presets:
        apply_preset(preset, dest / "params.yaml")
    if methods is not None or seeds is not None or seed_datasets is not None or datasets is not None:
        restrict_runs(dest / "params.yaml", methods, seeds, seed_datasets, datasets)
    env = smoke_env(dest)
    _run(["git", "init", "-q"], dest, env)
    _run(["git", "add", "-A"], dest, env)
    _run(["git", "commit", "-q", "--allow-empty", "-m", " + ".join(presets) or "study"], dest, env)
    _run(["sslpipe", "init-tracking"], dest, env)
    return env


def snakemake_command(profile: str | None = None, extra=(), cores: int = 2) -> list[str]:
    """Snakemake on the local cores, or through a profile (e.g. workflow/profiles/slurm: every job an sbatch job)."""
    cmd = ["snakemake", "-s", "workflow/Snakefile", "-q"]
    return cmd + (["--profile", profile] if profile else ["--cores", str(cores)]) + list(extra)


def run_graph(dest: Path, env: dict, runner: str = "dvc", cores: int = 2, profile: str | None = None) -> None:
    if runner == "dvc":
        _run(["dvc", "repro", "-q"], dest, env)
    else:
        _run(snakemake_command(profile, cores=cores), dest, env)


def run_smoke(src: Path, dest: Path, runner: str = "dvc", methods=FAMILY_SAMPLE, profile: str | None = None) -> Path:
    env = prepare(src, dest, methods=methods, seeds=SMOKE_SEEDS)
    run_graph(dest, env, runner, profile=profile)
    return dest / "reports" / "summary.md"


STUDIES = ("disentanglement", "architectures")
SIZES = ("cpu", "smoke", "paper")


def study(name: str, size: str = "cpu", runner: str = "dvc", directory: str | None = None, cores: int = 2) -> None:
    """Run a ready-made study (a preset) at a size (cpu: as the preset states it; smoke; paper) in its own copy."""
    import time

    from .core.errors import SslpipeError

    if name not in STUDIES:
        raise SslpipeError(f"unknown study {name!r}. Fix: use one of: {', '.join(STUDIES)}.")
    if size not in SIZES:
        raise SslpipeError(f"unknown size {size!r}. Fix: use one of: {', '.join(SIZES)}.")
    src = Path.cwd()
    dest = Path(directory) if directory else src / "studies" / (name if size == "cpu" else f"{name}-{size}")
    dest.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    env = prepare(src, dest, (name,) + (() if size == "cpu" else (size,)))
    run_graph(dest, env, runner, cores)
    print((dest / "reports" / "summary.md").read_text())
    print(f"study {name} ({size}) in {dest} in {time.perf_counter() - t0:.0f} s; summary: {dest / 'reports/summary.md'}, "
          f"MLflow store {dest / 'mlflow.db'}")


def main(runner: str = "dvc", keep: str | None = None, every_method: bool = False, profile: str | None = None) -> None:
    src = Path.cwd()
    dest = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="sslpipe-smoke-"))
    dest.mkdir(parents=True, exist_ok=True)
    summary = run_smoke(src, dest, runner, None if every_method else FAMILY_SAMPLE, profile)
    print(summary.read_text())
    print(f"smoke study in {dest} (MLflow store {dest / 'mlflow.db'})")
