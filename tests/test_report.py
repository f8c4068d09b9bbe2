import numpy as np
import pytest

from sslpipe.report import (architecture_table, cell, collapse, comparisons, group_rows, rank_correlation, study_figures,
                            summary_markdown, training_notes)
from sslpipe.stats import fdr_adjust

CONV = {"kind": "conv", "width": 32, "depth": 3, "code_dim": 10}


def run(dataset, method, seed, metrics, variant="", overrides=None, family="", backbone=None, training=None):
    name = "-".join([method] + ([variant] if variant else []) + ([f"s{seed}"] if seed else []))
    return {"key": f"{dataset}-{name}", "dataset": dataset, "method": method, "run": name, "seed": seed, "variant": variant,
            "overrides": overrides or {}, "backbone": backbone or CONV, "family": family, "metrics": metrics, "training": training}


def rows():
    """random_init and simclr separated over 3 seeds, rotation indistinguishable from random_init, beta_vae with one seed."""
    out = []
    for s, (ri, sc, rot) in enumerate([(0.37, 0.44, 0.37), (0.35, 0.45, 0.36), (0.39, 0.46, 0.38)]):
        out.append(run("dsprites", "random_init", s, {"linear/shape": ri, "mig": 0.01 * (s + 1), "a": 1.0 + s}, family="baseline"))
        out.append(run("dsprites", "simclr", s, {"linear/shape": sc, "mig": 0.02, "a": 2.0 + s}, family="contrastive"))
        out.append(run("dsprites", "rotation", s, {"linear/shape": rot, "mig": 0.01, "a": 3.0 + s}, family="pretext",
                       training={"steps": 200, "first_loss": 1.386, "last_loss": 0.42}))
    out.append(run("dsprites", "beta_vae", 0, {"linear/shape": 0.45, "mig": 0.05, "a": 2.0}, family="generative",
                   training={"steps": 450, "first_loss": 500.0, "last_loss": 80.0, "active_units": 9.0, "kl": 4.2}))
    out.append(run("digits", "random_init", 0, {"linear/digit": 0.7}, family="baseline"))
    out.append(run("digits", "simclr", 0, {"linear/digit": 0.9}, family="contrastive"))
    return out


def test_runs_of_a_method_form_one_group_over_seeds():
    g = {(x["dataset"], x["method"]): x for x in group_rows(rows())}
    assert g["dsprites", "simclr"]["n"] == 3 and g["dsprites", "simclr"]["seeds"] == [0, 1, 2]
    s = g["dsprites", "simclr"]["metrics"]["linear/shape"]
    assert s["mean"] == np.float64(0.45) and round(s["sd"], 6) == 0.01 and s["ci95"][0] < 0.45 < s["ci95"][1]
    assert g["dsprites", "beta_vae"]["metrics"]["linear/shape"]["sd"] is None


def test_each_group_is_compared_with_random_init_across_seeds():
    c = {(x["dataset"], x["method"]): x for x in comparisons(group_rows(rows()))}
    assert set(c) == {("dsprites", "simclr"), ("dsprites", "rotation"), ("dsprites", "beta_vae"), ("digits", "simclr")}
    assert c["dsprites", "simclr"]["verdict"] == "yes" and c["dsprites", "simclr"]["test"] == "Welch t"
    assert c["dsprites", "rotation"]["verdict"] == "not significant" and not c["dsprites", "rotation"]["beats_baseline"]
    assert c["dsprites", "beta_vae"]["test"] == "Student t (1 seed)"  # judged against random_init's seed spread
    assert c["digits", "simclr"]["verdict"] == "cannot claim" and c["digits", "simclr"]["metric"] == "linear/digit"
    # q: the Benjamini-Hochberg adjustment over the rows that have a test (here three)
    tested = [x for x in c.values() if x["p"] is not None]
    assert len(tested) == 3 and c["digits", "simclr"]["q"] is None
    assert [x["q"] for x in tested] == pytest.approx(fdr_adjust([x["p"] for x in tested]))
    assert all(x["q"] >= x["p"] for x in tested)
    assert c["dsprites", "simclr"]["beats_baseline_fdr"] == (c["dsprites", "simclr"]["q"] < 0.05) and not c["dsprites", "rotation"]["beats_baseline_fdr"]


