import numpy as np

from sslpipe.report import comparisons, rank_correlation, summary_markdown


def rows():
    return [
        {"dataset": "dsprites", "method": "random_init", "family": "baseline", "metrics": {"linear/shape": 0.5, "mig": 0.05, "a": 1.0}},
        {"dataset": "dsprites", "method": "beta_vae", "family": "generative", "metrics": {"linear/shape": 0.8, "mig": 0.2, "a": 2.0}},
        {"dataset": "dsprites", "method": "rotation", "family": "pretext", "metrics": {"linear/shape": 0.4, "mig": 0.01, "a": 3.0}},
        {"dataset": "digits", "method": "random_init", "family": "baseline", "metrics": {"linear/digit": 0.9, "a": 0.0}},
        {"dataset": "digits", "method": "simclr", "family": "contrastive", "metrics": {"linear/digit": 0.95, "a": 5.0}},
    ]


def test_each_method_is_compared_with_random_init_on_its_dataset():
    c = {(x["dataset"], x["method"]): x for x in comparisons(rows())}
    assert set(c) == {("dsprites", "beta_vae"), ("dsprites", "rotation"), ("digits", "simclr")}
    assert c["dsprites", "beta_vae"]["beats_baseline"] and c["dsprites", "beta_vae"]["mig_baseline"] == 0.05
    assert not c["dsprites", "rotation"]["beats_baseline"]
    assert c["digits", "simclr"]["metric"] == "linear/digit"


def test_summary_reports_losers_instead_of_hiding_them():
    md = summary_markdown(rows(), notes={"rotation": "tried lr 1e-3 and 3e-4"})
    assert "| dsprites | rotation | linear/shape | 0.400 | 0.500 | **no** |" in md
    assert "do not beat random_init" in md and "dsprites/rotation" in md and "tried lr" in md


def test_rank_correlation_is_spearman_over_encoders():
    keys, corr = rank_correlation(rows())
    assert keys == ["a"]  # the only metric every encoder has
    r = rows() * 1
    for x, v in zip(r, [1, 2, 3, 4, 5]):
        x["metrics"] = {"m1": float(v), "m2": float(v) ** 3, "m3": -float(v)}
    keys, corr = rank_correlation(r)
    assert keys == ["m1", "m2", "m3"]
    assert np.allclose(corr, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])


def test_losers_are_reported_with_what_was_tried():
    from sslpipe.report import training_notes

    r = rows()
    r[2]["training"] = {"steps": 200, "first_loss": 1.386, "last_loss": 0.42}
    md = summary_markdown(r, training_notes(r))
    assert "- dsprites/rotation: trained 200 steps, training loss 1.386 -> 0.42" in md
    assert "dsprites/beta_vae:" not in md  # winners need no excuse


def test_losers_without_training_curve_say_how_they_were_fitted():
    from sslpipe.report import training_notes

    r = rows()
    r[2]["method"], r[2]["training"] = "kmeans", None
    md = summary_markdown(r, training_notes(r, {"kmeans": "k-means as an encoder-decoder."}))
    assert "- dsprites/kmeans: no gradient training: k-means as an encoder-decoder; fitted on the training shards" in md


def test_every_method_has_a_one_line_description_for_the_summary():
    from sslpipe.methods.base import METHODS
    from sslpipe.stages.report import method_descriptions

    names = METHODS.names()
    described = method_descriptions([{"method": n} for n in names])
    assert all(len(described[n]) > 20 for n in names), {n: d for n, d in described.items() if len(d) <= 20}


def test_cells_show_the_standard_error_and_rank_correlation_ignores_it():
    r = rows()
    r[1]["metrics"] |= {"linear/shape/se": 0.0123, "mig/se": 0.004, "mig/ci_low": 0.19, "mig/ci_high": 0.21}
    md = summary_markdown(r)
    assert "| beta_vae | generative | 0.800 ± 0.012 | 0.200 ± 0.004 |" in md
    assert "| rotation | pretext | 0.400 | 0.010 |" in md  # no se: the value alone
    for x in r:
        x["metrics"] = {"m1": float(len(x["method"])), "m1/se": 0.1, "m1/ci_low": 0.0, "m1/ci_high": 1.0}
    assert rank_correlation(r)[0] == ["m1"]
