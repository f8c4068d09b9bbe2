"""Atomic file output: a killed stage never leaves a half file that a rerun trusts.

Outputs get the permissions of ordinary files (0666 / 0777 less the umask, like the files
DVC restores), not the private 0600 / 0700 of temporary files.  Torch files are written
byte-identically for the same content and read as data only (never unpickled code).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import ConfigError, DataError


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_paths(*files: str | os.PathLike, dirs: tuple[str | os.PathLike, ...] = ()) -> None:
    """Raise a DataError naming what blocks an output: a file where a folder must be, or a folder at a file's path.

    ``atomic_path`` / ``atomic_dir`` check their own path before writing anything; a stage
    can call this with all its outputs first, so a blocked output is reported before the work.
    """
    for p in map(Path, files):
        if p.is_dir():
            raise DataError(f"cannot write {p}: it is a directory. Fix: move or delete the directory {p}, then rerun.")
    for p in map(Path, (*files, *dirs)):
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise DataError(f"cannot write {p}: {parent} is a file, not a directory. "
                                    f"Fix: move or delete the file {parent}, then rerun.")
                break


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success."""
    path = Path(path)
    check_output_paths(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole on success."""
    path = Path(path)
    check_output_paths(dirs=(path,))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _default(o: Any):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """torch.save through a file object: the archive's inner folder is then always ``archive``.

    (Given a path, torch names that folder after the file, here a random temporary name, so
    two saves of the same model differed.)  Same content -> same bytes.
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def _unsafe_global(message: str) -> str:
    found = re.search(r"GLOBAL (\S+)", message)
    if found:
        return found.group(1)
    lines = [ln.strip() for ln in message.splitlines() if "WeightsUnpickler error" in ln]
    return lines[0].split("error:", 1)[1].strip() if lines else message.splitlines()[0][:200]


def load_torch(path: str | os.PathLike, *, fix: str, map_location: Any = "cpu") -> Any:
    """Load a torch file as data only: tensors, numbers, strings, lists, tuples and dicts.

    Unpickling arbitrary objects runs code, so files holding anything else (a crafted model
    from a remote, an artifact store) are refused, never executed.  Every record's checksum
    is verified first (torch.load alone returns silently wrong weights from a damaged file).
    Raises a one-line DataError naming ``path`` and ending with ``Fix: <fix>``.
    """
    import pickle

    import torch

    path = Path(path)

    def error(problem: str) -> DataError:
        return DataError(f"{path}: {problem}. Fix: {fix}")

    if not path.exists():
        raise error("missing")
    if not zipfile.is_zipfile(path):
        raise error("not a PyTorch file (not a zip archive; an interrupted copy or another kind of file)")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise error(f"damaged zip archive ({e})") from None
    if bad is not None:
        raise error(f"damaged: record {bad} fails its checksum")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise error(f"refused to load: it holds a Python object that is not plain data ({_unsafe_global(str(e))}), "
                    "and unpickling it could run code") from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as e:
        raise error(f"unreadable ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})") from None


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def sync_files(files: dict[Path, str], directory: Path, pattern: str) -> list[Path]:
    """Make ``directory`` hold exactly ``files`` (path -> text) among its ``pattern`` files: write
    those whose text changed (the others keep their bytes and times: Snakemake reruns by time),
    remove the rest; returns the files written."""
    written = []
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            write_text(path, text)
            written.append(path)
    for old in Path(directory).rglob(pattern):
        if old not in files:
            old.unlink()
    return written


def load_params(path: str | os.PathLike) -> dict:
    """A params file (params.yaml) as plain data, parsed with libyaml's safe loader when PyYAML was
    built with it (7x faster on the study's params.yaml; same result); a clear error otherwise."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "file not found.", "run from the project root, or pass --params PATH.")
    try:
        raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ConfigError(str(path), f"is not valid YAML ({e}).", "fix the YAML syntax.") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "must be a mapping of sections.", "see README.md for the layout.")
    return raw
