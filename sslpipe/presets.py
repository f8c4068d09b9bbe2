"""Parameter presets: overlays merged into params.yaml, keeping its comments (ruamel round-trip).

``smoke``: the whole graph in about a minute (tiny splits, a few steps). ``paper``: the
GPU-scale study (full dSprites grid, ~300k steps as in Locatello et al. 2019, the
evaluation's paper sample sizes).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ruamel.yaml import YAML

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


def apply_preset(name: str, params_path: str | Path = "params.yaml") -> None:
    if name not in preset_names():
        raise ConfigError("preset", f"unknown preset {name!r}.", f"use one of: {', '.join(preset_names())}.")
    yaml = YAML()
    yaml.preserve_quotes = True
    overlay = yaml.load(resources.files("sslpipe.presets_data").joinpath(f"{name}.yaml").read_text())
    path = Path(params_path)
    data = yaml.load(path.read_text())
    overlay = overlay or {}
    # dataset sizes apply only to datasets the params file configures
    overlay["data"] = {k: v for k, v in (overlay.get("data") or {}).items() if k in (data.get("data") or {})}
    _merge(data, overlay)
    import json

    from .config import from_raw

    from_raw(json.loads(json.dumps(data)))  # validate before writing
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        yaml.dump(data, f)