def test_word_embeddings_are_judged_on_their_part_of_speech_probe():
    """The grammar corpus has no linear/ keys: its words' linear probe on part of speech is the headline."""
    r = rows()
    for s, (ri, sg) in enumerate([(0.49, 0.97), (0.45, 0.96), (0.53, 0.98)]):
        r.append(run("grammar", "random_init", s, {"probe/pos": ri, "probe/category": 0.1, "token_probe/pos": 0.8, "analogy/add": 0.0}))
        r.append(run("grammar", "skipgram", s, {"probe/pos": sg, "probe/category": 0.9, "token_probe/pos": 0.9, "analogy/add": 0.4}))
    c = {(x["dataset"], x["method"]): x for x in comparisons(group_rows(r))}
    assert c["grammar", "skipgram"]["metric"] == "probe/pos" and c["grammar", "skipgram"]["verdict"] == "yes"
    assert "| grammar | skipgram | – | probe/pos |" in summary_markdown(r)


def test_a_method_with_another_backbone_is_judged_against_random_init_with_that_backbone():
    wide = {"backbone": {"width": 64}}
    r = rows() + [run("dsprites", "random_init", s, {"linear/shape": 0.5 + 0.01 * s}, "width64", wide, backbone=CONV | {"width": 64}) for s in range(3)]
    r += [run("dsprites", "rotation", s, {"linear/shape": 0.5 + 0.01 * s}, "width64", wide, backbone=CONV | {"width": 64}) for s in range(3)]
    c = {(x["method"], x["variant"]): x for x in comparisons(group_rows(r))}
    assert c["rotation", "width64"]["baseline"] == "random_init [width64]" and c["rotation", "width64"]["verdict"] == "not significant"
    assert c["rotation", ""]["baseline"] == "random_init"


def test_summary_states_each_verdict_with_its_evidence_and_what_was_tried():
    r = rows()
    md = summary_markdown(r, training_notes(r))
    simclr = next(line for line in md.splitlines() if line.startswith("| dsprites | simclr | – | linear/shape |"))
    assert "0.450 ± 0.010 (3)" in simclr and "0.370 ± 0.020 (3)" in simclr and "+0.080 [" in simclr and "Welch t" in simclr and "**yes**" in simclr
    assert "| digits | simclr | – | linear/digit | 0.900 (1) | 0.700 (1) | +0.200 | – | – | – | cannot claim (1 seed each) |" in md
    assert "- dsprites/rotation (not significant; seeds 0, 1, 2): trained 200 steps, training loss 1.386 -> 0.42" in md
    assert "dsprites/simclr (" not in md  # winners need no excuse
    assert "Of these, 1 of 1 hold with the false discovery rate over the table's 4 tests held at 5% (q < 0.05)." in md
    assert "| simclr | – | contrastive | 0, 1, 2 | 0.450 ± 0.010<br><sub>[" in md  # the per-dataset table: mean ± sd and the CI


def test_cell_formats_one_seed_and_a_spread():
    assert cell({"n": 1, "mean": 0.5, "sd": None, "ci95": None}) == "0.500"
    assert cell({"n": 3, "mean": 0.5, "sd": 0.01, "ci95": [0.475, 0.525]}) == "0.500 ± 0.010<br><sub>[0.475, 0.525]</sub>"
    assert cell(None) == "–"


def test_collapsed_runs_are_surfaced():
    r = rows()
    r.append(run("dsprites", "beta_vae", 1, {"linear/shape": 0.33}, training={"steps": 450, "first_loss": 500, "last_loss": 300, "active_units": 0.0, "kl": 0.004}))
    c = collapse(r)
    assert [(x["seed"], x["collapsed"]) for x in c] == [(0, False), (1, True)]
    md = summary_markdown(r)
    assert "s1: 0.0 **collapsed**" in md and "Collapsed runs: dsprites-beta_vae-s1." in md
    assert "No run collapsed" in summary_markdown(rows())


