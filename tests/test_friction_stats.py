"""The statistical pieces of pr.friction, against closed forms, published tables and other
libraries (statsmodels, used here only)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError
from parcours_research.friction import _stats as st


# ------------------------------------------------------------------------------- intervals
@pytest.mark.parametrize(
    "k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (81, 263), (56, 70), (1, 1000)]
)
def test_wilson_matches_closed_form_and_statsmodels(k, n):
    # closed form (Wilson 1927), written out independently of the code under test
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = st.wilson_interval(k, n)
    assert lo == pytest.approx(max(centre - half, 0), abs=1e-12)
    assert hi == pytest.approx(min(centre + half, 1), abs=1e-12)
    sm_lo, sm_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert (lo, hi) == pytest.approx((sm_lo, sm_hi), abs=1e-12)


def test_newcombe_reproduces_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, example (a): 56/70 against
    # 48/80, difference 0.2000, method 10 (score, no continuity correction): 0.0524 to 0.3339.
    lo, hi = st.newcombe_interval(56, 70, 48, 80)
    assert 56 / 70 - 48 / 80 == pytest.approx(0.2)
    assert round(float(lo), 4) == 0.0524
    assert round(float(hi), 4) == 0.3339


@pytest.mark.parametrize(
    "k1,n1,k2,n2",
    [
        (9, 10, 3, 10),
        (6, 7, 2, 7),
        (5, 56, 0, 29),
        (0, 10, 0, 20),
        (0, 10, 0, 10),
        (10, 10, 0, 20),
        (10, 10, 0, 10),
        (180, 322, 495, 539),
    ],
)
def test_newcombe_matches_statsmodels(k1, n1, k2, n2):
    # statsmodels' independent implementation (confint_proportions_2indep, method="newcomb")
    lo, hi = st.newcombe_interval(k1, n1, k2, n2)
    ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (float(lo), float(hi)) == pytest.approx(ref, abs=1e-10)


@given(k=hs.integers(0, 200), extra=hs.integers(0, 200), conf=hs.floats(0.5, 0.999))
@settings(max_examples=200, deadline=None)
def test_wilson_holds_the_estimate_and_stays_in_unit_interval(k, extra, conf):
    n = k + extra
    if n == 0:
        return
    lo, hi = st.wilson_interval(k, n, conf)
    assert 0 <= lo <= k / n <= hi <= 1
    lo2, hi2 = st.wilson_interval(k, n, min(conf + 0.0005, 0.9999))
    assert lo2 <= lo + 1e-12 and hi2 >= hi - 1e-12


@given(k1=hs.integers(0, 60), e1=hs.integers(1, 60), k2=hs.integers(0, 60), e2=hs.integers(1, 60))
@settings(max_examples=200, deadline=None)
def test_newcombe_holds_the_difference(k1, e1, k2, e2):
    n1, n2 = k1 + e1, k2 + e2
    lo, hi = st.newcombe_interval(k1, n1, k2, n2)
    d = k1 / n1 - k2 / n2
    assert -1 - 1e-12 <= lo <= d + 1e-12 and d - 1e-12 <= hi <= 1 + 1e-12


# ------------------------------------------------------------------------------ effect sizes
@pytest.mark.parametrize("p1,p2", [(0.6, 0.92), (0.5, 0.5), (0.05, 0.3), (1.0, 0.0)])
def test_cohens_h_matches_statsmodels(p1, p2):
    # statsmodels' proportion_effectsize is Cohen's h = 2 asin sqrt(p1) - 2 asin sqrt(p2)
    assert float(st.cohens_h(p1, p2)) == pytest.approx(proportion_effectsize(p1, p2), abs=1e-12)


def test_h_interval_is_the_arcsine_variance():
    # var(2 asin sqrt(p^)) ~ 1/n (Cohen 1988, section 6.2)
    lo, hi = st.h_interval(0.3, 100, 400)
    half = stats.norm.ppf(0.975) * math.sqrt(1 / 100 + 1 / 400)
    assert (float(lo), float(hi)) == pytest.approx((0.3 - half, 0.3 + half))
    lo, hi = st.h_interval(0.3, 100)
    assert float(hi) - 0.3 == pytest.approx(stats.norm.ppf(0.975) / 10)


@pytest.mark.parametrize(
    "table", [[[20, 80], [35, 65]], [[229, 181], [1439, 150]], [[3, 1], [1, 3]]]
)
def test_woolf_odds_ratio_matches_statsmodels(table):
    (a, b), (c, d) = table
    orr, lo, hi = st.odds_ratio_woolf(a, a + b, c, c + d)
    t = Table2x2(np.asarray(table, dtype=float))
    assert float(orr) == pytest.approx(t.oddsratio, rel=1e-10)
    assert (float(lo), float(hi)) == pytest.approx(t.oddsratio_confint(alpha=0.05), rel=1e-10)


def test_woolf_adds_one_half_to_every_cell_of_a_table_with_a_zero():
    # Haldane (1956) / Anscombe (1956): 0.5 added to all four cells; closed form
    orr, lo, hi = st.odds_ratio_woolf(0, 10, 5, 10)
    a, b, c, d = 0.5, 10.5, 5.5, 5.5
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert float(orr) == pytest.approx(a * d / (b * c))
    assert float(hi) == pytest.approx(a * d / (b * c) * math.exp(stats.norm.ppf(0.975) * se))


def test_conditional_odds_ratio_matches_r_fisher_test():
    # R: fisher.test(TeaTasting) (Agresti 1990, the tea-tasting lady, 3 1 / 1 3):
    # conditional MLE odds ratio 6.408309, p = 0.4857 two-sided, 0.2429 "greater".
    orr, lo, hi = st.odds_ratio_exact(3, 4, 1, 4)
    assert float(orr[0]) == pytest.approx(
        6.408309, abs=1e-4
    )  # R prints 7 digits; optimiser tolerance
    assert lo[0] < 1 < hi[0]
    _, p_two, used = st.two_proportions(3, 4, 1, 4, "two-sided")
    _, p_greater, _ = st.two_proportions(3, 4, 1, 4, "greater")
    assert used[0] == "fisher"
    assert round(float(p_two[0]), 4) == 0.4857 and round(float(p_greater[0]), 4) == 0.2429


# ------------------------------------------------------------------------------------- tests
def test_score_test_matches_statsmodels():
    k1, n1, k2, n2 = 180, 322, 1060, 1221
    stat, p, used = st.two_proportions(k1, n1, k2, n2, "less")
    z_ref, p_ref = proportions_ztest([k1, k2], [n1, n2], alternative="smaller")
    assert used[0] == "z"
    assert float(stat[0]) == pytest.approx(z_ref, rel=1e-10)
    assert float(p[0]) == pytest.approx(p_ref, rel=1e-8)


def test_fisher_is_used_for_small_expected_counts():
    # expected count of failures in group 1 = 12 * 3/62 < 5 (Cochran's rule)
    stat, p, used = st.two_proportions(9, 12, 50, 50, "less")
    assert used[0] == "fisher"
    assert float(p[0]) == pytest.approx(
        stats.fisher_exact([[9, 3], [50, 0]], alternative="less").pvalue
    )


def test_exact_binomial_is_the_binomial_tail():
    # P(X <= k) for X ~ Binomial(n, p0): the one-sided exact p-value, as a closed-form sum
    for k, n, p0 in [(229, 410, 0.85), (12, 20, 0.8), (0, 5, 0.5)]:
        tail = sum(math.comb(n, i) * p0**i * (1 - p0) ** (n - i) for i in range(k + 1))
        assert float(st.binom_exact(k, n, p0, "less")[0]) == pytest.approx(min(tail, 1.0), rel=1e-9)


# ---------------------------------------------------------------------- minimum detectable effects
@pytest.mark.parametrize(
    "n1,n2,alt", [(320, 1200, "worse"), (50, 50, "two-sided"), (1000, 250, "worse")]
)
def test_mde_h_matches_statsmodels_power(n1, n2, alt):
    h = float(st.mde_h(n1, n2, 0.05, 0.8, alt))
    ref = NormalIndPower().solve_power(
        effect_size=None,
        nobs1=n1,
        ratio=n2 / n1,
        alpha=0.05,
        power=0.8,
        alternative="larger" if alt == "worse" else "two-sided",
    )
    assert h == pytest.approx(ref, rel=1e-4)


def test_mde_h_one_sample():
    # against a fixed target the variance is 1/n: h = (z_.95 + z_.8) / sqrt(n)
    h = float(st.mde_h(400, None, 0.05, 0.8))
    assert h == pytest.approx((stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) / 20)


def test_h_to_difference_inverts_cohens_h():
    d = float(st.h_to_difference(0.9, 0.3, -1))
    assert float(st.cohens_h(0.9 - d, 0.9)) == pytest.approx(-0.3)
    d = float(st.h_to_difference(0.2, 0.4, 1))
    assert float(st.cohens_h(0.2 + d, 0.2)) == pytest.approx(0.4)


def test_mde_t_is_blooms_multiplier():
    # Bloom (1995): for large df, two-sided alpha 0.05 and power 0.8 the multiplier is 2.80
    assert float(st.mde_t(1.0, 1e9, 0.05, 0.8, "two-sided")) == pytest.approx(2.8016, abs=1e-4)
    assert float(st.mde_t(1.0, 1e9, 0.05, 0.8, "worse")) == pytest.approx(2.4865, abs=1e-4)
    # and for a one-sample t test it is close to the exact noncentral-t answer (statsmodels)
    d_exact = TTestPower().solve_power(
        effect_size=None, nobs=100, alpha=0.05, power=0.8, alternative="larger"
    )
    d_bloom = float(st.mde_t(1 / math.sqrt(100), 99, 0.05, 0.8, "worse"))
    assert d_bloom == pytest.approx(d_exact, rel=0.01)


# -------------------------------------------------------------------------------- correction
BH_EXAMPLE = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def _table(p, family="f"):
    return pd.DataFrame({"p_value": p, "family": family, "source": "s", "test": "t"})


def test_bh_reproduces_benjamini_hochberg_1995():
    # Benjamini & Hochberg (1995), JRSS B 57:289, section 4: 15 p-values; at q = 0.05 the
    # step-up procedure rejects the four smallest, Bonferroni (and Holm) only three.
    out = pr.friction.correct(_table(BH_EXAMPLE))
    assert out["significant"].tolist() == [True] * 4 + [False] * 11
    holm = pr.friction.correct(_table(BH_EXAMPLE), correction="holm")
    assert int(holm["significant"].sum()) == 3
    assert holm["correction"].iloc[0] == "holm"


def test_correction_is_within_families_and_skips_missing():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=30) ** 3
    fam = np.repeat(["a", "b", "c"], 10)
    p[[3, 17]] = np.nan
    out = pr.friction.correct(_table(p, fam))
    for f in "abc":
        m = (fam == f) & ~np.isnan(p)
        ref = multipletests(p[m], method="fdr_bh")[1]
        assert np.allclose(out["p_adj"].to_numpy()[m], ref)
    assert out["p_adj"].isna().sum() == 2 and not out["significant"].to_numpy()[[3, 17]].any()


def test_correction_families_by_source_or_all():
    t = pd.DataFrame(
        {
            "p_value": [0.01, 0.02, 0.03, 0.04],
            "source": ["a", "a", "b", "b"],
            "test": ["x", "y", "x", "y"],
        }
    )
    assert pr.friction.correct(t, family="test")["family"].tolist() == ["a:x", "a:y", "b:x", "b:y"]
    assert pr.friction.correct(t, family="source")["family"].tolist() == ["a", "a", "b", "b"]
    out = pr.friction.correct(t, family="all")
    assert np.allclose(out["p_adj"], multipletests(t["p_value"], method="fdr_bh")[1])


def test_correction_rejects_bad_arguments():
    with pytest.raises(StudyError, match="correction"):
        pr.friction.correct(_table([0.1]), correction="fdr")
    with pytest.raises(AnalysisError, match="alpha"):
        pr.friction.correct(_table([0.1]), alpha=2)
    with pytest.raises(AnalysisError, match="p_value"):
        pr.friction.correct(pd.DataFrame({"family": ["a"]}))
