"""The fidelity table: differences and rank correlations against the reference, and the choice of settings."""
import numpy as np
import pytest

from sslpipe.config import load
from sslpipe.fidelity import choose, compare, load_plan, markdown, paper_evaluate


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


def test_default_plan_compares_params_with_the_paper_preset():
    cfg = load()
    ref, settings, raw = load_plan(cfg, None)
    assert ref == "paper" and set(settings) == {"study", "paper"}
    assert settings["paper"].metrics["dci"].n_estimators == 100 and settings["paper"].embed.n_train == paper_evaluate()["embed"]["n_train"]
    assert raw["study"] == cfg.raw["evaluate"]
