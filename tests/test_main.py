"""`python -m sslpipe`, and the stage command form that `.venv/bin/dvc repro` runs without an activated venv.

DVC runs each stage's ``cmd`` with ``$SHELL -c`` in the stage's directory and with its own
environment: ``.venv/bin/dvc`` does not put ``.venv/bin`` on PATH, so a bare ``sslpipe`` (or
``python``) is looked up on the user's PATH.  The command form below puts the project's venv
first on the stage's PATH when it exists and falls back to the PATH otherwise; ``exec`` makes
the stage replace the shell, so its parent is dvc itself (dash, /bin/sh on Debian, does not
do that on its own), which :func:`sslpipe.core.process.die_with_parent` needs.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, process_alive, python_env, wait_for

from sslpipe.stages.base import COMMAND as RECOMMENDED  # the form every generated stage command uses
DVC_YAML = f"""\
vars:
  - sslpipe: {RECOMMENDED}
stages:
  recommended:
    cmd: ${{sslpipe}} methods > recommended.txt
    outs:
      - recommended.txt
  bare:
    cmd: sslpipe methods > bare.txt
    outs:
      - bare.txt
"""


def test_python_m_sslpipe_is_the_command_line():
    out = subprocess.run([sys.executable, "-m", "sslpipe", "methods"], capture_output=True, text=True, env=python_env(), cwd=ROOT)
    assert out.returncode == 0 and "simclr" in out.stdout.split()


def _project(path: Path, with_venv: bool) -> None:
    path.mkdir()
    (path / "sslpipe").symlink_to(ROOT / "sslpipe")  # the repository's package, as in a checkout
    if with_venv:
        (path / ".venv").symlink_to(sys.prefix)
    (path / "dvc.yaml").write_text(DVC_YAML)


def _dvc_env(path: Path, path_var: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=path_var, SHELL="/bin/sh", DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(path / ".site-cache"))
    return env


def _dvc(path: Path, path_var: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.prefix) / "bin" / "dvc"), *args], cwd=path, env=_dvc_env(path, path_var),
                          capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.skipif(sys.prefix == sys.base_prefix or os.name == "nt", reason="needs the project's virtual environment (POSIX)")
def test_venv_dvc_runs_the_recommended_command_without_the_venv_on_path(tmp_path):
    bare_path = "/usr/bin:/bin"
    project = tmp_path / "project"
    _project(project, with_venv=True)
    assert _dvc(project, bare_path, "init", "--no-scm", "-q").returncode == 0
    bare = _dvc(project, bare_path, "repro", "bare")
    assert bare.returncode != 0 and "not found" in bare.stderr + bare.stdout  # the form that fails today
    ok = _dvc(project, bare_path, "repro", "recommended")
    assert ok.returncode == 0, ok.stderr
    assert "simclr" in (project / "recommended.txt").read_text().split()

    # no .venv in the project (an installed or activated environment, a scratch copy): the PATH is used
    copy = tmp_path / "copy"
    _project(copy, with_venv=False)
    assert _dvc(copy, bare_path, "init", "--no-scm", "-q").returncode == 0
    activated = f"{Path(sys.prefix) / 'bin'}:{bare_path}"
    ok = _dvc(copy, activated, "repro", "recommended")
    assert ok.returncode == 0, ok.stderr
    assert "simclr" in (copy / "recommended.txt").read_text().split()


STAGE = """
import os, pathlib, time
from sslpipe.core.process import die_with_parent
assert die_with_parent()
pathlib.Path("stage.pid").write_text(str(os.getpid()))
try:
    time.sleep(120)
finally:
    pathlib.Path("cleaned").touch()
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.prefix == sys.base_prefix or not sys.platform.startswith("linux"), reason="needs the project's venv (Linux)")
def test_a_stage_of_that_form_dies_when_dvc_repro_is_killed(tmp_path):
    project = tmp_path / "project"
    _project(project, with_venv=True)
    (project / "stage.py").write_text(STAGE)
    (project / "dvc.yaml").write_text(DVC_YAML.replace("${sslpipe} methods > recommended.txt", RECOMMENDED.replace("-m sslpipe", "stage.py")))
    assert _dvc(project, "/usr/bin:/bin", "init", "--no-scm", "-q").returncode == 0
    dvc = subprocess.Popen([str(Path(sys.prefix) / "bin" / "dvc"), "repro", "recommended"], cwd=project,
                           env=_dvc_env(project, "/usr/bin:/bin"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file, stage = project / "stage.pid", None
    try:
        stage = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the stage to start"))
        dvc.send_signal(signal.SIGKILL)  # dvc cannot stop its stage: only the kernel can
        dvc.wait()
        wait_for(lambda: (project / "cleaned").exists(), timeout=10, what="the stage to stop")
        wait_for(lambda: not process_alive(stage), timeout=10, what="the stage process to exit")
    finally:
        dvc.kill()
        dvc.wait()
        if stage and process_alive(stage):
            os.kill(stage, signal.SIGKILL)
