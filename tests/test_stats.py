"""Statistics across seeds against closed cases and constructed inputs."""
import math

import numpy as np
import pytest
from scipy import stats as st

from sslpipe.stats import CANNOT_CLAIM, NO, NOT_SIGNIFICANT, YES, compare, describe, fdr_adjust


def test_describe_matches_the_closed_form_t_interval():
    # x = 1, 2, 3: mean 2, sd 1, the 95% interval 2 -+ t(0.975, 2) / sqrt(3); with 2 degrees of freedom the
    # t quantile has the closed form t(p, 2) = (2p - 1) sqrt(2 / (4p(1 - p))), here 4.3026527...
    d = describe([1.0, 2.0, 3.0])
    half = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025)) / math.sqrt(3)
    assert d["n"] == 3 and d["mean"] == 2.0 and d["sd"] == 1.0
    assert d["ci95"] == pytest.approx([2 - half, 2 + half], abs=1e-12)


def test_describe_one_value_has_no_spread_and_nan_is_dropped():
    assert describe([0.4]) == {"n": 1, "mean": 0.4, "sd": None, "ci95": None}
    assert describe([0.4, float("nan"), None])["n"] == 1
    assert describe([]) == {"n": 0, "mean": None, "sd": None, "ci95": None}
    assert describe([0.5, 0.5, 0.5])["ci95"] == [0.5, 0.5]


def test_welch_interval_matches_the_closed_form():
    a, b = [0.44, 0.46, 0.45, 0.43], [0.37, 0.35, 0.39, 0.38]
    c = compare(a, b)
    va, vb, na, nb = np.var(a, ddof=1), np.var(b, ddof=1), 4, 4
    se = math.sqrt(va / na + vb / nb)
    df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))  # Welch-Satterthwaite
    half = st.t.ppf(0.975, df) * se
    diff = np.mean(a) - np.mean(b)
    assert c["diff"] == pytest.approx(diff) and c["diff_ci95"] == pytest.approx([diff - half, diff + half])
    assert c["p"] == pytest.approx(2 * st.t.sf(diff / se, df)) and c["test"] == "Welch t"


def test_identical_distributions_are_not_significant():
    c = compare([0.40, 0.45, 0.50], [0.45, 0.40, 0.50])
    assert c["verdict"] == NOT_SIGNIFICANT and c["p"] == pytest.approx(1.0) and c["diff_ci95"][0] < 0 < c["diff_ci95"][1]
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.4, 0.02, 5), rng.normal(0.4, 0.02, 5)
    assert compare(x, y)["verdict"] == NOT_SIGNIFICANT


def test_clearly_separated_seeds_are_significant_in_either_direction():
    hi, lo = [0.50, 0.51, 0.52], [0.30, 0.31, 0.32]
    assert compare(hi, lo)["verdict"] == YES and compare(hi, lo)["diff_ci95"][0] > 0
    assert compare(lo, hi)["verdict"] == NO and compare(lo, hi)["diff_ci95"][1] < 0


def test_one_seed_on_both_sides_cannot_claim_anything():
    c = compare([0.6], [0.3])
    assert c["verdict"] == CANNOT_CLAIM and c["diff"] == pytest.approx(0.3) and c["p"] is None and c["diff_ci95"] is None


def test_one_seed_is_judged_against_the_other_sides_seed_spread():
    base = [0.36, 0.37, 0.38, 0.39]
    far, near = compare([0.45], base), compare([0.39], base)
    assert far["verdict"] == YES and far["test"] == "Student t (1 seed)"
    assert near["verdict"] == NOT_SIGNIFICANT
    # the closed form: t = (x - mean_b) / (s_b sqrt(1 + 1/n_b)) with n_b - 1 degrees of freedom
    s_b = np.std(base, ddof=1)
    t = (0.45 - np.mean(base)) / (s_b * math.sqrt(1 + 1 / 4))
    assert far["p"] == pytest.approx(2 * st.t.sf(t, 3))
    half = st.t.ppf(0.975, 3) * s_b * math.sqrt(1 + 1 / 4)
    assert far["diff_ci95"] == pytest.approx([far["diff"] - half, far["diff"] + half])


def test_no_spread_at_all_is_an_exact_difference():
    assert compare([0.5, 0.5], [0.4, 0.4])["verdict"] == YES
    assert compare([0.5, 0.5], [0.5, 0.5])["verdict"] == NOT_SIGNIFICANT


def test_fdr_adjust_gives_the_benjamini_hochberg_q_values_by_hand():
    # sorted p: 0.005, 0.01, 0.03, 0.04 (m = 4); q_(i) = min over j >= i of p_(j) m / j:
    # 0.005 * 4 = 0.02, 0.01 * 4 / 2 = 0.02, 0.03 * 4 / 3 = 0.04, 0.04 * 4 / 4 = 0.04
    assert fdr_adjust([0.01, 0.04, None, 0.03, 0.005]) == pytest.approx([0.02, 0.04, None, 0.04, 0.02])
    # the step-up: a larger p later caps an earlier one (0.049 * 2 / 2 < 0.03 * 2 / 1 = 0.06)
    assert fdr_adjust([0.03, 0.049]) == pytest.approx([0.049, 0.049])
    assert fdr_adjust([]) == [] and fdr_adjust([None]) == [None]
    # 40 tests of identical distributions: some p fall under 0.05 by chance, no q does
    rng = np.random.default_rng(3)
    ps = [compare(rng.normal(0.4, 0.02, 3), rng.normal(0.4, 0.02, 3))["p"] for _ in range(40)]
    assert min(ps) < 0.05 and min(fdr_adjust(ps)) > 0.05
