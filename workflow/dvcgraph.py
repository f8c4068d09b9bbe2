"""DVC's resolved stages as plain data, for the Snakefile and the graph test."""
from __future__ import annotations

from pathlib import Path


def resolved_stages(root: str = ".") -> list[dict]:
    """One dict per DVC stage: rule name, cmd, deps and outs (a stage's parameters are a file among its
    deps: the values the ``params`` stage writes).

    Snakemake links rules by exact paths and reruns by file times, so the stages are shaped for it:
    - a dependency on a directory that holds other stages' outputs (the report's ``metrics``) is
      expanded to those outputs;
    - a directory output whose files other stages depend on one by one (the ``code`` stage's
      fingerprints) is given as those files, flagged ``update``: the stage rewrites a file only
      when its content changes, so only the stages whose file changed rerun;
    - a dependency that no stage produces (the ``code`` stage's source directories) is left out:
      a directory's time changes only when an entry is added or removed (Python adds
      ``__pycache__`` as it runs), so the Snakefile brings the fingerprints up to date itself
      before it builds the graph (``sources`` names them);
    - so are all dependencies of a stage with such per-file outputs (``code``,
      ``params``): the Snakefile runs it before it plans, and a rule Snakemake planned to run
      would mark every rule downstream of it as out of date, although the stage rewrites only
      the files whose content changed.
    """
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(root) as repo:
        stages = [s for s in repo.index.stages if getattr(s, "cmd", None)]
        all_outs = [(str(o.def_path), s.addressing) for s in stages for o in s.outs]
        file_deps = {str(d.def_path) for s in stages for d in s.deps if not isinstance(d, ParamsDependency)}
        out = []
        for s in stages:
            deps, sources = [], []
            outs, is_dir, update = [], [], []
            for o in (str(o.def_path) for o in s.outs):
                read = sorted(d for d in file_deps if d != o and Path(d).is_relative_to(o))
                outs += read or [o]
                is_dir += [False] * len(read) if read else [not Path(o).suffix]
                update += [bool(read)] * max(len(read), 1)
            for d in s.deps:
                if isinstance(d, ParamsDependency):  # only the params stage's: params.yaml and the run table
                    continue
                p = str(d.def_path)
                if any(update):  # brought up to date before planning
                    sources.append(p)
                    continue
                produced = any(o == p or Path(p).is_relative_to(o) for o, _ in all_outs)
                inner = [o for o, owner in all_outs if o != p and Path(o).is_relative_to(p) and owner != s.addressing]
                if not produced and not inner:
                    sources.append(p)
                    continue
                deps.extend(inner if inner else [p])
            out.append({
                "name": s.addressing,
                "rule": s.addressing.replace("@", "__").replace("-", "_"),
                "cmd": s.cmd,
                "deps": deps,
                "outs": outs,
                "out_is_dir": is_dir,
                "update": update,
                "sources": sources,
            })
    return out
