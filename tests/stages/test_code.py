"""The code stage: fingerprints of the code each stage and each method runs, so that a code change
reruns exactly the stages it affects, through DVC and through Snakemake."""
from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from sslpipe.core import paths
from sslpipe.core.codeversion import package_root, source_files
from sslpipe.stages import STAGES
from sslpipe.stages.code import code_sets, fingerprints, method_modules, registered_methods, write_fingerprints
from tests.stages.conftest import grid_copy, placeholder_outputs, sh

PKG = package_root()

VAES = {"ae", "annealed_vae", "beta_tcvae", "beta_vae", "dip_vae", "factor_vae", "vae"}  # sslpipe/methods/generative.py


def test_the_methods_read_from_the_source_are_the_registry():
    import sslpipe.methods  # noqa: F401
    from sslpipe.methods.base import METHODS

    assert registered_methods() == {n: Path(inspect.getsourcefile(METHODS.get(n))).resolve() for n in METHODS.names()}


def test_a_method_fingerprint_holds_its_module_and_the_method_modules_it_imports():
    mods = {name: {f.relative_to(PKG).as_posix() for f in files} for name, files in method_modules().items()}
    assert all(mods[m] == {"methods/generative.py"} for m in VAES)
    assert mods["simclr"] == {"methods/contrastive.py"}
    assert mods["video_colorization"] == {"methods/video.py", "methods/pretext.py"}  # pretext's rebalancing weights
    assert mods["random_init"] == {"methods/baseline.py", "methods/language.py"}  # a random word table on text


def test_the_fingerprints_split_each_stages_declared_code_into_its_own_and_its_methods():
    sets = code_sets(STAGES.values())
    method_files = set().union(*(sets[paths.method_fingerprint(m)] for m in registered_methods()))
    for stage in STAGES.values():
        if stage.name == "code":
            continue
        declared = set(source_files(*stage.code))
        own = sets[paths.code_fingerprint(stage.name)]
        if stage.over == "runs":  # pretrain, evaluate: the stage's code but the methods' modules
            assert own | method_files == declared and not own & method_files, stage.name
        else:
            assert own == declared, stage.name
    text = fingerprints(STAGES.values())[paths.method_fingerprint("beta_vae")]
    sha = hashlib.sha256((PKG / "methods/generative.py").read_bytes()).hexdigest()
    assert text.splitlines()[2:] == [f"{sha}  sslpipe/methods/generative.py"]


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package to edit, with the working directory (where .cache/code goes) beside it."""
    root = tmp_path / "sslpipe"
    shutil.copytree(PKG, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    return root


def test_an_edited_method_module_rewrites_exactly_its_methods_fingerprints(package_copy):
    stages = STAGES.values()
    first = write_fingerprints(stages, package_copy)
    assert set(first) == set(fingerprints(stages, package_copy)) and all(p.exists() for p in first)
    times = {p: p.stat().st_mtime_ns for p in first}
    assert write_fingerprints(stages, package_copy) == []  # nothing changed: nothing rewritten
    with open(package_copy / "methods/generative.py", "a") as f:
        f.write("\n# an edit\n")
    written = write_fingerprints(stages, package_copy)
    assert paths.CODE_INDEX in written  # the index the params stage reads, with the new hashes
    written.remove(paths.CODE_INDEX)
    assert {p.stem for p in written} == VAES and all(p.parent.name == "method" for p in written)
    assert all(p.stat().st_mtime_ns == t for p, t in times.items() if p not in written + [paths.CODE_INDEX])
    with open(package_copy / "losses/vae.py", "a") as f:  # shared code: every stage over runs that declares it
        f.write("\n# an edit\n")
    assert {p.stem for p in write_fingerprints(stages, package_copy)} == {"pretrain", "evaluate", "index"}


def test_a_removed_methods_fingerprint_goes_with_it(package_copy):
    write_fingerprints(STAGES.values(), package_copy)
    text = (package_copy / "methods/cpc.py").read_text()
    (package_copy / "methods/cpc.py").write_text(text.replace('@METHODS.register("cpc")', ""))
    write_fingerprints(STAGES.values(), package_copy)
    assert not paths.method_fingerprint("cpc").exists() and paths.method_fingerprint("simclr").exists()


# --- through the runners --------------------------------------------------------------------
GRID = {"name": "code", "seed": 0, "datasets": ["dsprites"], "sweeps": [
    {"dataset": "dsprites", "method": "random_init", "seeds": [0, 1]},
    {"dataset": "dsprites", "method": ["beta_vae", "simclr"]},
    {"dataset": "dsprites", "method": "dip_vae", "backbone": {"width": [16, 32]}},
]}
#: the runs whose stages an edit of sslpipe/methods/generative.py must rerun, and only them
GENERATIVE = {"dsprites-beta_vae", "dsprites-dip_vae-width16", "dsprites-dip_vae-width32"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small grid study recorded as built (placeholder outputs, the real fingerprints) by DVC and by Snakemake."""
    dest = grid_copy(tmp_path_factory.mktemp("code"), GRID)
    placeholder_outputs(dest)
    sh(["dvc", "commit", "-f", "-q"], dest)
    sh([sys.executable, "-m", "snakemake", "-s", "workflow/Snakefile", "--cores", "1", "--touch", "-q"], dest)
    return dest


def _snakemake_jobs(dest: Path) -> set[str]:
    out = sh([sys.executable, "-m", "snakemake", "-s", "workflow/Snakefile", "-n"], dest)
    return {m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):", out, re.M)} - {"all"}


def _rules(keys) -> set[str]:
    return {f"{st}__{k}".replace("-", "_") for k in keys for st in ("pretrain", "evaluate")}


@pytest.mark.slow
def test_an_edit_of_a_method_module_reruns_exactly_its_runs(built):
    assert json.loads(sh(["dvc", "status", "--json"], built)) == {}
    assert _snakemake_jobs(built) == set()
    generative = built / "sslpipe/methods/generative.py"
    original = generative.read_text()
    try:
        generative.write_text(original + "\n# an edit of the VAE family's module\n")
        assert set(json.loads(sh(["dvc", "status", "--json"], built))) == {"code"}  # the fingerprints are not remade yet
        # Snakemake remakes them before it plans (the Snakefile runs the code stage): the VAE runs and the report
        assert _snakemake_jobs(built) == _rules(GENERATIVE) | {"report"}
        # it has run the code and params stages (their new outputs are not in dvc.lock yet)
        changed = set(json.loads(sh(["dvc", "status", "--json"], built)))
        assert changed == {f"{st}@{k}" for k in GENERATIVE for st in ("pretrain", "evaluate")} | {"code", "params"}
        sh(["dvc", "commit", "-f", "-q", "code", "params"], built)
        changed = set(json.loads(sh(["dvc", "status", "--json"], built)))
        assert changed == {f"{st}@{k}" for k in GENERATIVE for st in ("pretrain", "evaluate")}
    finally:
        generative.write_text(original)
        sh([sys.executable, "-m", "sslpipe", "code"], built)
        sh(["dvc", "commit", "-f", "-q"], built)
    assert json.loads(sh(["dvc", "status", "--json"], built)) == {}
