"""Sweeps in params.yaml become exactly the expected runs: in the run table, in DVC's resolved stages
and in the Snakefile's rules; and changing one value of a sweep reruns only its runs and the report."""
import json
import re
import subprocess
import sys

import pytest
import yaml

from sslpipe.stages.base import COMMAND
from sslpipe.cli import main
from sslpipe.config import expand_sweeps, load
from sslpipe.core.errors import ConfigError
from sslpipe.core.paths import params_values
from tests.stages.conftest import ROOT, grid_copy, placeholder_outputs, set_grid, sh, stages, study_env

GRID = {"name": "grid", "seed": 0, "datasets": ["dsprites"], "sweeps": [
    {"dataset": "dsprites", "method": "random_init", "seeds": [0, 1]},
    {"dataset": "dsprites", "method": "beta_vae", "beta": [1, 4], "seeds": [0, 1]},
    {"dataset": "dsprites", "method": "dip_vae", "variant": "ii", "backbone": {"width": [16, 32]}},
]}
EXPECTED = {
    "dsprites-random_init": (0, {}),
    "dsprites-random_init-s1": (1, {}),
    "dsprites-beta_vae-beta1": (0, {"beta": 1}),
    "dsprites-beta_vae-beta1-s1": (1, {"beta": 1}),
    "dsprites-beta_vae-beta4": (0, {"beta": 4}),
    "dsprites-beta_vae-beta4-s1": (1, {"beta": 4}),
    "dsprites-dip_vae-variant_ii-width16": (0, {"variant": "ii", "backbone": {"width": 16}}),
    "dsprites-dip_vae-variant_ii-width32": (0, {"variant": "ii", "backbone": {"width": 32}}),
}


def test_a_grid_expands_to_its_cross_product_with_the_seeds():
    runs, origin = expand_sweeps(GRID)
    assert {k: (r["seed"], r["overrides"]) for k, r in runs.items()} == EXPECTED
    assert runs["dsprites-beta_vae-beta4-s1"] == {"dataset": "dsprites", "method": "beta_vae", "name": "beta_vae-beta4-s1",
                                                  "seed": 1, "variant": "beta4", "overrides": {"beta": 4}}
    assert origin["dsprites-dip_vae-variant_ii-width16"] == "study.sweeps[2]"


def test_a_plain_run_keeps_its_name_with_the_study_seed_and_seeds_come_from_the_study():
    runs, _ = expand_sweeps({"seed": 3, "seeds": [3, 4], "sweeps": [{"dataset": "digits", "method": ["simclr", "byol"]}]})
    assert list(runs) == ["digits-simclr", "digits-simclr-s4", "digits-byol", "digits-byol-s4"]
    assert runs["digits-simclr"]["name"] == "simclr" and runs["digits-simclr"]["seed"] == 3


def test_value_labels_are_readable_and_free_of_separators():
    runs, _ = expand_sweeps({"seed": 0, "sweeps": [{"dataset": "d", "method": "m", "lr": [0.0003], "scale": [[0.7, 1.4]],
                                                    "bank": [True, False], "decoder": "gaussian"}]})
    assert list(runs) == ["d-m-lr0p0003-scale0p7_1p4-bank-decoder_gaussian", "d-m-lr0p0003-scale0p7_1p4-no_bank-decoder_gaussian"]


@pytest.mark.parametrize("sweeps,key,words", [
    ([{"dataset": "d"}], "study.sweeps[0]", "must be a mapping with dataset and method"),
    ([{"dataset": "d", "method": "m", "seeds": [0, 0]}], "study.sweeps[0].seeds", "distinct"),
    ([{"dataset": "d", "method": "m", "beta": []}], "study.sweeps[0].beta", "empty sweep"),
    ([{"dataset": "d", "method": "m", "kind": "a b"}], "study.sweeps[0]", "cannot be part of a run name"),
    ([{"dataset": "d", "method": "m"}, {"dataset": "d", "method": ["x", "m"]}], "study.sweeps[1]", "repeats run d-m of study.sweeps[0]"),
    ([], "study.sweeps", "is missing or empty"),
])
def test_bad_sweeps_name_the_entry_and_the_fix(sweeps, key, words):
    with pytest.raises(ConfigError) as e:
        expand_sweeps({"seed": 0, "sweeps": sweeps})
    assert e.value.key == key and words in str(e.value) and "Fix:" in str(e.value)


