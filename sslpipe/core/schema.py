"""Typed, validated parameter sections: dataclass fields with checks, built from mappings.

Every section of params.yaml is a dataclass; each field may carry ``check``s in its metadata
(see :func:`check`).  :func:`build` turns a mapping into the dataclass once, before any work,
and every error names the params.yaml key and the fix.  Imports nothing of sslpipe but core.
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import typing
from dataclasses import field
from typing import Any, Callable

from .errors import ConfigError

Check = Callable[[Any], "str | None"]


# --- field checks -----------------------------------------------------------------
def non_empty(v) -> str | None:
    return None if str(v).strip() else "must not be empty"


def positive(v) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


def in_range(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Check:
    def _check(v):
        ok_lo = v > lo if lo_open else v >= lo
        ok_hi = v < hi if hi_open else v <= hi
        if ok_lo and ok_hi:
            return None
        return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"

    return _check


def one_of(*choices) -> Check:
    def _check(v):
        return None if v in choices else f"must be one of {', '.join(map(str, choices))}"

    return _check


def check(default, *checks: Check, help: str = "", **kw):
    """A dataclass field with validation ``checks`` and a ``help`` text used in errors."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"checks": checks, "help": help}, **kw)
    return field(default=default, metadata={"checks": checks, "help": help}, **kw)


# --- generic dataclass <- mapping ---------------------------------------------------
def _coerce(value, tp, key: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}.")
        inner = args[0] if args else Any
        return origin(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping, got {value!r}.")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}.")
        return value
    return value


def build(cls, mapping: dict | None, key: str):
    """Build dataclass ``cls`` from ``mapping``; unknown keys and failed checks raise ConfigError."""
    mapping = {} if mapping is None else mapping
    if not isinstance(mapping, dict):
        raise ConfigError(key, f"expected a mapping, got {mapping!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in mapping:
        if k not in fields:
            close = difflib.get_close_matches(str(k), fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{key}.{k}", f"unknown key.{hint}", f"remove it or use one of: {', '.join(fields)}.")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{key}.{name}"
        if name in mapping:
            value = _coerce(mapping[name], hints[name], sub)
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        else:
            raise ConfigError(sub, "is required but missing.", f"add `{name}:` under `{key}`.")
        if value is not None:
            for c in f.metadata.get("checks", ()):
                problem = c(value)
                if problem:
                    help_ = f.metadata.get("help", "")
                    raise ConfigError(sub, f"{mapping[name]!r} {problem}.", help_ or f"set {sub} to a valid value.")
        kwargs[name] = value
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(key)
    if _RECORDER is not None and not _RECORDER.paused:
        obj.__class__ = _recording_class(cls)
        object.__setattr__(obj, "_section_key", key)
    return obj


def get_path(raw: dict, dotted: str):
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def params_hash(values: dict) -> str:
    """A short stable hash of a parameter mapping (MLflow tag ``params_hash``)."""
    blob = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


# --- which keys a stage reads: the recorder behind the declared-keys test -------------
class ReadRecorder:
    """Collects the dotted params.yaml keys read from built sections (``train.threads``)."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.paused = 0


_RECORDER: ReadRecorder | None = None
_RECORDING_CLASSES: dict[type, type] = {}


@contextlib.contextmanager
def record_reads():
    """Within this block, sections built by :func:`build` record every field read.

    The stage tests build the config inside it and compare the keys read with the keys the
    stage declares; outside it, :func:`build` returns plain dataclasses (no overhead).
    """
    global _RECORDER
    previous, _RECORDER = _RECORDER, ReadRecorder()
    try:
        yield _RECORDER
    finally:
        _RECORDER = previous


def note_read(key: str) -> None:
    """Record a read of ``key`` that no built section's field access records (a derived table)."""
    if _RECORDER is not None and not _RECORDER.paused:
        _RECORDER.reads.add(key)


@contextlib.contextmanager
def unrecorded():
    """Reads that are not params.yaml inputs: bookkeeping (run membership, the experiment name) and
    sections rebuilt from files (a model file's own backbone, a manifest's source params)."""
    if _RECORDER is None:
        yield
        return
    _RECORDER.paused += 1
    try:
        yield
    finally:
        _RECORDER.paused -= 1


def _recording_class(cls: type) -> type:
    if cls not in _RECORDING_CLASSES:
        names = frozenset(f.name for f in dataclasses.fields(cls))

        def __getattribute__(self, name):
            if name in names and _RECORDER is not None and not _RECORDER.paused:
                key = object.__getattribute__(self, "__dict__").get("_section_key")
                if key is not None:  # copies made by dataclasses.replace carry no key; the copy read every field
                    _RECORDER.reads.add(f"{key}.{name}")
            return object.__getattribute__(self, name)

        _RECORDING_CLASSES[cls] = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__, "__module__": cls.__module__})
    return _RECORDING_CLASSES[cls]
