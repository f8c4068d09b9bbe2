"""A stage's process: one writer per stage's outputs, and no stage outliving the runner that started it.

:func:`stage_lock` takes an exclusive ``flock`` on ``.cache/locks/<stage>-<name>.lock`` for as
long as the stage writes; a second process that would write the same outputs fails at once,
naming the process that holds the lock.  The kernel drops the lock when its holder exits in
any way (``kill -9`` included), so there is never a stale lock to delete by hand.

:func:`die_with_parent` asks Linux to send the stage SIGTERM when its parent process exits
(``dvc repro``, when the stage command execs the stage), so a killed runner does not leave a
stage training on and overwriting outputs after a rerun; SIGTERM then unwinds the stage like
an exception (temporary files removed, the tracked run closed).
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import SslpipeError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

LOCK_DIR = Path(".cache") / "locks"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class StageBusy(SslpipeError):
    """Another process is writing the same stage's outputs."""


def _holder(path: Path) -> tuple[str, str]:
    """(pid, command line) written by the holder of ``path``; waits briefly for a holder that is still writing it."""
    for _ in range(20):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        if len(lines) >= 2:
            return lines[0], lines[1]
        time.sleep(0.025)
    return "?", "unknown command"


@contextmanager
def stage_lock(stage: str, name: str = "", root: str | os.PathLike = LOCK_DIR) -> Iterator[Path]:
    """Hold the lock of one stage instance (``stage_lock("pretrain", "dsprites-simclr")``) for the block; yields the lock file.

    Raises :class:`StageBusy` immediately, without waiting, when another process holds it.
    The lock file stays (its content is the last holder's pid and command line); the lock
    itself is the ``flock``, released on exit or death.  A no-op where ``fcntl`` is missing.
    """
    path = Path(root) / (f"{stage}-{name}.lock" if name else f"{stage}.lock")
    if fcntl is None:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, cmd = _holder(path)
            what = f"{stage} {name}".strip()
            raise StageBusy(f"{what} is already running (pid {pid}: {cmd}) and writes the same outputs. "
                            f"Fix: wait for it to finish, or stop it (`kill {pid}`), then rerun.") from None
        command = " ".join(shlex.quote(a) for a in getattr(sys, "orig_argv", sys.argv)).replace("\n", " ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{command}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock


def _exit_on_signal(signum, frame):
    print(f"sslpipe: stopping on signal {signal.Signals(signum).name} (the process that started this stage exited, or a kill)", file=sys.stderr)
    raise SystemExit(128 + signum)


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux); returns whether that is armed.

    Call it first thing in a stage.  Where ``sig`` still has its default action, it is made to
    raise SystemExit(128 + sig) in the main thread, so ``finally`` blocks and context managers
    run (atomic outputs drop their temporary files; the resume checkpoint stays as it was).
    The parent is the process that forked this one: for ``dvc repro`` that is dvc itself
    (its ``sh -c`` execs a single command); behind a shell that does not exec (several
    commands, a pipe) it is that shell.  A parent that exited before the call is not
    detected.  A no-op returning False on other systems.
    """
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if threading.current_thread() is threading.main_thread() and signal.getsignal(sig) == signal.SIG_DFL:
        signal.signal(sig, _exit_on_signal)
    if os.getppid() != parent:  # the parent exited between the two calls
        os.kill(os.getpid(), sig)
    return True