def test_runs_write_converts_an_old_run_table_and_keeps_comments(tmp_path, capsys):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    old = {"dsprites-random_init": {"dataset": "dsprites", "method": "random_init"}, "dsprites-simclr": {"dataset": "dsprites", "method": "simclr"}}
    text = (ROOT / "params.yaml").read_text()
    study = f"study:\n  name: old  # a comment\n  seed: 0\n  datasets: [dsprites]\n  runs: {json.dumps(old)}\n"
    p = tmp_path / "params.yaml"
    p.write_text(study + text[text.index("\ndata:\n"):])
    assert main(["--params", str(p), "validate"]) == 2
    assert "study.runs: is no longer part of params.yaml" in capsys.readouterr().err  # the fix: runs --write
    assert main(["--params", str(p), "runs", "--check"]) == 2  # no run table yet
    assert main(["--params", str(p), "runs", "--write"]) == 0
    cfg = load(p)
    assert [r.key for r in cfg.runs()] == list(old) and "# a comment" in p.read_text()
    assert "runs" not in yaml.safe_load(p.read_text())["study"]  # moved out of params.yaml
    table = json.loads((tmp_path / "workflow" / "runs.json").read_text())["runs"]
    assert table == {k: {"dataset": "dsprites", "method": v["method"], "name": v["method"], "seed": 0, "variant": "", "overrides": {}} for k, v in old.items()}
    assert main(["--params", str(p), "runs", "--check"]) == 0
    assert "runs" not in raw["study"]  # the committed params.yaml holds only the sweeps
    capsys.readouterr()
    assert main(["--params", str(p), "runs"]) == 0
    assert capsys.readouterr().out.split() == ["dsprites-random_init", "seed=0", "dsprites-simclr", "seed=0"]


def test_the_committed_run_table_is_current_and_random_init_has_three_seeds():
    assert main(["--params", str(ROOT / "params.yaml"), "runs", "--check"]) == 0
    cfg = load(ROOT / "params.yaml")  # fails when workflow/runs.json is stale
    for ds in cfg.study.datasets:
        assert len([r for r in cfg.runs() if r.dataset == ds and r.method == "random_init"]) >= 3


# --- the runners see the same runs -----------------------------------------------------------
@pytest.fixture(scope="module")
def grid_study(tmp_path_factory):
    return grid_copy(tmp_path_factory.mktemp("sweeps"), GRID)


@pytest.mark.slow
def test_dvc_and_snakemake_see_exactly_the_expanded_runs(grid_study):
    dest = grid_study
    names = {s["name"] for s in stages(dest)}
    expected = {"code", "params", "shard@dsprites", "report"} | {f"{st}@{k}" for k in EXPECTED for st in ("pretrain", "evaluate")}
    assert names == expected
    out = sh([sys.executable, "-m", "snakemake", "-s", "workflow/Snakefile", "-n", "--forceall"], dest)
    rules = {m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):", out, re.M)} - {"all"}
    assert rules == {n.replace("@", "__").replace("-", "_") for n in expected}
    stage = next(s for s in stages(dest) if s["name"] == "pretrain@dsprites-dip_vae-variant_ii-width16")
    assert stage["cmd"] == f"{COMMAND} pretrain dsprites dip_vae-variant_ii-width16"
    sh([sys.executable, "-m", "sslpipe", "params"], dest)
    assert str(params_values("pretrain", "dsprites-dip_vae-variant_ii-width16")) in stage["deps"]
    values = json.loads((dest / params_values("pretrain", "dsprites-dip_vae-variant_ii-width16")).read_text())["params"]
    assert values["runs.dsprites-dip_vae-variant_ii-width16"]["overrides"] == {"variant": "ii", "backbone": {"width": 16}}
    assert "models/dsprites/dip_vae-variant_ii-width16/model.pt" in stage["outs"]


@pytest.mark.slow
def test_changing_one_value_of_a_sweep_reruns_only_its_runs_and_the_report(grid_study):
    dest = grid_study
    placeholder_outputs(dest)
    sh(["dvc", "commit", "-f", "-q"], dest)
    assert "up to date" in sh(["dvc", "status"], dest)
    grid = json.loads(json.dumps(GRID))
    grid["sweeps"][1]["beta"] = [1, 8]  # beta 4 -> 8: its two seeds change, nothing else
    set_grid(dest, grid)
    changed = set(json.loads(sh(["dvc", "status", "--json"], dest)))
    new = {f"{st}@dsprites-beta_vae-beta8{s}" for st in ("pretrain", "evaluate") for s in ("", "-s1")}
    assert changed == new | {"params"}  # the new runs' stages, and the values not remade yet
    sh(["dvc", "repro", "params"], dest)
    changed = set(json.loads(sh(["dvc", "status", "--json"], dest)))
    assert changed == new | {"report"}
    # a dry run stops at the new runs' evaluate stages (their models do not exist in a dry run): -k goes on
    dry = subprocess.run(["dvc", "repro", "--dry", "-k"], cwd=dest, env=study_env(dest), capture_output=True, text=True)
    out = dry.stdout + dry.stderr
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {f"pretrain@dsprites-beta_vae-beta8{s}" for s in ("", "-s1")}, out
    failed = set(re.findall(r"'([^']+@[^']+)'", out.split("failed to reproduce", 1)[1])) if "failed to reproduce" in out else set()
    assert failed <= new, out
