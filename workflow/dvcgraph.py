"""DVC's resolved stages as plain data, for the Snakefile and the graph test."""
from __future__ import annotations

from pathlib import Path


def resolved_stages(root: str = ".") -> list[dict]:
    """One dict per DVC stage: rule name, cmd, file deps, outs, and the parameter values it reads.

    A dependency on a directory that holds other stages' outputs (the report's ``metrics``)
    is expanded to those outputs, because Snakemake links rules by exact paths.
    """
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(root) as repo:
        stages = [s for s in repo.index.stages if getattr(s, "cmd", None)]
        all_outs = [(str(o.def_path), s.addressing) for s in stages for o in s.outs]
        out = []
        for s in stages:
            deps, params = [], {}
            for d in s.deps:
                if isinstance(d, ParamsDependency):
                    values = d.read_params()
                    for key in d.params:
                        params[key] = values.get(key)
                    continue
                p = str(d.def_path)
                inner = [o for o, owner in all_outs if o != p and Path(o).is_relative_to(p) and owner != s.addressing]
                deps.extend(inner if inner else [p])
            outs = [str(o.def_path) for o in s.outs]
            out.append({
                "name": s.addressing,
                "rule": s.addressing.replace("@", "__").replace("-", "_"),
                "cmd": s.cmd,
                "deps": deps,
                "outs": outs,
                "out_is_dir": [not Path(o).suffix for o in outs],
                "params": params,
            })
    return out
