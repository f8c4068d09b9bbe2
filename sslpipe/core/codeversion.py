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


def source_files(*parts: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The ``.py`` files of ``parts`` (sub-packages or modules of the package), sorted by path.

    A part is relative to the package root (``"methods"``, ``"train.py"``) or to the project
    root as a stage declares its code (``"sslpipe/methods"``).  A part that does not exist
    raises FileNotFoundError (a misspelt dependency would otherwise hash nothing).
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
    return sorted(files, key=lambda f: f.relative_to(base).as_posix())


def source_hash(*parts: str, root: str | os.PathLike | None = None) -> str:
    """sha256 (hex) over the ``.py`` files of ``parts`` (:func:`source_files`), each by its path
    relative to the package and its bytes.

    ``source_hash(*stage.code)`` covers exactly the code DVC tracks for the stage.  Order of
    ``parts`` does not matter.
    """
    base = Path(root) if root is not None else package_root()
    h = hashlib.sha256()
    for f in source_files(*parts, root=base):
        data = f.read_bytes()
        h.update(f"{f.relative_to(base).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _module_file(base: Path, parts: list[str]) -> Path | None:
    """The file of module ``parts`` (relative to the package's parent): ``x.py`` or ``x/__init__.py``."""
    p = base.parent.joinpath(*parts)
    for f in (p.with_suffix(".py"), p / "__init__.py"):
        if f.is_file():
            return f
    return None


def imported_files(file: str | os.PathLike, root: str | os.PathLike | None = None) -> set[Path]:
    """The package's source files that ``file`` imports (statically: every ``import`` and
    ``from ... import`` statement in it, function-level ones included; modules imported by name
    with ``importlib`` are not seen)."""
    import ast

    base = Path(root) if root is not None else package_root()
    file = Path(file)
    package = list(file.relative_to(base.parent).with_suffix("").parts)
    if file.name != "__init__.py":
        package = package[:-1]
    out: set[Path] = set()

    def add(parts: list[str], names=()):
        if not parts or parts[0] != base.name:
            return
        f = _module_file(base, parts)
        if f is not None:
            out.add(f)
        for n in names:  # `from pkg import submodule`
            sub = _module_file(base, parts + [n])
            if sub is not None:
                out.add(sub)

    for node in ast.walk(ast.parse(file.read_bytes(), str(file))):
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name.split("."))
        elif isinstance(node, ast.ImportFrom):
            parts = (package[:len(package) - node.level + 1] if node.level else []) + (node.module.split(".") if node.module else [])
            add(parts, [a.name for a in node.names])
    out.discard(file)
    return out


def import_closure(files, root: str | os.PathLike | None = None, graph: dict | None = None) -> set[Path]:
    """``files`` and every package file they import, directly or through each other.

    ``graph``: a dict that memoizes :func:`imported_files` across calls (pass the same one to
    compute many closures over one unchanged tree).
    """
    graph = {} if graph is None else graph
    todo, seen = [Path(f) for f in files], set()
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            if f not in graph:
                graph[f] = imported_files(f, root)
            todo.extend(graph[f] - seen)
    return seen
