"""The params stage writes each stage's declared values and code hashes, and rewrites exactly the files an edit changes."""
import json
import os

import pytest
import yaml

from sslpipe.core.errors import ConfigError
from sslpipe.core.paths import CODE_INDEX, PARAMS_DIR, params_values
from sslpipe.stages import STAGES
from sslpipe.stages.code import write_fingerprints
from sslpipe.stages.params import write_values

RAW = {
    "study": {"name": "p", "seed": 0, "datasets": ["dsprites", "digits"]},
    "data": {"dsprites": {"n_train": 100}, "digits": {"n_train": 50}},
    "backbone": {"width": 8},
    "train": {"steps": 5},
    "methods": {"simclr": {"temperature": 0.5}, "vae": {}},
    "evaluate": {"bootstrap": 10},
    "report": {"projection": "pca"},
}
RUNS = {"runs": {
    "dsprites-simclr": {"dataset": "dsprites", "method": "simclr", "name": "simclr", "seed": 0, "variant": "", "overrides": {}},
    "dsprites-vae": {"dataset": "dsprites", "method": "vae", "name": "vae", "seed": 0, "variant": "", "overrides": {}},
    "digits-simclr": {"dataset": "digits", "method": "simclr", "name": "simclr", "seed": 0, "variant": "", "overrides": {}},
}}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workflow").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(RAW))
    (tmp_path / "workflow/runs.json").write_text(json.dumps(RUNS))
    write_fingerprints(STAGES.values())  # the code stage's, from the package's source
    return tmp_path


def _edit(path, edit):
    raw = yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw) if path.suffix == ".yaml" else json.dumps(raw))


def _written(study):
    return {p.relative_to(PARAMS_DIR).as_posix() for p in write_values(STAGES.values())}


def test_every_stage_instance_gets_its_values_and_an_unchanged_study_rewrites_nothing(study):
    first = _written(study)
    assert first == {"shard/dsprites.json", "shard/digits.json", "report.json"} | {
        f"{st}/{k}.json" for st in ("pretrain", "evaluate") for k in RUNS["runs"]}
    doc = json.loads(params_values("pretrain", "dsprites-simclr").read_text())
    assert doc["stage"] == "pretrain@dsprites-simclr"
    assert doc["params"]["methods.simclr"] == {"temperature": 0.5} and doc["params"]["train"] == {"steps": 5}
    assert doc["params"]["runs.dsprites-simclr"] == RUNS["runs"]["dsprites-simclr"]
    assert set(doc["code"]) == {".cache/code/pretrain.txt", ".cache/code/method/simclr.txt"} and all(doc["code"].values())
    times = {p: p.stat().st_mtime_ns for p in PARAMS_DIR.rglob("*.json")}
    assert _written(study) == set()
    assert {p: p.stat().st_mtime_ns for p in PARAMS_DIR.rglob("*.json")} == times  # Snakemake reruns by time


def test_an_edit_rewrites_exactly_the_files_of_the_stages_that_read_it(study):
    _written(study)
    _edit(study / "params.yaml", lambda raw: raw["methods"]["simclr"].update(temperature=0.2))
    # (evaluate reads no method parameters: it reruns because the model it depends on changes)
    assert _written(study) == {"pretrain/dsprites-simclr.json", "pretrain/digits-simclr.json"}
    _edit(study / "params.yaml", lambda raw: raw["evaluate"].update(bootstrap=20))
    assert _written(study) == {f"evaluate/{k}.json" for k in RUNS["runs"]}
    _edit(study / "params.yaml", lambda raw: raw["data"]["digits"].update(n_train=60))
    assert _written(study) == {"shard/digits.json"}
    _edit(study / "params.yaml", lambda raw: raw["study"].update(seed=1))  # the data seed: every shard
    assert _written(study) == {"shard/dsprites.json", "shard/digits.json"}
    _edit(study / "workflow/runs.json", lambda t: t["runs"]["dsprites-vae"].update(seed=3))  # one run's entry (the report reads them all)
    assert _written(study) == {"pretrain/dsprites-vae.json", "evaluate/dsprites-vae.json", "report.json"}


def test_a_changed_code_fingerprint_rewrites_exactly_the_files_of_the_stages_it_covers(study):
    """The code stage's index is the one code input: a method's fingerprint reaches its runs' pretrain
    and evaluate values; a stage's own fingerprint every instance of that stage."""
    _written(study)
    lines = CODE_INDEX.read_text().splitlines()

    def change(name):
        CODE_INDEX.write_text("\n".join("0" * 64 + "  " + name if line.endswith("  " + name) else line for line in lines) + "\n")

    change(".cache/code/method/vae.txt")
    assert _written(study) == {"pretrain/dsprites-vae.json", "evaluate/dsprites-vae.json"}
    assert json.loads(params_values("evaluate", "dsprites-vae").read_text())["code"][".cache/code/method/vae.txt"] == "0" * 64
    change(".cache/code/shard.txt")
    assert _written(study) == {"shard/dsprites.json", "shard/digits.json", "pretrain/dsprites-vae.json", "evaluate/dsprites-vae.json"}
    CODE_INDEX.unlink()
    with pytest.raises(ConfigError, match=r"(?s)index.txt: is missing.*run `sslpipe code` first"):
        _written(study)


def test_a_removed_run_loses_its_files_and_a_missing_key_is_null(study):
    _written(study)
    _edit(study / "workflow/runs.json", lambda t: t["runs"].pop("digits-simclr"))
    _edit(study / "params.yaml", lambda raw: raw["methods"].pop("vae"))
    assert _written(study) == {"pretrain/dsprites-vae.json", "report.json"}
    assert not params_values("pretrain", "digits-simclr").exists() and not params_values("evaluate", "digits-simclr").exists()
    # the stage itself refuses the incomplete params.yaml when it runs (config validation names the key)
    assert json.loads(params_values("pretrain", "dsprites-vae").read_text())["params"]["methods.vae"] is None


def test_unreadable_params_stop_with_the_file_and_the_fix(study):
    (study / "params.yaml").write_text("study: [unclosed\n")
    with pytest.raises(ConfigError, match=r"(?s)params.yaml: is not valid YAML.*Fix: fix the YAML syntax"):
        write_values(STAGES.values())
    (study / "params.yaml").write_text(yaml.safe_dump(RAW))
    (study / "workflow/runs.json").write_text("{")
    with pytest.raises(ConfigError, match=r"(?s)runs.json: is not valid JSON.*sslpipe runs --write"):
        write_values(STAGES.values())
    os.remove(study / "params.yaml")
    with pytest.raises(ConfigError, match="params.yaml: file not found"):
        write_values(STAGES.values())
