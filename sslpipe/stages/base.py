"""One declaration per stage, and the context every stage opens the same way.

A :class:`Stage` says what the stage reads (params.yaml keys, data files, code) and writes,
with placeholders ``{dataset}``, and for stages over runs ``{run}`` (the run's name within its
dataset, in paths), ``{key}`` (``<dataset>-<run>``, its entry ``runs.{key}`` of the generated
run table, ``paths.RUNS_FILE``) and ``{method}``.  A key under ``runs`` is read from that
table, every other key from params.yaml.  dvc.yaml is generated from these
declarations (``sslpipe graph``; the Snakefile derives its rules from dvc.yaml), the tracked
run logs exactly the declared keys, and tests/stages/test_declarations.py runs every stage
with a recording config to prove that the keys and files it reads are the declared ones.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core import paths
from ..core.errors import ConfigError
from ..core.io import check_output_paths
from ..core.process import die_with_parent, stage_lock
from ..core.runtime import seed_everything, select_device
from ..core.schema import unrecorded


#: How DVC and Snakemake start a stage: with the project's venv first on PATH when it has one
#: (so ``.venv/bin/dvc repro`` works without activating it), and ``exec`` so that the stage is a
#: direct child of the runner and stops when the runner dies (core.process.die_with_parent).
COMMAND = 'exec env "PATH=.venv/bin:$PATH" python -m sslpipe'


@dataclass(frozen=True)
class Out:
    """An output path; ``kind`` is how DVC shows it (outs, plots, metrics), ``options`` its DVC flags."""

    path: str
    kind: str = "outs"
    options: dict = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return not Path(self.path).suffix


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    #: what the stage runs once per: "datasets" (study.datasets), "runs" (the run table) or None (once)
    over: str | None
    params: tuple[str, ...]
    deps: tuple[str, ...]  # data files the stage reads
    code: tuple[str, ...]  # the package code it runs (a change reruns it)
    outs: tuple[Out, ...]
    run: Callable[..., None] = field(compare=False, repr=False, default=None)
    #: the stage trains the encoder: its parameters (method, backbone, training) define the encoder's MLflow row
    trains: bool = False
    #: the stage is an MLflow run (every stage but ``code``, which computes no result)
    tracked: bool = True

    @property
    def args(self) -> tuple[str, ...]:
        """The command's arguments: ``sslpipe pretrain <dataset> <run>`` (a plain run's name is its method)."""
        return {"datasets": ("dataset",), "runs": ("dataset", "run"), None: ()}[self.over]

    @property
    def cmd(self) -> str:
        return " ".join([COMMAND, self.name] + [f"{{{a}}}" for a in self.args])

    def fill(self, text: str, **item: str) -> str:
        return text.format(**item)

    def param_keys(self, **item: str) -> list[str]:
        return [self.fill(k, **item) for k in self.params]

    def dep_paths(self, **item: str) -> list[str]:
        return [self.fill(d, **item) for d in self.deps]

    def out_paths(self, **item: str) -> list[str]:
        return [self.fill(o.path, **item) for o in self.outs]


def is_run_key(key: str) -> bool:
    """A declared key of the run table (``runs``, ``runs.<key>...``) rather than of params.yaml."""
    return key == "runs" or key.startswith("runs.")


def resolve(cfg, key: str) -> Any:
    """The validated value of a dotted params key (a whole section as a plain mapping)."""
    node: Any = cfg.study.table if is_run_key(key) else cfg
    for part in key.split(".")[1 if is_run_key(key) else 0:]:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    if isinstance(node, dict):  # a section of named entries (methods, data; the run table)
        return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in node.items()}
    return dataclasses.asdict(node) if dataclasses.is_dataclass(node) else node


class StageContext:
    """The opening every stage shares: run check, seeding and threads, device, verified shards,
    the trained model, and the tracked MLflow run with the stage's declared parameters.

    ``with StageContext(cfg, stage, dataset=..., run=...) as ctx:`` then ``ctx.run`` is the
    tracked run, ``ctx.device`` the device, ``ctx.spec`` the study's run (its seed and
    overrides; ``ctx.method`` its method); ``ctx.shards(...)`` and ``ctx.model()`` load inputs.
    """

    def __init__(self, cfg, stage: Stage, dataset: str | None = None, run: str | None = None):
        self.cfg, self.stage, self.dataset, self.name = cfg, stage, dataset, run
        self.spec = None  # the study's Run, for stages over runs
        self.item = {k: v for k, v in (("dataset", dataset), ("run", run)) if v is not None}
        self.device = None
        self.run = None
        self._tracked = None

    @property
    def method(self) -> str | None:
        with unrecorded():
            return self.spec.method if self.spec is not None else None

    @property
    def seed(self) -> int:
        """The run's seed (``runs.<key>.seed``); the study's seed for stages not over runs."""
        return self.spec.seed if self.spec is not None else self.cfg.study.seed

    # --- opening -----------------------------------------------------------------
    def check_item(self) -> None:
        cfg = self.cfg
        if self.stage.over == "runs":
            self.spec = cfg.run(self.dataset, self.name)
            with unrecorded():
                self.item = dict(self.spec.item)
        elif self.stage.over == "datasets":
            with unrecorded():
                datasets = list(cfg.study.datasets)
            if self.dataset not in datasets:
                raise ConfigError("study.datasets", f"{self.dataset!r} is not a dataset of the study.", f"add it to study.datasets (known: {', '.join(datasets)}).")

    def identity(self) -> dict[str, Any]:
        """The run's identity (key, method, seed, variant, overrides): bookkeeping, not a stage input."""
        if self.spec is None:
            return {}
        with unrecorded():
            s = self.spec
            return {"key": s.key, "method": s.method, "run": s.name, "seed": s.seed, "variant": s.variant, "overrides": dict(s.overrides)}

    def params(self) -> dict[str, Any]:
        """The declared keys with their validated values (defaults filled in), as logged to MLflow.

        For a run, ``methods.<m>`` and ``backbone`` are logged with the run's overrides applied,
        and its entry as ``seed``, ``variant`` and ``override.<key>`` for every overridden key.
        """
        with unrecorded():
            out: dict[str, Any] = {}
            spec = self.spec
            for k in self.stage.param_keys(**self.item):
                if spec is not None and (k == f"runs.{spec.key}" or k.startswith(f"runs.{spec.key}.")):
                    continue
                if spec is not None and k == f"methods.{spec.method}":
                    out[k] = dataclasses.asdict(self.cfg.method_params(spec))
                elif spec is not None and k == "backbone":
                    out[k] = dataclasses.asdict(self.cfg.backbone_for(spec))
                else:
                    out[k] = resolve(self.cfg, k)
            if spec is not None:
                out |= {"seed": spec.seed, "variant": spec.variant or "-"}
                if spec.overrides:
                    out["override"] = dict(spec.overrides)
            return out

    def setup_runtime(self, seed: int, threads: int, device: str) -> None:
        seed_everything(seed, threads)
        self.device = select_device(device)

    def __enter__(self) -> "StageContext":
        from ..tracking import Parent, StageRun

        die_with_parent()  # a killed runner (dvc repro, snakemake) takes the stage with it
        self.check_item()
        outs = [(o.is_dir, self.stage.fill(o.path, **self.item)) for o in self.stage.outs]
        check_output_paths(*(p for d, p in outs if not d), dirs=tuple(p for d, p in outs if d))
        self._lock = stage_lock(self.stage.name, "-".join(self.item.values()))
        self._lock.__enter__()  # a second writer of the same outputs fails here, naming this process
        if not self.stage.tracked:
            return self
        try:
            with unrecorded():
                experiment = self.cfg.study.name
            ident = self.identity()
            tags = {"method": ident["method"], "run": ident["key"], "seed": str(ident["seed"]), "variant": ident["variant"] or "-"} if ident else {}
            params = self.params()
            parent = None
            if ident:  # the encoder's row: one per (dataset, run), its stage runs nested under it
                from ..methods.base import METHODS

                parent = Parent(f"{self.dataset}/{self.name}", {**tags, "family": METHODS.get(ident["method"]).family},
                                params if self.stage.trains else None)
            # the study's last stage (not over datasets or runs: the report) leaves the store complete
            self._tracked = StageRun(experiment, self.stage.name, self.dataset or "-", self.name or "-", params, tags, parent,
                                     wait_for_all=self.stage.over is None)
            self.run = self._tracked.__enter__()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._tracked is not None:
                self._tracked.__exit__(*exc)
        finally:
            self._lock.__exit__(*exc)

    # --- inputs ------------------------------------------------------------------
    def shards(self, *splits: str) -> tuple[Path, dict]:
        """The dataset's shard directory and manifest, every listed split verified against it;
        logged as the tracked run's and the encoder row's dataset input (context: the splits read)."""
        from ..data.shards import verify_shards

        shard_dir = paths.shard_dir(self.dataset)
        manifest = verify_shards(shard_dir, splits=splits)
        if self.run is not None:
            self.run.log_shards(shard_dir, manifest, "+".join(splits), encoder=True)
        return shard_dir, manifest

    def model(self):
        """The trained method of this run, on the stage's device, in eval mode."""
        from ..checkpoint import load_method

        return load_method(paths.model_file(self.dataset, self.name), self.device)
