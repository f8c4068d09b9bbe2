"""The study configuration: params.yaml -> typed, validated sections, composed from the registries.

The top of the package: it imports every registry (sources, methods, backbones, metrics) to
type the ``data.<name>`` and ``methods.<name>`` sections by the ``Params`` dataclass their
registered class declares.  Validation happens once, before any work; every error names the
params.yaml key and the fix.  The schema toolkit itself lives in ``sslpipe.core.schema``.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .core.errors import ConfigError
from .core.schema import build, check, non_negative, unrecorded
from .data.sources import SOURCES
from .evaluate.config import EvaluateConfig, ReportConfig
from .methods.base import METHODS
from .models.backbones import BACKBONES, BackboneConfig
from .train import TrainConfig

PARAMS_FILE = "params.yaml"


# --- the sections ---------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One (dataset, method) pair of the study."""

    dataset: str
    method: str


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
class Config:
    study: StudyConfig
    backbone: BackboneConfig
    train: TrainConfig
    data: dict[str, Any]  # dataset name -> its Params dataclass
    methods: dict[str, Any]  # method name -> its Params dataclass
    evaluate: EvaluateConfig
    report: ReportConfig
    raw: dict = field(repr=False, default_factory=dict)

    def runs(self) -> list[Run]:
        return self.study.run_list()

    def run(self, dataset: str, method: str) -> Run:
        r = Run(dataset, method)
        with unrecorded():  # run membership is validation, not a stage input
            known = self.runs()
        if r not in known:
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
    from . import data as data_pkg  # noqa: F401  (registers every source module)
    from . import methods as methods_pkg  # noqa: F401  (registers every method module)

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
