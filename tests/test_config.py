import copy

import pytest
import yaml

from sslpipe.cli import main
from sslpipe.config import from_raw, load_raw
from sslpipe.core.errors import ConfigError

RAW = load_raw("params.yaml")


def with_change(path: str, value):
    raw = copy.deepcopy(RAW)
    node = raw
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return raw


def test_default_params_validate():
    cfg = from_raw(copy.deepcopy(RAW))
    assert cfg.runs() and all(r.dataset in cfg.study.datasets for r in cfg.runs())


@pytest.mark.parametrize("path,value,key,words", [
    ("train.lr", -0.1, "train.lr", "must be > 0"),
    ("train.batch_size", 0, "train.batch_size", "must be > 0"),
    ("data.dsprites.resolution", 48, "data.dsprites.resolution", "not a supported resolution"),
    ("methods.beta_vae.beta", -1.0, "methods.beta_vae.beta", "must be >= 0"),
    ("train.optimizer", "adagrad", "train.optimizer", "must be one of"),
    ("train.lrr", 0.1, "train.lrr", "Did you mean 'lr'"),
    ("backbone.kind", "vgg", "backbone.kind", "unknown backbone"),
    ("study.name", "", "study.name", "must not be empty"),
    ("study.datasets", ["dsprites", "mnist"], "study.datasets", "unknown dataset 'mnist'"),
])
def test_bad_values_name_the_key_and_the_fix(path, value, key, words):
    with pytest.raises(ConfigError) as e:
        from_raw(with_change(path, value))
    assert e.value.key == key and words in str(e.value) and "Fix:" in str(e.value)


def _with_sweep(entry: dict) -> dict:
    raw = copy.deepcopy(RAW)
    raw["study"]["sweeps"].append(entry)
    return raw


def test_unknown_method_in_a_run_is_refused():
    with pytest.raises(ConfigError, match=r"unknown method 'simclar'. Did you mean 'simclr'"):
        from_raw(_with_sweep({"dataset": "dsprites", "method": "simclar", "seeds": [5]}))


def test_a_stale_run_table_is_refused_with_the_command_that_regenerates_it(tmp_path):
    import json

    from sslpipe.config import load
    from sslpipe.presets import write_runs

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(RAW))
    assert write_runs(params) and not write_runs(params)  # written, then current
    table = tmp_path / "workflow" / "runs.json"
    assert load(params).runs() and list(json.loads(table.read_text())["runs"]) == [r.key for r in load(params).runs()]
    raw = copy.deepcopy(RAW)
    raw["study"]["sweeps"][0]["seeds"] = raw["study"]["sweeps"][0]["seeds"] + [10]
    params.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"runs.json: is not the expansion of study.sweeps \(missing: dsprites-random_init-s10.*Fix: run `sslpipe runs --write`"):
        load(params)
    params.write_text(yaml.safe_dump(RAW))
    data = json.loads(table.read_text())
    data["runs"]["dsprites-simclr"]["seed"] = 3  # a hand edit of the generated table
    table.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"different: dsprites-simclr"):
        load(params)
    table.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"is not a run table.*sslpipe runs --write"):
        load(params)
    other = tmp_path / "other.yaml"  # another params file beside it: DVC reads params.yaml only, so it has no table
    other.write_text(yaml.safe_dump(raw))
    assert "dsprites-random_init-s10" in {r.key for r in load(other).runs()}  # not checked against params.yaml's table
    before = table.read_text()
    assert not write_runs(other) and table.read_text() == before


def test_an_old_run_table_in_params_yaml_is_refused_with_the_fix():
    raw = copy.deepcopy(RAW)
    raw["study"]["runs"] = {}
    with pytest.raises(ConfigError, match=r"study.runs: is no longer part of params.yaml.*Fix: run `sslpipe runs --write`"):
        from_raw(raw)


def test_bad_overrides_name_the_sweep_entry():
    with pytest.raises(ConfigError) as e:
        from_raw(_with_sweep({"dataset": "dsprites", "method": "beta_vae", "betaa": [1, 2]}))
    assert e.value.key.startswith("study.sweeps[") and e.value.key.endswith("].betaa") and "Did you mean 'beta'" in str(e.value)
    with pytest.raises(ConfigError, match="must be >= 0"):
        from_raw(_with_sweep({"dataset": "dsprites", "method": "beta_vae", "beta": [4, -1]}))
    with pytest.raises(ConfigError, match="backbone.kind.*unknown backbone"):
        from_raw(_with_sweep({"dataset": "dsprites", "method": "simclr", "backbone": {"kind": "vgg"}}))


