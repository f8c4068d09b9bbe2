"""dvc.yaml is what the stage declarations generate, and workflow/Snakefile runs the same graph."""
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.dependency.param import ParamsDependency

from sslpipe.config import load
from sslpipe.core.paths import params_values
from sslpipe.stages import STAGES
from sslpipe.stages.code import fingerprints, fingerprints_of, read_index
from sslpipe.stages.graph import is_current

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow"))
from dvcgraph import resolved_stages  # noqa: E402


@pytest.fixture(scope="module")
def dvc_stages():
    return {s["name"]: s for s in resolved_stages(str(ROOT))}


def test_dvc_yaml_is_generated_from_the_declarations():
    assert is_current(ROOT / "dvc.yaml"), "dvc.yaml is stale: run `sslpipe graph --write`"


def test_every_resolved_stage_has_its_declared_command_keys_deps_and_outs(dvc_stages):
    cfg = load(ROOT / "params.yaml")
    items = {"code": [{}], "params": [{}], "shard": [{"dataset": d} for d in cfg.study.datasets], "report": [{}]}
    items |= {s: [r.item for r in cfg.runs()] for s in ("pretrain", "evaluate")}
    expected = {}
    for name, stage in STAGES.items():
        for item in items[name]:
            key = name + ("@" + "-".join(item[a] for a in stage.args) if item else "")
            expected[key] = stage, item
    assert set(dvc_stages) == set(expected)
    for key, (stage, item) in expected.items():
        s = dvc_stages[key]
        assert s["cmd"] == stage.fill(stage.cmd, **item)
        # the code and params stages' output directories reach Snakemake as the files the other stages read
        declared = stage.out_paths(**item)
        assert {next(d for d in declared if o == d or o.startswith(d + "/")) for o in s["outs"]} == set(declared)
        assert all(u == (o not in declared) for o, u in zip(s["outs"], s["update"]))
        assert set(stage.dep_paths(**item)) <= set(s["deps"] + s["sources"]) | {"metrics"}
        if stage.name == "code":  # the only stage that depends on the source itself
            assert s["sources"] == list(stage.code) and not s["deps"]
        elif stage.name == "params":  # run before Snakemake plans, like the code stage
            assert s["sources"] == [".cache/code/index.txt"] and not s["deps"]
        else:  # its code and parameters: one values file, its last dependency
            assert not s["sources"] and not any(d.startswith(".cache/code") for d in s["deps"])
            assert s["deps"][-1] == str(params_values(stage.name, item.get("key", item.get("dataset", ""))))


def test_a_stage_depends_on_its_parameters_only_through_its_values_file(tmp_path):
    """Only the params stage declares DVC parameters (both files whole); every other stage's values
    file holds exactly its declared keys, with the values of params.yaml and the run table, and the
    sha256 of the fingerprints of its code."""
    from dvc.repo import Repo

    from sslpipe.stages.params import items, read_sources, values_files

    with Repo(str(ROOT)) as repo:
        declared = {s.addressing: {str(d.def_path): d.params for d in s.deps if isinstance(d, ParamsDependency)}
                    for s in repo.index.stages if getattr(s, "cmd", None)}
    assert declared.pop("params") == {"params.yaml": [], "workflow/runs.json": []}
    assert not any(declared.values())
    raw, table = read_sources(ROOT / "params.yaml", ROOT / "workflow/runs.json")
    prints = fingerprints(STAGES.values())
    index = prints.pop(Path(".cache/code/index.txt"))
    digest = {str(p): hashlib.sha256(t.encode()).hexdigest() for p, t in prints.items()}
    (tmp_path / "index.txt").write_text(index)
    assert read_index(tmp_path / "index.txt") == digest  # the index as the params stage reads it
    files = values_files(STAGES.values(), raw, table, digest)
    work = [s for s in STAGES.values() if s.name not in ("code", "params")]
    for stage in work:
        for ident, item in items(stage, raw, table):
            doc = json.loads(files[params_values(stage.name, ident)])
            assert doc["stage"] == stage.name + (f"@{ident}" if ident else "") and list(doc["params"]) == sorted(stage.param_keys(**item))
            assert doc["code"] == {f: digest[f] for f in fingerprints_of(stage, item.get("method", ""))}
    pretrain = json.loads(files[params_values("pretrain", "dsprites-simclr")])
    simclr = pretrain["params"]
    assert simclr["runs.dsprites-simclr"] == table["runs"]["dsprites-simclr"] and simclr["train"] == raw["train"]
    assert simclr["methods.simclr"] == raw["methods"]["simclr"]
    assert set(pretrain["code"]) == {".cache/code/pretrain.txt", ".cache/code/method/simclr.txt"}
    assert len(files) == sum(len(items(s, raw, table)) for s in work)


