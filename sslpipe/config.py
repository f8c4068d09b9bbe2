"""params.yaml -> typed, validated configuration.

Every section is a dataclass; each field may carry a ``check`` in its metadata
(see :func:`check`).  Validation happens once, before any work, and every error
names the params.yaml key and the fix.  Dataset and method sections are typed by
the ``Params`` dataclass their registered class declares.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import ConfigError

PARAMS_FILE = "params.yaml"

Check = Callable[[Any], "str | None"]


# --- field checks -----------------------------------------------------------------
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
    return obj


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


# --- the sections ---------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One (dataset, method) pair of the study."""

    dataset: str
    method: str

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.method}"


@dataclass
class StudyConfig:
    """The study: which datasets are sharded and which (dataset, method) runs are made.

    ``runs`` is keyed ``<dataset>-<method>`` so that DVC's ``foreach`` names each stage
    after its run (``pretrain@dsprites-simclr``); names are identifiers, so ``-`` is
    an unambiguous separator.
    """

    name: str = check("sslpipe", help="MLflow experiment name of the study.")
    seed: int = check(0, non_negative)
    datasets: list[str] = check([])
    runs: dict[str, Any] = check({}, help="<dataset>-<method>: {dataset: ..., method: ...}")

    def validate(self, key: str) -> None:
        parsed = {}
        for rid, spec in self.runs.items():
            k = f"{key}.runs.{rid}"
            if not isinstance(spec, dict) or set(spec) != {"dataset", "method"}:
                raise ConfigError(k, f"must be a mapping {{dataset: ..., method: ...}}, got {spec!r}.", f"write `{rid}: {{dataset: D, method: M}}`.")
            run = Run(str(spec["dataset"]), str(spec["method"]))
            if rid != f"{run.dataset}-{run.method}":
                raise ConfigError(k, f"the key must be '<dataset>-<method>', i.e. {run.dataset}-{run.method!s}.", f"rename the key to {run.dataset}-{run.method}.")
            parsed[rid] = run
        self.runs = parsed

    def run_list(self) -> list[Run]:
        return list(self.runs.values())


@dataclass
class BackboneConfig:
    kind: str = check("conv", help="a registered backbone: see `sslpipe backbones`.")
    width: int = check(32, positive)
    depth: int = check(3, in_range(1, 6))
    code_dim: int = check(10, positive, help="size of the representation evaluated downstream.")


@dataclass
class TrainConfig:
    batch_size: int = check(256, positive, help="use a batch size of at least 1.")
    steps: int = check(450, non_negative, help="default steps of every method (methods.<name>.steps overrides); the generative family uses it.")
    step_scale: float = check(1.0, positive, help="multiplies every method's steps (smoke preset: 0.03; paper preset: 1000).")
    lr: float = check(1e-3, positive, help="use a positive learning rate such as 0.001.")
    weight_decay: float = check(0.0, non_negative)
    optimizer: str = check("adam", one_of("adam", "adamw", "sgd"))
    schedule: str = check("cosine", one_of("cosine", "constant"))
    warmup_steps: int = check(10, non_negative)
    shuffle_buffer: int = check(8, positive, help="number of stored record chunks mixed for shuffling.")
    log_every: int = check(10, positive)
    checkpoint_every: int = check(100, positive)
    amp: bool = check(True, help="mixed precision on CUDA; ignored on CPU.")
    threads: int = check(2, non_negative, help="CPU threads (0 = torch default).")
    device: str = check("auto", one_of("auto", "cpu", "cuda", "mps"))


