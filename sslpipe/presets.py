"""Edits of params.yaml that keep its comments (ruamel round-trip): presets and the run table.

Presets are overlays merged into params.yaml. Sizes: ``smoke`` (the whole graph in about a
minute: tiny splits, a few steps), ``paper`` (the GPU-scale study: full dSprites grid, ~300k
steps as in Locatello et al. 2019, the evaluation's paper sample sizes). Studies:
``disentanglement`` (the six disentangling models of Locatello et al. 2019 over a grid of
their regularization strength and seeds) and ``architectures`` (pretext tasks crossed with
backbone kinds and widths, Kolesnikov et al. 2019); a size preset applies on top of a study.

The run table (``workflow/runs.json``, ``paths.RUNS_FILE``) is generated from ``study.sweeps``
(:func:`write_runs`, ``sslpipe runs --write``); every preset regenerates it.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .core.errors import ConfigError
from .core.io import atomic_path, write_text


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
    yaml.width = 4096  # one line per sweep entry
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


def _migrate(data) -> bool:
    """Drop an old ``study.runs`` table from params.yaml (it is generated into the run table file
    now); a hand-written one without sweeps becomes one sweep entry per run.  True when changed."""
    study = data.get("study") or {}
    if "runs" not in study:
        return False
    if "sweeps" not in study and isinstance(study.get("runs"), dict):  # an old hand-written {dataset, method} table
        study["sweeps"] = [_flow({"dataset": v["dataset"], "method": v["method"]}) for v in _plain(study["runs"]).values()]
    del study["runs"]
    return True


def render_runs(table: dict) -> str:
    """The run table file's text: one line per run, so a diff shows the runs that changed."""
    import json

    from .config import GENERATED

    lines = [f"  {json.dumps(k)}: {json.dumps(v, separators=(', ', ': '))}" for k, v in table["runs"].items()]
    return "{\"comment\": " + json.dumps(GENERATED) + ",\n \"runs\": {\n" + ",\n".join(lines) + "\n }}\n"


def _write(path: Path, yaml: YAML, data):
    """Validate ``data`` and write it to the params file; the validated config."""
    from .config import from_raw

    cfg = from_raw(_plain(data))  # validate before writing
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        yaml.dump(data, f)
    return cfg


def _write_table(params_path: Path, cfg) -> bool:
    """Write the run table of ``cfg`` beside the params file if it differs; True when written."""
    from .config import run_table, runs_file

    target = runs_file(params_path)
    if target is None:  # not a project's params.yaml: DVC does not run over it
        return False
    text = render_runs(run_table(cfg))
    if target.exists() and target.read_text() == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, text)
    return True


def write_params(path: Path, yaml: YAML, data) -> None:
    """Write edited params (ruamel round-trip ``data``, comments kept): an old ``study.runs`` moved
    out, the whole file validated before it is written, then the run table regenerated from it."""
    _migrate(data)
    _write_table(path, _write(path, yaml, data))


def write_runs(params_path: str | Path = "params.yaml") -> bool:
    """Regenerate the run table (``paths.RUNS_FILE`` beside the params file) from ``study.sweeps``
    (moving an old ``study.runs`` out of params.yaml first); True when a file changed."""
    from .config import from_raw

    path = Path(params_path)
    yaml = yaml_rt()
    data = yaml.load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("study"), dict):
        raise ConfigError(str(path), "has no study section.", "see README.md for the layout.")
    migrated = _migrate(data)
    cfg = _write(path, yaml, data) if migrated else from_raw(_plain(data))  # validates the whole file first
    return _write_table(path, cfg) or migrated


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
    write_params(path, yaml, data)
