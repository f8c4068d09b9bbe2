"""``sslpipe load-tracking``: many stage processes logging to one MLflow store at once.

Each worker process is one :class:`~sslpipe.tracking.StageRun` (the stages' own tracking
code) that logs parameters, hundreds of metric steps and a few artifact files.  The workers
start together (or as Snakemake jobs, ``--snakemake-jobs`` at a time); afterwards every run,
metric step and artifact is counted through the MLflow client, and none may be missing or
left RUNNING.  Reports the time per logged value.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .core.errors import SslpipeError
from .tracking import StageRun, init_store, inventory, tracking_uri

PARAMS = 20  # per run, plus the worker index
ARTIFACT_BYTES = 64 * 1024


@dataclass
class LoadResult:
    store: str
    mode: str
    runs_expected: int
    runs_found: int
    running: int
    metric_steps_expected: int
    metric_steps_found: int
    params_expected: int
    params_found: int
    artifacts_expected: int
    artifacts_found: int
    values: int              # params + metric values + artifacts logged in all
    wall_s: float            # from the first worker's start to the last one's end
    s_per_value: float       # mean over workers of (the worker's logging time / its values)

    @property
    def complete(self) -> bool:
        return (self.runs_found, self.metric_steps_found, self.params_found, self.artifacts_found, self.running) == \
            (self.runs_expected, self.metric_steps_expected, self.params_expected, self.artifacts_expected, 0)

    def table(self) -> str:
        rows = [("runs", self.runs_expected, self.runs_found), ("runs left RUNNING", 0, self.running),
                ("metric steps", self.metric_steps_expected, self.metric_steps_found),
                ("params", self.params_expected, self.params_found),
                ("artifacts", self.artifacts_expected, self.artifacts_found)]
        lines = [f"{self.store} ({self.mode})", f"{'':20s} {'expected':>10s} {'found':>10s}"]
        lines += [f"{name:20s} {e:>10d} {f:>10d}" for name, e, f in rows]
        lines.append(f"{self.values} values in {self.wall_s:.1f} s wall; {1000 * self.s_per_value:.2f} ms per logged value "
                     f"per process, {1000 * self.wall_s / self.values:.3f} ms per value overall")
        return "\n".join(lines)


def worker(index: int, experiment: str, steps: int, metrics: int, artifacts: int, out: Path) -> None:
    """One stage-like process: params, ``steps`` x ``metrics`` metric values, ``artifacts`` files."""
    out = Path(out)
    params = {"load": {f"p{j:02d}": j * 0.5 for j in range(PARAMS)}, "worker": index}
    files = []
    for a in range(artifacts):
        f = out / f"w{index:03d}-{a}.bin"
        f.write_bytes(os.urandom(ARTIFACT_BYTES))
        files.append(f)
    t0 = time.time()
    with StageRun(experiment, "load", f"w{index:03d}", "load", params) as run:
        for s in range(steps):
            run.log_metrics({f"m{k}": (s + 1) * (k + 1) * 1e-3 for k in range(metrics)}, step=s)
        for f in files:
            run.log_artifact(f, "load")
    t1 = time.time()
    values = PARAMS + 1 + steps * metrics + artifacts
    (out / f"w{index:03d}.json").write_text(json.dumps({"start": t0, "end": t1, "values": values}))


def _worker_cmd(i: int, experiment: str, steps: int, metrics: int, artifacts: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "sslpipe.cli", "load-tracking", "--worker", str(i), "--experiment", experiment,
            "--steps", str(steps), "--metrics", str(metrics), "--artifacts", str(artifacts), "--out", str(out)]


def run(processes: int = 16, steps: int = 300, metrics: int = 4, artifacts: int = 3, snakemake_jobs: int | None = None,
        experiment: str | None = None) -> LoadResult:
    uri = tracking_uri()
    experiment = experiment or f"load-{uuid.uuid4().hex[:8]}"
    init_store(experiment)  # once, before the parallel writers (a fresh SQLite store cannot be created concurrently)
    work = Path(tempfile.mkdtemp(prefix="sslpipe-load-"))
    # live sending: every worker writes to the store throughout its run (the heaviest of the tracking modes)
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, SSLPIPE_TRACKING="live")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]))
    if snakemake_jobs:
        mode = f"{processes} Snakemake jobs, {snakemake_jobs} at a time"
        cmd = " ".join(_worker_cmd(0, experiment, steps, metrics, artifacts, work)).replace("--worker 0", "--worker {wildcards.i}")
        (work / "Snakefile").write_text(_snakefile(work, processes, cmd))
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(work / "Snakefile"), "-d", str(work), "--cores",
                        str(snakemake_jobs), "-q"], env=env, cwd=work, check=True)
    else:
        mode = f"{processes} processes at once"
        procs = [subprocess.Popen(_worker_cmd(i, experiment, steps, metrics, artifacts, work), env=env, cwd=work)
                 for i in range(processes)]
        failed = [i for i, p in enumerate(procs) if p.wait() != 0]
        if failed:
            raise SslpipeError(f"load test: workers {failed} failed (see their messages above)")
    return _count(uri, experiment, mode, work, processes, steps, metrics, artifacts)


def _snakefile(work: Path, processes: int, cmd: str) -> str:
    return (f"rule all:\n    input: expand('w{{i}}.json', i=[f'{{n:03d}}' for n in range({processes})])\n\n"
            f"rule load:\n    output: 'w{{i}}.json'\n    shell: {cmd!r}\n")


def _count(uri: str, experiment: str, mode: str, work: Path, processes: int, steps: int, metrics: int, artifacts: int) -> LoadResult:
    reports = [json.loads(p.read_text()) for p in sorted(work.glob("w*.json"))]
    inv = inventory(uri, experiment)
    store = uri.split(":", 1)[0] if not uri.startswith("http") else f"tracking server {uri}"
    return LoadResult(
        store=store, mode=mode,
        runs_expected=processes, runs_found=len(inv), running=sum(r["status"] == "RUNNING" for r in inv),
        metric_steps_expected=processes * steps * metrics, metric_steps_found=sum(sum(r["metric_steps"].values()) for r in inv),
        params_expected=processes * (PARAMS + 1), params_found=sum(r["params"] for r in inv),
        artifacts_expected=processes * artifacts, artifacts_found=sum(r["artifacts"] for r in inv),
        values=sum(r["values"] for r in reports),
        wall_s=max(r["end"] for r in reports) - min(r["start"] for r in reports) if reports else 0.0,
        s_per_value=sum((r["end"] - r["start"]) / r["values"] for r in reports) / max(1, len(reports)),
    )


def main(processes: int, steps: int, metrics: int, artifacts: int, snakemake_jobs: int | None) -> LoadResult:
    result = run(processes, steps, metrics, artifacts, snakemake_jobs)
    print(result.table())
    print(json.dumps(asdict(result)))
    if not result.complete:
        raise SslpipeError("load test: the store lost tracking data (expected and found differ above)")
    return result
