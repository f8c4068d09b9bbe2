"""The fidelity table: differences and rank correlations against the reference, and the choice of settings."""
import numpy as np
import pytest

from sslpipe.config import load
from sslpipe.core.errors import ConfigError
from sslpipe.fidelity import changes, choose, compare, load_plan, markdown, paper_evaluate


def result():
    rng = np.random.default_rng(0)
    truth = np.linspace(0.1, 0.9, 8)
    runs = {}
    for i, t in enumerate(truth):
        values = {"ref": {"dci/disentanglement": t, "dci/disentanglement/se": 0.01, "betavae": t},
                  "cheap": {"dci/disentanglement": t + 0.1, "betavae": t + rng.normal(0, 0.005)},  # biased / close
                  "mid": {"dci/disentanglement": t + 0.01, "betavae": 0.5 + rng.normal(0, 0.3)}}  # close / shuffled
        seconds = {"ref": {"dci": 100.0, "betavae": 50.0}, "cheap": {"dci": 1.0, "betavae": 2.0}, "mid": {"dci": 10.0, "betavae": 5.0}}
        runs[f"d-m{i}"] = {"dataset": "d", "method": f"m{i}", "values": values, "seconds": seconds}
    return {"reference": "ref", "settings": {"ref": {}, "cheap": {}, "mid": {}}, "runs": runs}


def test_compare_reports_mad_and_spearman_against_the_reference():
    c = compare(result())
    assert set(c) == {"cheap", "mid"}
    assert c["cheap"]["dci/disentanglement"]["mad"] == pytest.approx(0.1)
    assert c["cheap"]["dci/disentanglement"]["spearman"] == pytest.approx(1.0)
    assert c["mid"]["betavae"]["spearman"] < 0.9
    assert c["mid"]["dci/disentanglement"]["reference_se"] == 0.01


def test_choose_takes_the_cheapest_setting_within_tolerance_per_metric():
    ch = choose(result())
    assert ch["dci"]["cheapest"] == "mid"  # cheap is 0.1 off
    assert ch["betavae"]["cheapest"] == "cheap"  # mid ranks the encoders differently
    assert "| `dci/disentanglement` |" in markdown(result())


def test_changes_lists_old_and_new_values_and_counts_the_rankings_that_moved():
    out = changes(result(), "ref", "mid")
    assert "| d-m0 | 0.100 → 0.460 | 0.100 → 0.110 |" in out  # betavae, dci/disentanglement (keys sorted)
    row = next(line for line in out.splitlines() if line.startswith("| d | `dci/disentanglement` |"))
    assert row.split("|")[3:6] == [" 8 ", " 1.00 ", " 0 "]  # a constant shift keeps the ranking
    shuffled = next(line for line in out.splitlines() if line.startswith("| d | `betavae` |"))
    assert int(shuffled.split("|")[5]) > 0
    with pytest.raises(ConfigError, match="cheap, mid"):
        changes(result(), "ref", "paper")


def test_changes_between_two_copies_of_a_studys_metrics_directory(tmp_path, capsys):
    from sslpipe.cli import main
    from sslpipe.core.io import write_json

    for name, shift in (("old", 0.0), ("new", 0.15)):
        for i, v in enumerate((0.2, 0.5, 0.4)):
            write_json(tmp_path / name / "dsprites" / f"m{i}.json", {"key": f"dsprites-m{i}", "metrics": {"mig": v + shift * i, "mig/se": 0.01}})
    assert main(["fidelity", "--changes", str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "| dsprites-m2 | 0.400 → 0.700 |" in out and "| dsprites | `mig` | 3 | 0.50 | 2 |" in out  # m1 and m2 swap
    assert main(["fidelity", "--changes", str(tmp_path / "old"), str(tmp_path / "empty")]) == 2  # a setting the (absent) results lack


def test_default_plan_compares_params_with_the_paper_preset():
    cfg = load()
    ref, settings, raw = load_plan(cfg, None)
    assert ref == "paper" and set(settings) == {"study", "paper"}
    assert settings["paper"].metrics["dci"].n_estimators == 100 and settings["paper"].embed.n_train == paper_evaluate()["embed"]["n_train"]
    assert raw["study"] == cfg.raw["evaluate"]


def test_run_evaluates_every_seed_of_a_run_from_its_own_model(tmp_path, monkeypatch):
    """Runs are found by their key and model path (``models/<dataset>/<run>``), so seeds are distinct encoders."""
    import torch
    import yaml

    from sslpipe.cli import main
    from sslpipe.fidelity import run
    from tests.conftest import tiny_toy_study

    raw = tiny_toy_study("fidelity-seeds")
    raw["study"]["sweeps"] = [{"dataset": "toy", "method": "random_init", "seeds": [0, 1]}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    small = {"embed": {"n_train": 60, "n_test": 30}, "metrics": raw["evaluate"]["metrics"]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({"reference": "ref", "settings": {"cheap": small, "ref": raw["evaluate"]}}))
    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        for cmd in (["init-tracking"], ["shard", "toy"], ["pretrain", "toy", "random_init"], ["pretrain", "toy", "random_init-s1"]):
            assert main(cmd) == 0, cmd
        result = run(load(), plan="plan.yaml", out="fidelity.json", metrics=["linear", "dci"])
    finally:
        torch.set_num_threads(threads)
    assert set(result["runs"]) == {"toy-random_init", "toy-random_init-s1"}
    a, b = (result["runs"][k]["values"]["ref"] for k in ("toy-random_init", "toy-random_init-s1"))
    assert result["runs"]["toy-random_init-s1"]["seed"] == 1 and a != b  # two initialisations, two encoders
    assert set(compare(result)["cheap"]) >= {"dci/disentanglement"}
    with pytest.raises(Exception, match="matches no run"):
        run(load(), plan="plan.yaml", out="fidelity.json", runs=["toy-nothing"])
