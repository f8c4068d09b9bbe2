"""The study configuration: params.yaml -> typed, validated sections, composed from the registries.

The top of the package: it imports every registry (sources, methods, backbones, metrics) to
type the ``data.<name>`` and ``methods.<name>`` sections by the ``Params`` dataclass their
registered class declares.  Validation happens once, before any work; every error names the
params.yaml key and the fix.  The schema toolkit itself lives in ``sslpipe.core.schema``.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from .core import paths
from .core.errors import ConfigError
from .core.schema import build, check, non_empty, non_negative, note_read, unrecorded
from .data.sources import SOURCES
from .evaluate.config import EvaluateConfig, ReportConfig
from .methods.base import METHODS
from .models.backbones import BACKBONES, BackboneConfig
from .train import TrainConfig

PARAMS_FILE = paths.PARAMS_FILE


# --- the sections ---------------------------------------------------------------
RESERVED = ("dataset", "method", "seeds")
_LABEL = re.compile(r"^[A-Za-z0-9_]+$")
GENERATED = "generated from study.sweeps in params.yaml by `sslpipe runs --write`; do not edit (sslpipe validate fails when stale)"


def _leaves(mapping: dict, prefix: tuple = ()) -> list[tuple[tuple, list]]:
    """(path, values) of every leaf of a sweep entry: a list is a sweep, anything else one value."""
    out = []
    for k, v in mapping.items():
        path = prefix + (str(k),)
        if isinstance(v, dict):
            out += _leaves(v, path)
        else:
            out.append((path, list(v) if isinstance(v, list) else [v]))
    return out


def _nest(pairs) -> dict:
    out: dict = {}
    for path, v in pairs:
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = v
    return out


def _check_seeds(seeds, key: str) -> None:
    if not isinstance(seeds, list) or not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise ConfigError(key, f"{seeds!r} must be a non-empty list of distinct non-negative integers.", "write e.g. `seeds: [0, 1, 2]`.")


def expand_sweeps(study: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """``study.sweeps`` -> the run table ``{key: {dataset, method, name, seed, variant, overrides}}``.

    Each sweep entry names a dataset and a method (or lists of them) and any of the method's
    parameters or ``backbone: {kind, width, depth, code_dim}``; a list value is a sweep (a
    list-valued parameter is swept with a list of lists), and the runs are the cross product
    of every list with the entry's ``seeds`` (else ``study.seeds``, else ``[study.seed]``).
    A run is named ``<method>[-<overrides>][-s<seed>]``, the seed part left out for the
    study's seed, so a plain ``<dataset>-<method>`` run keeps its name (and outputs) when
    seeds or other runs are added.  Returns the table and, per key, the entry it came from.
    """
    seed = study.get("seed", 0)
    default_seeds = study.get("seeds") or [seed]
    _check_seeds(default_seeds, "study.seeds")
    sweeps = study.get("sweeps")
    if not isinstance(sweeps, list) or not sweeps:
        raise ConfigError("study.sweeps", "is missing or empty.",
                          "list the study's runs under study.sweeps, e.g. `- {dataset: dsprites, method: simclr, seeds: [0, 1, 2]}`, "
                          "then run `sslpipe runs --write` (it converts an old study.runs table).")
    runs: dict[str, dict] = {}
    origin: dict[str, str] = {}
    for i, entry in enumerate(sweeps):
        where = f"study.sweeps[{i}]"
        if not isinstance(entry, dict) or "dataset" not in entry or "method" not in entry:
            raise ConfigError(where, f"must be a mapping with dataset and method, got {entry!r}.",
                              "write `- {dataset: D, method: M}` (lists of values sweep them; `seeds: [0, 1, 2]` adds seeds).")
        seeds = entry.get("seeds", default_seeds)
        _check_seeds(seeds, f"{where}.seeds")
        datasets, methods = (v if isinstance(v, list) else [v] for v in (entry["dataset"], entry["method"]))
        leaves = _leaves({k: v for k, v in entry.items() if k not in RESERVED})
        for path, values in leaves:
            if not values:
                raise ConfigError(f"{where}.{'.'.join(path)}", "is an empty sweep.", "give at least one value.")
        for dataset in datasets:
            for method in methods:
                for combo in itertools.product(*(values for _, values in leaves)):
                    labels = [paths.override_label(path[-1], v) for (path, _), v in zip(leaves, combo)]
                    for label in labels:
                        if not _LABEL.match(label):
                            raise ConfigError(where, f"the value in {label!r} cannot be part of a run name.",
                                              "use numbers, booleans or identifier strings (letters, digits, _) as swept values.")
                    variant = "-".join(labels)
                    for s in seeds:
                        name = paths.run_name(str(method), variant, s, seed)
                        key = f"{dataset}-{name}"
                        if key in runs:
                            raise ConfigError(where, f"repeats run {key} of {origin[key]}.", "remove the duplicate value or entry.")
                        runs[key] = {"dataset": str(dataset), "method": str(method), "name": name, "seed": s, "variant": variant,
                                     "overrides": _nest((path, v) for (path, _), v in zip(leaves, combo))}
                        origin[key] = where
    return runs, origin


@dataclass
class Run:
    """One run of the study: a method trained on a dataset with one seed and its overrides.

    ``name`` (``<method>[-<overrides>][-s<seed>]``) names it within its dataset, in output
    paths (``models/<dataset>/<name>``) and MLflow run names; ``key`` (``<dataset>-<name>``)
    names it in the run table and in stage names (``pretrain@<key>``).  ``variant`` is the
    overrides part of the name (empty for the method's own settings).
    """

    dataset: str = check("")
    method: str = check("")
    name: str = check("")
    seed: int = check(0, non_negative)
    variant: str = check("")
    overrides: dict[str, Any] = check({}, help="method parameters and `backbone: {...}` that differ from params.yaml's sections.")

    @property
    def key(self) -> str:
        return f"{self.dataset}-{self.name}"

    @property
    def item(self) -> dict[str, str]:
        """The placeholders of a stage declaration for this run."""
        return {"dataset": self.dataset, "run": self.name, "method": self.method, "key": self.key}


@dataclass
class StudyConfig:
    """The study: which datasets are sharded and which runs are made.

    ``sweeps`` declares the runs compactly (see :func:`expand_sweeps`); :meth:`run_list` is
    their expansion, each :class:`Run` a section ``runs.<key>`` of :data:`~sslpipe.core.paths.RUNS_FILE` (which
    ``sslpipe runs --write`` writes for DVC: every run is an ordinary stage ``pretrain@<key>``
    whose own entry is its parameter dependency; :func:`load` fails when that file is stale).
    """

    name: str = check("sslpipe", non_empty, help="name the study (its MLflow experiment), e.g. name: my-study.")
    seed: int = check(0, non_negative, help="the data seed (shards) and the seed of runs that name no other.")
    seeds: list[int] | None = check(None, help="seeds of every sweep entry that gives none (default: [study.seed]).")
    datasets: list[str] = check([])
    sweeps: list[Any] = check([], help="the runs: a list of {dataset, method, seeds, <parameter>: value or [values], backbone: {...}}.")
    runs: Any = check(None, help=f"no longer a section of params.yaml: the run table is {paths.RUNS_FILE}, {GENERATED}.")

    def validate(self, key: str) -> None:
        if self.runs is not None:
            raise ConfigError(f"{key}.runs", f"is no longer part of params.yaml: the run table is generated into {paths.RUNS_FILE}.",
                              f"run `sslpipe runs --write` (it moves the table there and removes {key}.runs).")
        raw = {"seed": self.seed, "seeds": self.seeds, "sweeps": self.sweeps}
        expected, self.origin = expand_sweeps(raw)
        # each run a section runs.<key> (what DVC's parameter dependency on its entry names)
        self.table = {k: build(Run, spec, f"runs.{k}") for k, spec in expected.items()}

    def run_list(self) -> list[Run]:
        """Every run; a stage reading them all reads the whole table (``runs`` of ``paths.RUNS_FILE``)."""
        note_read("runs")
        return list(self.table.values())

    def get_run(self, key: str) -> Run | None:
        return self.table.get(key)


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

    def run(self, dataset: str, name: str) -> Run:
        """The run ``<dataset>-<name>`` of the study (``name`` is the method for a plain run)."""
        run = self.study.get_run(f"{dataset}-{name}")
        if run is None:
            raise ConfigError(
                "study.sweeps",
                f"({dataset}, {name}) is not a run of the study.",
                f"add `- {{dataset: {dataset}, method: {name}}}` to study.sweeps in params.yaml and run `sslpipe runs --write` "
                "(`sslpipe runs` lists the runs).",
            )
        return run

    def method_params(self, run: Run | str):
        """The method's ``methods.<m>`` section with the run's overrides applied (a method name: the section itself)."""
        if isinstance(run, str):
            return self.methods[run]
        base = self.methods[run.method]
        over = {k: v for k, v in run.overrides.items() if k != "backbone"}
        if not over:
            return base
        return build(METHODS.get(run.method).Params, _deep_merge(dataclasses.asdict(base), over), f"methods.{run.method}")

    def backbone_for(self, run: Run) -> BackboneConfig:
        """The ``backbone`` section with the run's ``backbone`` overrides applied."""
        over = run.overrides.get("backbone")
        if not over:
            return self.backbone
        return build(BackboneConfig, {**dataclasses.asdict(self.backbone), **over}, "backbone")

    def method_train(self, run: Run | str, epoch_steps: Callable[[int], int] | None = None) -> TrainConfig:
        """The training config with the method's own settings (``steps``, ``lr``, ``batch_size``, ``threads``, after the run's overrides) applied.

        ``train.step_scale`` multiplies the steps (``train.steps`` or the method's).  A method
        trained for ``epochs`` passes over its data (text methods) passes ``epoch_steps(batch_size)``:
        without a ``steps`` of its own it trains exactly those, unscaled (its epochs are its paper's
        setting; the presets size the data instead).
        """
        mp = self.method_params(run)
        over = {k: getattr(mp, k) for k in ("steps", "lr", "batch_size", "threads") if getattr(mp, k, None) is not None}
        cfg = dataclasses.replace(self.train, **over)
        if "steps" not in over and epoch_steps is not None:
            cfg.steps = epoch_steps(cfg.batch_size)
        else:
            cfg.steps = max(1, round(cfg.steps * cfg.step_scale)) if cfg.steps else 0
        cfg.warmup_steps = min(cfg.warmup_steps, cfg.steps // 4)
        return cfg


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_raw(path: str | Path = PARAMS_FILE) -> dict:
    """The params file as plain data (``core.io.load_params``: the params stage reads it without this module's imports)."""
    from .core.io import load_params

    return load_params(path)


TOP_LEVEL = ("study", "backbone", "train", "data", "methods", "evaluate", "report")


def load(path: str | Path = PARAMS_FILE) -> Config:
    """Load and validate the whole params file; raises ConfigError on the first problem, also when
    the run table DVC reads (``paths.RUNS_FILE`` beside it, if the project has one) is stale."""
    cfg = from_raw(load_raw(path))
    check_run_table(cfg, runs_file(path))
    return cfg


def runs_file(params_path: str | Path = PARAMS_FILE) -> Path | None:
    """The run table of the project whose params file is ``params_path``; None for a params file of
    another name (DVC reads the project's params.yaml only, so only that one has a table)."""
    path = Path(params_path)
    return path.parent / paths.RUNS_FILE if path.name == PARAMS_FILE else None


def require_run_table(params_path: str | Path, in_project_only: bool = False) -> Path | None:
    """The project's run table (None for a params file of another name); fails with the fix when it
    is missing (``in_project_only``: only where a dvc.yaml beside params.yaml runs over it)."""
    table = runs_file(params_path)
    if table is not None and not table.exists() and (not in_project_only or (table.parent.parent / "dvc.yaml").exists()):
        raise ConfigError(str(table), "is missing: DVC reads the study's runs from it.", "run `sslpipe runs --write`.")
    return table


def run_table(cfg: Config) -> dict:
    """The contents of the run table file: ``{"runs": {key: entry}}`` in the sweeps' order."""
    with unrecorded():
        return {"runs": {r.key: dataclasses.asdict(r) for r in cfg.study.table.values()}}


def check_run_table(cfg: Config, path: str | Path | None) -> None:
    """Fail, naming the runs and the fix, when the run table at ``path`` is not the expansion of
    study.sweeps (a project without one, e.g. a bare params file, is not checked)."""
    import json

    if path is None or not Path(path).exists():
        return
    path = Path(path)
    try:
        found = (json.loads(path.read_text()) or {}).get("runs") or {}
    except (ValueError, AttributeError):
        found = None
    if not isinstance(found, dict):
        raise ConfigError(str(path), "is not a run table.", "run `sslpipe runs --write` to regenerate it.")
    expected = run_table(cfg)["runs"]
    if found != expected or list(found) != list(expected):
        added = [k for k in expected if k not in found]
        removed = [k for k in found if k not in expected]
        changed = [k for k in expected if k in found and found[k] != expected[k]]
        what = "; ".join(f"{label}: {', '.join(ks[:3])}{', ...' if len(ks) > 3 else ''}"
                         for label, ks in (("missing", added), ("not in the sweeps", removed), ("different", changed)) if ks)
        raise ConfigError(str(path), f"is not the expansion of study.sweeps ({what or 'the runs in another order'}).", "run `sslpipe runs --write`.")


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
        where = study.origin[run.key]  # the sweep entry the run comes from
        if run.dataset not in study.datasets:
            raise ConfigError(f"{where}.dataset", f"names dataset {run.dataset!r}, which is not in study.datasets.", f"add {run.dataset!r} to study.datasets or remove the run.")
        cls = METHODS.get(run.method, f"{where}.method")
        if run.method not in methods:
            raise ConfigError(f"methods.{run.method}", "is missing for a method of the study.", f"add a `methods.{run.method}:` section (it may be empty: `{run.method}: {{}}`).")
        problem = cls.incompatible(SOURCES.get(run.dataset), data[run.dataset])
        if problem:
            raise ConfigError(where, f"method {run.method!r} cannot run on {run.dataset!r}: {problem}", "remove this run from study.sweeps.")
        over = {k: v for k, v in run.overrides.items() if k != "backbone"}
        build(cls.Params, _deep_merge(dataclasses.asdict(methods[run.method]), over), where)
        if "backbone" in run.overrides:
            if not isinstance(run.overrides["backbone"], dict):
                raise ConfigError(f"{where}.backbone", f"must be a mapping, got {run.overrides['backbone']!r}.", "write e.g. `backbone: {width: [16, 32]}`.")
            bb = build(BackboneConfig, {**dataclasses.asdict(backbone), **run.overrides["backbone"]}, f"{where}.backbone")
            BACKBONES.get(bb.kind, f"{where}.backbone.kind")
    evaluate = build(EvaluateConfig, raw.get("evaluate"), "evaluate")
    report = build(ReportConfig, raw.get("report"), "report")
    return Config(study, backbone, train, data, methods, evaluate, report, raw)
