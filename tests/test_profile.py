"""The SLURM profile's resource mapping, read from Snakemake's own dry run (no cluster needed)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sslpipe.smoke import scratch_copy

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _job_resources(out: str) -> dict[str, dict[str, str]]:
    jobs, rule = {}, None
    for line in out.splitlines():
        if m := re.match(r"rule (\w+):", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"\s+resources: (.*)", line)):
            jobs[rule] = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
    return jobs


def test_profile_asks_for_a_gpu_for_pretraining_only_when_the_study_does(tmp_path):
    scratch_copy(ROOT, tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text().replace("  device: auto", "  device: cuda"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(tmp_path),
               SBATCH_ACCOUNT="proj1", SBATCH_PARTITION="cpu", SSLPIPE_SLURM_GPU_PARTITION="gpu")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(cmd, cwd=tmp_path, check=True)  # DVC resolves the graph in a git repository
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "workflow/profiles/slurm"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = _job_resources(out.stdout + out.stderr)
    jobs.pop("all")  # the target rule runs nothing
    kinds = {rule.split("__")[0] for rule in jobs}
    assert kinds == {"shard", "pretrain", "evaluate", "report"}  # code: made before Snakemake plans
    for rule, res in jobs.items():
        kind = rule.split("__")[0]
        assert res["slurm_account"] == "proj1"
        if kind == "pretrain":
            assert (res["gpu"], res["slurm_partition"], res["mem_mb"], res["runtime"]) == ("1", "gpu", "16000", "720")
        else:
            assert "gpu" not in res and res["slurm_partition"] == "cpu"
    assert jobs["evaluate__dsprites_simclr"]["mem_mb"] == "8000" and jobs["report"]["runtime"] == "30"