def test_method_by_architecture_table_marks_the_best_backbone():
    r = []
    for kind in ("conv", "resnet"):
        for w in (16, 32):
            bb, over = CONV | {"kind": kind, "width": w}, {"backbone": {"kind": kind, "width": w}}
            r.append(run("dsprites", "rotation", 0, {"linear/shape": 0.3 + w / 100 + (kind == "resnet") * 0.1}, f"kind_{kind}-width{w}", over, backbone=bb))
    archs, table = architecture_table(group_rows(r), "dsprites")
    assert archs == ["conv w16", "conv w32", "resnet w16", "resnet w32"]
    assert table["rotation"]["resnet w32"]["mean"] == 0.72
    md = summary_markdown(r)
    assert "| rotation | 0.460 (1) | 0.620 (1) | 0.560 (1) | **0.720 (1)** |" in md
    assert architecture_table(group_rows(rows()), "dsprites") is None  # one backbone: no table


def test_rank_correlation_is_spearman_over_runs():
    keys, corr = rank_correlation([r for r in rows() if r["dataset"] == "dsprites"])
    assert keys == ["a", "linear/shape", "mig"] and corr.shape == (3, 3)  # the metrics every run of the dataset has
    r = rows()[:5]
    for x, v in zip(r, [1, 2, 3, 4, 5]):
        x["metrics"] = {"m1": float(v), "m2": float(v) ** 3, "m3": -float(v)}
    keys, corr = rank_correlation(r)
    assert keys == ["m1", "m2", "m3"]
    assert np.allclose(corr, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])


def test_study_figures_include_distributions_and_both_correlation_matrices():
    r = [run("dsprites", m, s, {"linear/shape": v + 0.01 * s, "lowshot/lr@10/shape": v / 2, "efficiency/shape": v / 3 + s / 10,
                                "mig": v / 10 + 0.003 * s, "sap": v / 20 - 0.002 * s})
         for s in range(3) for m, v in (("random_init", 0.37), ("simclr", 0.45), ("beta_vae", 0.40))]
    figures, data = study_figures(r, ["dsprites"])
    assert set(figures) == {"distribution_dsprites.png", "rank_correlation_dsprites.png",
                            "disentanglement_vs_downstream_dsprites.png", "label_efficiency_dsprites.png"}
    d = data["disentanglement_vs_downstream_dsprites.json"]
    assert d["rows"] == ["mig", "sap"] and d["columns"] == ["efficiency/shape", "linear/shape", "lowshot/lr@10/shape"]
    md = summary_markdown(r, figures={k: c for k, (c, _) in figures.items()})
    assert "![" in md and "(figures/distribution_dsprites.png)" in md


def test_every_method_has_a_one_line_description_for_the_summary():
    from sslpipe.methods.base import METHODS
    from sslpipe.stages.report import method_descriptions

    names = METHODS.names()
    described = method_descriptions([{"method": n} for n in names])
    assert all(len(described[n]) > 20 for n in names), {n: d for n, d in described.items() if len(d) <= 20}


def test_cells_show_the_standard_error_and_rank_correlation_ignores_it():
    """One seed: value ± its evaluation-sample standard error; several seeds: mean ± sd over seeds."""
    r = rows()
    beta = next(x for x in r if x["method"] == "beta_vae")
    beta["metrics"] |= {"linear/shape/se": 0.0123, "mig/se": 0.004, "mig/ci_low": 0.04, "mig/ci_high": 0.06}
    md = summary_markdown(r)
    assert "| beta_vae | – | generative | 0 | 0.450 ± 0.012 | 0.050 ± 0.004 |" in md
    assert "| rotation | – | pretext | 0, 1, 2 | 0.370 ± 0.010<br>" in md  # seeds: the spread over seeds
    for x in r:
        x["metrics"] = {"m1": float(len(x["method"])), "m1/se": 0.1, "m1/ci_low": 0.0, "m1/ci_high": 1.0}
    assert rank_correlation(r)[0] == ["m1"]


