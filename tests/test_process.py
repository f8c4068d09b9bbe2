"""Stage processes: one writer per stage's outputs, and no stage outliving the `dvc repro` that started it."""
import os
import signal
import subprocess
import sys
import time

import pytest

from sslpipe.core.errors import SslpipeError
from sslpipe.core.process import stage_lock
from tests.conftest import process_alive, python_env, spawn_python, wait_for

HOLD = """
import sys, time
from sslpipe.core.process import stage_lock
with stage_lock("pretrain", "dsprites-simclr", root=sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(120)
"""

TRY = """
import sys, time
from sslpipe.core.errors import SslpipeError
from sslpipe.core.process import stage_lock
t = time.monotonic()
try:
    with stage_lock(sys.argv[2], sys.argv[3], root=sys.argv[1]):
        print("acquired")
except SslpipeError as e:
    print(f"refused after {time.monotonic() - t:.3f} s")
    print(e)
"""


def test_a_second_writer_of_the_same_stage_fails_at_once_naming_the_first(tmp_path):
    locks, ready = tmp_path / ".cache" / "locks", tmp_path / "ready"
    holder = spawn_python(HOLD, locks, ready, "writer-A")
    try:
        wait_for(ready.exists, what="the first writer to hold the lock")
        out = _try(locks, "pretrain", "dsprites-simclr").splitlines()
        assert out[0].startswith("refused after") and float(out[0].split()[2]) < 1.0, out
        msg = out[1]
        assert f"pid {holder.pid}" in msg and "writer-A" in msg and "Fix:" in msg and f"kill {holder.pid}" in msg
        assert _try(locks, "pretrain", "dsprites-byol").strip() == "acquired"  # another stage instance is independent
    finally:
        holder.kill()
        holder.wait()
    # the kernel drops the lock of a killed holder: no stale lock to delete by hand
    assert _try(locks, "pretrain", "dsprites-simclr").strip() == "acquired"


def _try(locks, stage, name) -> str:
    """Another process trying to write the outputs of ``stage`` ``name``: its report."""
    return subprocess.run([sys.executable, "-c", TRY, str(locks), stage, name], capture_output=True, text=True,
                          check=True, env=python_env()).stdout


def test_the_lock_records_its_holder_and_is_released_on_exit(tmp_path):
    with stage_lock("report", root=tmp_path) as path:
        assert path == tmp_path / "report.lock"
        pid, cmd = path.read_text().splitlines()[:2]
        assert int(pid) > 0 and cmd
        with pytest.raises(SslpipeError, match="report is already running"):
            with stage_lock("report", root=tmp_path):
                pass
    with stage_lock("report", root=tmp_path):
        pass


CHILD = """
import pathlib, sys, time
from sslpipe.core.process import die_with_parent
armed, d = sys.argv[1] == "armed", pathlib.Path(sys.argv[2])
if armed:
    assert die_with_parent()
(d / f"ready-{sys.argv[1]}").touch()
try:
    time.sleep(120)
finally:
    (d / f"cleaned-{sys.argv[1]}").touch()
"""

PARENT = """
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", sys.argv[1], mode, sys.argv[2]]) for mode in ("armed", "plain")]
print(*[k.pid for k in kids], flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are a Linux feature")
def test_a_stage_dies_with_its_killed_parent(tmp_path):
    parent = spawn_python(PARENT, CHILD, tmp_path, stdout=subprocess.PIPE, text=True)
    armed, plain = map(int, parent.stdout.readline().split())
    try:
        wait_for(lambda: (tmp_path / "ready-armed").exists() and (tmp_path / "ready-plain").exists(), what="both children")
        parent.send_signal(signal.SIGKILL)  # as `kill -9` of dvc repro: the parent cannot forward anything
        parent.wait()
        wait_for(lambda: not process_alive(armed), timeout=10, what="the armed child to exit")
        assert (tmp_path / "cleaned-armed").exists()  # it ran its cleanup (temporary files removed)
        time.sleep(0.5)
        assert process_alive(plain)  # without it, the child keeps running: what the test guards against
    finally:
        for pid in (armed, plain):
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