@dataclass
class Config:
    study: StudyConfig
    backbone: BackboneConfig
    train: TrainConfig
    data: dict[str, Any]  # dataset name -> its Params dataclass
    methods: dict[str, Any]  # method name -> its Params dataclass
    evaluate: Any
    report: Any
    raw: dict = field(repr=False, default_factory=dict)

    def runs(self) -> list[Run]:
        return self.study.run_list()

    def run(self, dataset: str, method: str) -> Run:
        r = Run(dataset, method)
        if r not in self.runs():
            raise ConfigError(
                "study.runs",
                f"({dataset}, {method}) is not a run of the study.",
                f"add `{dataset}-{method}: {{dataset: {dataset}, method: {method}}}` under study.runs in params.yaml.",
            )
        return r

    def method_train(self, method: str) -> TrainConfig:
        """The training config with the method's own overrides (``steps``, ``lr``, ``batch_size``) applied."""
        mp = self.methods[method]
        over = {k: getattr(mp, k) for k in ("steps", "lr", "batch_size") if getattr(mp, k, None) is not None}
        cfg = dataclasses.replace(self.train, **over)
        cfg.steps = max(1, round(cfg.steps * cfg.step_scale)) if cfg.steps else 0
        cfg.warmup_steps = min(cfg.warmup_steps, cfg.steps // 4)
        return cfg


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


def load_raw(path: str | Path = PARAMS_FILE) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "file not found.", "run from the project root, or pass --params PATH.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(str(path), f"is not valid YAML ({e}).", "fix the YAML syntax.") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "must be a mapping of sections.", "see README.md for the layout.")
    return raw


TOP_LEVEL = ("study", "backbone", "train", "data", "methods", "evaluate", "report")


def load(path: str | Path = PARAMS_FILE) -> Config:
    """Load and validate the whole params file; raises ConfigError on the first problem."""
    raw = load_raw(path)
    return from_raw(raw)


def from_raw(raw: dict) -> Config:
    from . import data as data_pkg  # noqa: F401  (registers sources)
    from . import methods as methods_pkg  # noqa: F401  (registers methods)
    from .data.sources import SOURCES
    from .evaluate.config import EvaluateConfig, ReportConfig
    from .methods.base import METHODS
    from .models.backbones import BACKBONES

    for k in raw:
        if k not in TOP_LEVEL:
            close = difflib.get_close_matches(str(k), TOP_LEVEL, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(k, f"unknown section.{hint}", f"use the sections {', '.join(TOP_LEVEL)}.")
    study = build(StudyConfig, raw.get("study"), "study")
    backbone = build(BackboneConfig, raw.get("backbone"), "backbone")
    BACKBONES.get(backbone.kind, "backbone.kind")
    train = build(TrainConfig, raw.get("train"), "train")

    data_raw = raw.get("data") or {}
    data = {}
    for name, section in data_raw.items():
        src = SOURCES.get(name, f"data.{name}")
        data[name] = build(src.Params, section, f"data.{name}")
    methods_raw = raw.get("methods") or {}
    methods = {}
    for name, section in methods_raw.items():
        cls = METHODS.get(name, f"methods.{name}")
        methods[name] = build(cls.Params, section, f"methods.{name}")

    if not study.datasets:
        raise ConfigError("study.datasets", "is empty.", "list at least one dataset, e.g. [dsprites].")
    for d in study.datasets:
        SOURCES.get(d, "study.datasets")
        if d not in data:
            raise ConfigError(f"data.{d}", "is missing for a dataset of the study.", f"add a `data.{d}:` section.")
    for run in study.run_list():
        key = f"study.runs.{run.dataset}-{run.method}"
        if run.dataset not in study.datasets:
            raise ConfigError(key, f"names dataset {run.dataset!r}, which is not in study.datasets.", f"add {run.dataset!r} to study.datasets or remove the run.")
        cls = METHODS.get(run.method, key)
        if run.method not in methods:
            raise ConfigError(f"methods.{run.method}", "is missing for a method of the study.", f"add a `methods.{run.method}:` section (it may be empty: `{run.method}: {{}}`).")
        problem = cls.incompatible(SOURCES.get(run.dataset), data[run.dataset])
        if problem:
            raise ConfigError(key, f"method {run.method!r} cannot run on {run.dataset!r}: {problem}", "remove this run from study.runs.")
    evaluate = build(EvaluateConfig, raw.get("evaluate"), "evaluate")
    report = build(ReportConfig, raw.get("report"), "report")
    return Config(study, backbone, train, data, methods, evaluate, report, raw)


# --- which keys each stage reads (the single source for dvc.yaml, MLflow params) ----
def stage_param_keys(stage: str, dataset: str | None = None, method: str | None = None) -> list[str]:
    """The params.yaml keys a stage reads; dvc.yaml declares exactly these (tested)."""
    if stage == "shard":
        return ["study.seed", f"data.{dataset}"]
    if stage == "pretrain":
        return ["study.seed", "backbone", "train", f"methods.{method}"]
    if stage == "embed":
        return ["study.seed", "evaluate.embed"]
    if stage == "evaluate":
        return ["study.seed", "evaluate", "report"]
    if stage == "report":
        return ["study", "report"]
    raise ValueError(f"unknown stage {stage!r}")


def stage_params(raw: dict, keys: list[str]) -> dict[str, Any]:
    out = {}
    for k in keys:
        try:
            out[k] = get_path(raw, k)
        except KeyError:
            out[k] = None
    return out