def test_cli_reports_bad_params_with_exit_2_and_no_traceback(tmp_path, capsys):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(with_change("train.lr", -1)))
    assert main(["--params", str(p), "validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: params.yaml: train.lr: -1 must be > 0") and "Traceback" not in err


def test_cli_unknown_method_for_pretrain(tmp_path, capsys):
    assert main(["pretrain", "dsprites", "nosuchmethod"]) == 2
    assert "not a run of the study" in capsys.readouterr().err


def test_method_step_overrides_and_scale():
    raw = with_change("train.step_scale", 0.5)
    raw["methods"]["simclr"]["steps"] = 100
    cfg = from_raw(raw)
    assert cfg.method_train("simclr").steps == 50


def test_text_methods_train_their_epochs_on_one_thread_unscaled():
    raw = with_change("train.step_scale", 0.03)
    cfg = from_raw(raw)
    tc = cfg.method_train("skipgram", epoch_steps=lambda batch_size: 5 * 51200 // batch_size)
    assert (tc.steps, tc.batch_size, tc.threads, tc.lr) == (500, 512, 1, 0.02)  # the method's batch, lr and threads
    assert tc.warmup_steps == min(raw["train"]["warmup_steps"], 500 // 4)
    assert cfg.method_train("simclr").threads == raw["train"]["threads"]  # image methods keep train.threads
    raw["methods"]["skipgram"] = {"steps": 100, "threads": 2}
    tc = from_raw(raw).method_train("skipgram", epoch_steps=lambda batch_size: 10**6)
    assert (tc.steps, tc.threads) == (3, 2)  # explicit steps are a budget: step_scale applies


def test_a_text_method_on_an_image_dataset_is_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"study.sweeps\[\d+\]: method 'skipgram' cannot run on 'dsprites': .*method for text data and this dataset is image.*Fix"):
        from_raw(_with_sweep({"dataset": "dsprites", "method": "skipgram"}))
    with pytest.raises(ConfigError, match=r"method 'simclr' cannot run on 'grammar': .*method for image data and this dataset is text"):
        from_raw(_with_sweep({"dataset": "grammar", "method": "simclr"}))


def _departures(section: dict, defaults: dict, prefix: str) -> list[str]:
    """Keys of ``section`` whose value equals the default (they would only repeat the code)."""
    out = []
    for k, v in section.items():
        if isinstance(v, dict) and isinstance(defaults.get(k), dict):
            out += _departures(v, defaults[k], f"{prefix}.{k}")
        elif k in defaults and v == defaults[k]:
            out.append(f"{prefix}.{k}")
    return out


def test_params_yaml_holds_only_departures_for_methods_and_metrics():
    """Methods and metrics default to their papers' settings in code; params.yaml writes only what
    the study changes, so a value there can never be a stale copy of a default."""
    import dataclasses

    from sslpipe.evaluate.base import METRICS
    from sslpipe.methods.base import METHODS

    repeated = []
    for name, section in RAW["methods"].items():
        repeated += _departures(section or {}, dataclasses.asdict(METHODS.get(name).Params()), f"methods.{name}")
    for name, section in RAW["evaluate"].get("metrics", {}).items():
        repeated += _departures(section or {}, dataclasses.asdict(METRICS.get(name).Params()), f"evaluate.metrics.{name}")
    assert not repeated, f"params.yaml repeats code defaults: {repeated}"


def test_every_method_and_metric_default_validates():
    """Every registered Params dataclass builds from an empty section (its defaults pass its own checks)."""
    from sslpipe.core.schema import build
    from sslpipe.evaluate.base import METRICS
    from sslpipe.methods.base import METHODS

    for name in METHODS.names():
        build(METHODS.get(name).Params, {}, f"methods.{name}")
    for name in METRICS.names():
        build(METRICS.get(name).Params, {}, f"evaluate.metrics.{name}")


def test_unknown_metric_settings_are_refused():
    raw = copy.deepcopy(RAW)
    raw["evaluate"]["metrics"]["dcii"] = {"n_estimators": 5}
    with pytest.raises(ConfigError, match="unknown metric 'dcii'. Did you mean 'dci'"):
        from_raw(raw)
    raw = copy.deepcopy(RAW)
    raw["evaluate"]["metrics"]["dci"] = {"trees": 5}
    with pytest.raises(ConfigError, match="evaluate.metrics.dci.trees"):
        from_raw(raw)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_device_this_machine_lacks_is_refused_at_validation(monkeypatch, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError) as e:
        from_raw(with_change("train.device", device))
    assert e.value.key == "train.device" and "no" in e.value.problem and "Fix: set train.device: auto or cpu" in str(e.value)
    from_raw(with_change("train.device", "auto"))
    from_raw(with_change("train.device", "cpu"))