def test_a_stage_depends_on_its_code_only_through_its_values_file(dvc_stages):
    """No stage but code depends on the package's source; only the params stage reads the code
    stage's output (its index), and every other stage one values file and its data."""
    assert dvc_stages["code"]["outs"] == [".cache/code/index.txt"] and dvc_stages["code"]["update"] == [True]
    # the Snakefile runs the stages with per-file outputs before it plans, in this order: params reads code's index
    assert [name for name, s in dvc_stages.items() if any(s["update"])] == ["code", "params"]
    for name, s in dvc_stages.items():
        if name != "code":
            assert not any(d.startswith("sslpipe") for d in s["deps"]), name
            assert not any(d.startswith(".cache/code") for d in s["deps"] + s["sources"]) or name == "params", name
    assert dvc_stages["pretrain@dsprites-simclr"]["deps"] == ["data/shards/dsprites", ".cache/params/pretrain/dsprites-simclr.json"]
    assert dvc_stages["evaluate@dsprites-simclr"]["deps"] == [
        "data/shards/dsprites", "models/dsprites/simclr/model.pt", "logs/dsprites/simclr/train.csv", ".cache/params/evaluate/dsprites-simclr.json"]


def _dvc_edges():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        g = repo.index.graph
        return {(b.addressing, a.addressing) for a, b in g.edges if getattr(a, "cmd", None) and getattr(b, "cmd", None)}


def _snakemake_jobs():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", "workflow/Snakefile", "-n", "-p", "--forceall"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    jobs = {}
    for block in re.split(r"\n(?=rule |localrule )", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m or m.group(1) == "all":
            continue
        # a path is printed with its flags, e.g. "x.txt (update)"
        field = lambda k: [re.sub(r" \(\w+\)$", "", x.strip()) for x in re.search(rf"    {k}: (.*)", block).group(1).split(",")] if f"    {k}:" in block else []  # noqa: E731
        cmd = re.search(r"Shell command: (.*)", block)
        jobs[m.group(1)] = {"input": set(field("input")), "output": set(field("output")), "cmd": cmd.group(1).strip() if cmd else None}
    return jobs


def test_snakemake_runs_the_same_graph_as_dvc(dvc_stages):
    jobs = _snakemake_jobs()
    by_rule = {s["rule"]: s for s in dvc_stages.values()}
    assert set(jobs) == set(by_rule)
    for rule, job in jobs.items():
        s = by_rule[rule]
        assert job["cmd"] == s["cmd"]
        assert job["output"] == set(s["outs"])
    # the edges: a rule consumes another's outputs exactly where DVC links the two stages
    owner = {o: by_rule[r]["name"] for r, j in jobs.items() for o in j["output"]}
    smk_edges = {(owner[i], by_rule[r]["name"]) for r, j in jobs.items() for i in j["input"] if i in owner}
    # the params stage runs before Snakemake plans (as the code stage does): its edge from code is DVC's alone
    assert smk_edges == _dvc_edges() - {("code", "params")}


def test_snakemakes_closing_dvc_commit_leaves_the_outputs_timestamps(tmp_path):
    """After a Snakemake run, `snakemake -n` has nothing to do although the Snakefile's ``onsuccess``
    records the results with `dvc commit`: a relinking commit would rewrite every output file with
    a new mtime, and inputs over Snakemake's checksum limit (1 MB) would then look updated."""
    onsuccess = re.search(r'onsuccess:\n(?:\s*#.*\n)*\s*(shell\(.*\))', (ROOT / "workflow/Snakefile").read_text()).group(1)
    write = "python -c \\\"open('{0}','w').write('{1}')\\\""
    (tmp_path / "Snakefile").write_text(f'''rule all:
    input: "plots", "m.json"
onsuccess:
    shell("sleep 1.1")
    {onsuccess}
rule embed:
    output: "emb.npz"
    shell: "{write.format('emb.npz', "e' * 2000000 + '")}"
rule evaluate:
    input: "emb.npz"
    output: directory("plots"), "m.json"
    shell: "mkdir -p plots && {write.format('plots/p.png', 'p')} && {write.format('m.json', 'm')}"
''')
    (tmp_path / "dvc.yaml").write_text("""stages:
  embed: {cmd: 'true', outs: [{emb.npz: {persist: true}}]}
  evaluate: {cmd: 'true', deps: [emb.npz], outs: [{plots: {persist: true}}, {m.json: {persist: true}}]}
""")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = lambda *cmd: subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout  # noqa: E731
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run(sys.executable, "-m", "snakemake", "--cores", "1", "-q")
    assert "up to date" in run("dvc", "status")
    assert "Nothing to be done" in run(sys.executable, "-m", "snakemake", "-n")
