"""A stable hash of the package's source files that a stage depends on.

A stage adds it to its resume key, so a checkpoint written by other code (an edited method,
loss or training loop) is not resumed into the new code.  Only ``.py`` files count, by their
path relative to the package and their bytes: caches, notes and the install location do not
change it.  Imports nothing of sslpipe (a core module).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def package_root() -> Path:
    """The directory of the top-level package this module belongs to."""
    return Path(sys.modules[__name__.partition(".")[0]].__file__).resolve().parent


def source_hash(*parts: str, root: str | os.PathLike | None = None) -> str:
    """sha256 (hex) over the ``.py`` files of ``parts``: sub-packages or modules of the package.

    A part is relative to the package root (``"methods"``, ``"train.py"``) or to the project
    root as a stage declares its code (``"sslpipe/methods"``), so
    ``source_hash(*stage.code)`` covers exactly the code DVC tracks for the stage.  Order of
    ``parts`` does not matter.  A part that does not exist raises FileNotFoundError (a
    misspelt dependency would otherwise hash nothing).
    """
    base = Path(root) if root is not None else package_root()
    files: set[Path] = set()
    for part in parts:
        part = str(part).removeprefix(f"{base.name}/")
        p = base / part
        if p.is_dir():
            files.update(f for f in p.rglob("*.py") if "__pycache__" not in f.relative_to(base).parts)
        elif p.is_file():
            files.add(p)
        else:
            raise FileNotFoundError(f"{part}: no such module or sub-package under {base}")
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative_to(base).as_posix()):
        data = f.read_bytes()
        h.update(f"{f.relative_to(base).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()
