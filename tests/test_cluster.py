"""The smoke study through SLURM (``make test-cluster``): every stage an sbatch job on a one-node
cluster on this machine (workflow/cluster/slurm-local.sh), the same summary as a local ``dvc
repro`` of the same study, and ``dvc status`` clean afterwards.

Needs a running cluster: ``make test-cluster`` starts one, runs this file and stops it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sslpipe.smoke import FAMILY_SAMPLE, SMOKE_SEEDS, prepare, snakemake_command

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.cluster

#: For a one-node test cluster without slurmdbd: follow jobs with squeue (MinJobAge=300 in
#: its slurm.conf keeps finished jobs listed), poll every few seconds, keep the job logs
#: (they map SLURM job ids to rules).
LOCAL_CLUSTER_ARGS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
                      "--seconds-between-status-checks", "5", "--slurm-keep-successful-logs"]


def _slurm_config() -> dict:
    if shutil.which("sinfo") is None:
        pytest.fail("no SLURM client tools here. Fix: run `make test-cluster` (it installs and starts a local cluster).")
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"no SLURM controller answers ({out.stderr.strip()}). Fix: run `make test-cluster`.")
    return dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", out.stdout, re.M))


def _jobcomp_records(path: Path, workdir: Path) -> dict[str, dict]:
    """The controller's job-completion log: one line of key=value pairs per finished job."""
    recs = {}
    for line in path.read_text().splitlines():
        rec = dict(re.findall(r"(\w+)=(\S*)", line))
        if rec.get("WorkDir") == str(workdir):
            recs[rec["JobId"]] = rec
    return recs


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The smoke study twice from scratch: through SLURM, and locally with dvc repro at the same time."""
    conf = _slurm_config()
    assert conf.get("JobCompType") == "jobcomp/filetxt", "the test cluster must keep a job-completion log"
    local, cluster = tmp_path_factory.mktemp("smoke-local"), tmp_path_factory.mktemp("smoke-slurm")
    env_l, env_c = (prepare(ROOT, d, methods=FAMILY_SAMPLE, seeds=SMOKE_SEEDS) for d in (local, cluster))
    t0 = time.perf_counter()
    cmd = snakemake_command("workflow/profiles/slurm", LOCAL_CLUSTER_ARGS)
    smk = subprocess.Popen(cmd, cwd=cluster, env=env_c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        subprocess.run(["dvc", "repro", "-q"], cwd=local, env=env_l, check=True, capture_output=True, text=True)
        out, _ = smk.communicate(timeout=3600)
    finally:
        if smk.poll() is None:  # Snakemake ignores SIGTERM while it waits on jobs
            smk.send_signal(2)
            smk.wait(60)
    assert smk.returncode == 0, out[-4000:]
    print(f"smoke study through SLURM: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return local, cluster, env_c, Path(conf["JobCompLoc"])


def test_every_stage_ran_as_an_sbatch_job(studies, monkeypatch):
    local, cluster, env, jobcomp = studies
    monkeypatch.syspath_prepend(str(cluster / "workflow"))
    monkeypatch.chdir(cluster)  # DVC names stages relative to the working directory
    from dvcgraph import resolved_stages

    # every rule but code and params, whose files the Snakefile brings up to date itself before it plans the jobs
    rules = {s["rule"] for s in resolved_stages(".") if not any(s["update"])}
    assert {s["name"] for s in resolved_stages(".") if any(s["update"])} == {"code", "params"}
    # Snakemake's SLURM logs: .snakemake/slurm_logs/rule_<rule>/<slurm job id>.log
    logs = {p.stem: p.parent.name.removeprefix("rule_") for p in (cluster / ".snakemake/slurm_logs").glob("rule_*/*.log")}
    assert set(logs.values()) == rules and len(logs) == len(rules), sorted(set(logs.values()) ^ rules)
    records = _jobcomp_records(jobcomp, cluster)
    assert set(records) == set(logs), "every job the scheduler completed in this directory is one of the study's, and back"
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}
    assert all(r["ExitCode"] == "0:0" for r in records.values())


def test_summary_equals_the_local_runs(studies):
    local, cluster, env, jobcomp = studies
    a = json.loads((local / "reports/summary.json").read_text())
    b = json.loads((cluster / "reports/summary.json").read_text())
    assert a == b
    assert (local / "reports/summary.json").read_bytes() == (cluster / "reports/summary.json").read_bytes()


def test_dvc_status_is_clean_after_the_cluster_run(studies):
    local, cluster, env, jobcomp = studies
    out = subprocess.run(["dvc", "status", "-q"], cwd=cluster, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_every_stage_is_a_finished_mlflow_run(studies):
    import mlflow

    local, cluster, env, jobcomp = studies
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    exps = client.search_experiments()
    runs = [r for e in exps for r in client.search_runs([e.experiment_id], max_results=1000)]
    n_jobs = len(_jobcomp_records(jobcomp, cluster))
    # one run per job, besides the encoders' rows (the parents the stage runs of a study run nest under)
    stage_runs = [r for r in runs if r.data.tags.get("sslpipe.role") != "encoder"]
    assert len(stage_runs) == n_jobs
    assert {r.info.status for r in runs} == {"FINISHED"}
    # inside a SLURM job each stage sent its own journal as it ended (sync mode): none is left behind
    assert not list((cluster / ".cache" / "tracking").glob("*.jsonl"))
