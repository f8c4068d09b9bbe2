"""``python -m sslpipe``: the ``sslpipe`` command line, run by this interpreter.

Stage commands use this form so that the interpreter (and with it the environment) is the
one found first on the stage's PATH, which the command itself can set; see dvc.yaml.
"""
import sys

from .cli import main

sys.exit(main())
