"""``python -m sslpipe``: the ``sslpipe`` command line, run by this interpreter.

Stage commands use this form so that the interpreter (and with it the environment) is the
one found first on the stage's PATH, which the command itself can set; see dvc.yaml.

The process ends with ``os._exit`` once the command, its non-daemon threads, the atexit
handlers and the flushes of stdout and stderr are done: tearing down the interpreter's modules
(torch, MLflow and SQLAlchemy loaded) takes about 2 s on a 2-core machine and does nothing a
finished stage needs (its outputs are written atomically and closed, its tracked run is ended).
"""
import atexit
import os
import sys
import threading

from .cli import main

code = main()
for thread in threading.enumerate():  # what interpreter shutdown waits for first: non-daemon threads
    if thread is not threading.main_thread() and not thread.daemon:
        thread.join()
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
