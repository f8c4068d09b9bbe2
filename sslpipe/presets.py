"""Edits of params.yaml that keep its comments (ruamel round-trip): presets and the run table.

Presets are overlays merged into params.yaml. Sizes: ``smoke`` (the whole graph in about a
minute: tiny splits, a few steps), ``paper`` (the GPU-scale study: full dSprites grid, ~300k
steps as in Locatello et al. 2019, the evaluation's paper sample sizes). Studies:
``disentanglement`` (the six disentangling models of Locatello et al. 2019 over a grid of
their regularization strength and seeds) and ``architectures`` (pretext tasks crossed with
backbone kinds and widths, Kolesnikov et al. 2019); a size preset applies on top of a study.

``study.runs`` is generated from ``study.sweeps`` (:func:`write_runs`, ``sslpipe runs --write``);
every preset regenerates it.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .config import GENERATED, expand_sweeps
from .core.errors import ConfigError
from .core.io import atomic_path


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("sslpipe.presets_data").iterdir() if p.name.endswith(".yaml"))


def _merge(base, overlay) -> None:
    """Merge ``overlay`` into ``base``; a null value removes the key (back to the code's default)."""
    for k, v in overlay.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def yaml_rt() -> YAML:
    """The round-trip YAML of params.yaml edits (comments, quotes and the list indentation kept)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # one line per run of study.runs
    return yaml


def _plain(node):
    import json

    return json.loads(json.dumps(node))


def _flow(value):
    if isinstance(value, dict):
        m = CommentedMap((k, _flow(v)) for k, v in value.items())
        m.fa.set_flow_style()
        return m
    return value


def run_table(data) -> CommentedMap:
    """``study.runs`` as written in params.yaml: one flow-style line per run, under the 'generated' comment."""
    study = data.get("study") or {}
    if "sweeps" not in study and isinstance(study.get("runs"), dict):  # an old hand-written {dataset, method} table
        study["sweeps"] = [_flow({"dataset": v["dataset"], "method": v["method"]}) for v in _plain(study["runs"]).values()]
    runs, _ = expand_sweeps(_plain(study))
    table = CommentedMap((k, _flow(v)) for k, v in runs.items())
    table.yaml_set_start_comment(GENERATED, indent=4)
    return table


def _write(path: Path, yaml: YAML, data) -> None:
    from .config import from_raw

    from_raw(_plain(data))  # validate before writing
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        yaml.dump(data, f)


def write_runs(params_path: str | Path = "params.yaml") -> bool:
    """Regenerate ``study.runs`` from ``study.sweeps`` in the params file; True when it changed."""
    path = Path(params_path)
    yaml = yaml_rt()
    data = yaml.load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("study"), dict):
        raise ConfigError(str(path), "has no study section.", "see README.md for the layout.")
    table = run_table(data)
    if _plain(data["study"].get("runs")) == _plain(table):
        return False
    data["study"]["runs"] = table
    _write(path, yaml, data)
    return True


def apply_preset(name: str, params_path: str | Path = "params.yaml") -> None:
    if name not in preset_names():
        raise ConfigError("preset", f"unknown preset {name!r}.", f"use one of: {', '.join(preset_names())}.")
    yaml = yaml_rt()
    overlay = yaml.load(resources.files("sslpipe.presets_data").joinpath(f"{name}.yaml").read_text())
    path = Path(params_path)
    data = yaml.load(path.read_text())
    overlay = overlay or {}
    # dataset sizes apply only to datasets the params file configures
    overlay["data"] = {k: v for k, v in (overlay.get("data") or {}).items() if k in (data.get("data") or {})}
    _merge(data, overlay)
    data["study"]["runs"] = run_table(data)
    _write(path, yaml, data)