def text_rows(gensim_analogy=0.45, ppl=10.0):
    m = lambda a, s, p, t, **kw: {"analogy/add": a, "similarity/spearman": s, "probe/pos": p, "token_probe/pos": t, **kw}  # noqa: E731
    return [
        run("grammar", "random_init", 0, m(0.0, 0.0, 0.45, 0.83), family="baseline"),
        run("grammar", "random_init", 1, m(0.002, -0.02, 0.43, 0.81), family="baseline"),
        run("grammar", "word2vec_gensim", 0, m(gensim_analogy, 0.80, 0.97, 1.0), family="language"),
        run("grammar", "skipgram", 0, m(0.44, 0.83, 0.96, 1.0), family="language"),
        run("grammar", "cbow", 0, m(0.50, 0.83, 0.97, 1.0), family="language"),
        run("grammar", "masked_lm", 0, m(0.03, 0.68, 0.99, 0.99), family="language"),
        run("grammar", "ngram_lm", 0, m(0.0, 0.08, 0.6, 0.93, **{"perplexity": ppl, "perplexity/unigram": 149.0}), family="language"),
    ]


def test_text_datasets_get_their_table_and_the_language_claims():
    md = summary_markdown(rows() + text_rows())
    table = md.split("## grammar")[1].split("\n## ")[0]
    assert "| method | variant | family | seeds | analogy/add | similarity/spearman | probe/pos | token_probe/pos | perplexity | perplexity/unigram |" in table
    assert "| grammar | skipgram's analogy/add above word2vec_gensim's analogy/add or within 0.03 of it | 0.440 | 0.450 | 1, 1 | yes |" in md
    assert ("| grammar | ngram_lm's perplexity below its perplexity/unigram (the add-one unigram model on the same test tokens) "
            "| 10.000 | 149.000 | 1, 1 | yes |") in md
    assert "| grammar | masked_lm's token_probe/pos above random_init's token_probe/pos | 0.990 | 0.820 | 1, 2 | yes |" in md  # random_init: mean of 2 seeds
    assert "10 of 10 claims hold." in md
    assert "linear/None" not in md and "| grammar | skipgram | – | linear" not in md  # the image comparison leaves text alone


def test_a_claim_that_fails_is_named():
    from sslpipe.report import check_claims

    c = {x["claim"]: x for x in check_claims(group_rows(text_rows(gensim_analogy=0.50, ppl=200.0)))}
    assert not c["skipgram's analogy/add above word2vec_gensim's analogy/add or within 0.03 of it"]["holds"]  # 0.44 < 0.50 - 0.03
    assert c["skipgram's similarity/spearman above word2vec_gensim's similarity/spearman or within 0.03 of it"]["holds"]
    assert not c["ngram_lm's perplexity below its perplexity/unigram (the add-one unigram model on the same test tokens)"]["holds"]
    md = summary_markdown(text_rows(gensim_analogy=0.50, ppl=200.0))
    assert "8 of 10 claims hold: not grammar: skipgram's analogy/add above" in md and "| **no** |" in md


def test_text_datasets_get_no_label_efficiency_figure():
    figures, _ = study_figures(text_rows(), ["grammar"])
    assert "label_efficiency_grammar.png" not in figures and "distribution_grammar.png" in figures


def test_the_video_trackers_are_checked_against_raw_pixels_and_random_init():
    from sslpipe.report import check_claims

    j = lambda j, pix=0.35, emb=None: {"propagation/j": j, "propagation/j_pixels": pix, "propagation/j_copy": 0.12,  # noqa: E731
                                       **({"propagation/j_embedding": emb} if emb is not None else {})}
    video = [run("movingsprites", "random_init", 0, j(0.01), family="baseline"),
             run("movingsprites", "video_colorization", 0, j(0.29, emb=0.38), family="video"),
             run("movingsprites", "cycle_walk", 0, j(0.25, emb=0.23), family="video")]
    c = {x["claim"]: x for x in check_claims(group_rows(video))}
    pixels = "(raw-pixel propagation on the same clips)"
    assert not c[f"video_colorization's propagation/j above its propagation/j_pixels {pixels}"]["holds"]
    assert c[f"video_colorization's propagation/j_embedding above its propagation/j_pixels {pixels}"]["holds"]
    assert not c[f"cycle_walk's propagation/j_embedding above its propagation/j_pixels {pixels}"]["holds"]
    assert c["cycle_walk's propagation/j above random_init's propagation/j"]["holds"]
    assert len(c) == 6
    md = summary_markdown(video)
    assert "3 of 6 claims hold: not movingsprites: video_colorization's propagation/j above" in md
