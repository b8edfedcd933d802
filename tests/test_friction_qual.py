"""Interview evidence: share of negative excerpts at a touchpoint against the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError


def _excerpts(n_part=24, seed=5):
    rng = np.random.default_rng(seed)
    rows, k = [], 0
    for j in range(n_part):
        persona = ["a", "b", "c"][j % 3]
        for tp in rng.choice(["t1", "t2", "t3", "t4", "t5"], size=4, replace=False):
            p_neg = 0.8 if (tp == "t2" and persona == "c") else 0.25
            k += 1
            rows.append(
                (
                    f"E{k}",
                    f"P{j}",
                    persona,
                    tp,
                    -1.0 if rng.random() < p_neg else 1.0,
                    "texte",
                    "c1",
                )
            )
    return pd.DataFrame(
        rows,
        columns=["excerpt_id", "participant", "persona", "touchpoint", "valence", "text", "coder"],
    )


def test_double_coded_excerpts_count_once_with_the_mean_valence():
    ex = pd.DataFrame(
        {
            "excerpt_id": ["E1", "E1", "E2"],
            "participant": ["P1", "P1", "P2"],
            "persona": ["a", "a", "b"],
            "touchpoint": ["t", "t", "t"],
            "valence": [-1, 0, 1],
            "coder": ["x", "y", "x"],
        }
    )
    lv = pr.friction.qual.excerpt_level(ex)
    assert len(lv) == 2
    assert lv.set_index("excerpt_id").loc["E1", "valence"] == -0.5
    assert lv.set_index("excerpt_id").loc["E1", "negative"] == 1.0


def test_fisher_for_small_cells():
    ex = _excerpts()
    out = pr.friction.test_qual(ex)
    r = out[(out["touchpoint"] == "t2") & (out["persona"] == "c")].iloc[0]
    lv = pr.friction.qual.excerpt_level(ex)
    cell = (lv["touchpoint"] == "t2") & (lv["persona"] == "c")
    k1, n1 = int(lv.loc[cell, "negative"].sum()), int(cell.sum())
    k2, n2 = int(lv.loc[~cell, "negative"].sum()), int((~cell).sum())
    assert r["method"] == "Fisher exact (excerpts)" and (r["n"], r["n_ref"]) == (n1, n2)
    ref = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="greater")
    assert r["p_value"] == pytest.approx(ref.pvalue)
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))
    assert r["direction"] == "worse"


def _cr1(y, x, g):
    """Cluster-robust (CR1) variance of an OLS slope, closed form: (X'X)^-1 (sum_g X_g'u_g u_g'X_g)
    (X'X)^-1 times G/(G-1) (N-1)/(N-K) (Cameron & Miller 2015, eq. 11-12; Stata's vce(cluster))."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = np.zeros((2, 2))
    for c in np.unique(g):
        s = X[g == c].T @ u[g == c]
        meat += np.outer(s, s)
    G, N = len(np.unique(g)), len(y)
    V = bread @ meat @ bread * G / (G - 1) * (N - 1) / (N - 2)
    return beta[1], np.sqrt(V[1, 1]), G - 1


def test_cluster_robust_for_large_cells():
    ex = _excerpts(n_part=45)
    out = pr.friction.test_qual(ex)
    r = out[(out["touchpoint"] == "t2") & (out["persona"] == "all")].iloc[0]
    assert r["method"] == "cluster-robust t (participants)"
    lv = pr.friction.qual.excerpt_level(ex)
    diff, se, df = _cr1(
        lv["negative"].to_numpy(),
        (lv["touchpoint"] == "t2").to_numpy(float),
        pd.factorize(lv["participant"])[0],
    )
    assert r["effect_size"] == pytest.approx(diff)
    assert r["statistic"] == pytest.approx(diff / se)
    assert r["df"] == df
    assert r["p_value"] == pytest.approx(stats.t.sf(diff / se, df))
    # forcing Fisher gives the exact test on the same counts
    f = pr.friction.test_qual(ex, method="fisher")
    assert set(f["method"]) == {"Fisher exact (excerpts)"}


def test_persona_baseline():
    ex = _excerpts()
    out = pr.friction.test_qual(ex, baseline="persona")
    r = out[(out["touchpoint"] == "t2") & (out["persona"] == "c")].iloc[0]
    lv = pr.friction.qual.excerpt_level(ex)
    ref = (lv["persona"] == "c") & (lv["touchpoint"] != "t2")
    assert r["n_ref"] == int(ref.sum()) and r["comparison"] == "persona baseline"
    assert r["reference"] == pytest.approx(lv.loc[ref, "negative"].mean())


def test_qual_argument_checks():
    with pytest.raises(AnalysisError, match="missing column"):
        pr.friction.test_qual(_excerpts().drop(columns="valence"))
    with pytest.raises(StudyError, match="method"):
        pr.friction.test_qual(_excerpts(), method="gee")


def test_sample_interviews(sample_study):
    out = pr.friction.test_qual(sample_study)
    r = out[(out["touchpoint"] == "id_verification") & (out["persona"] == "senior")].iloc[0]
    # six senior interviews: more negative than the baseline, but a handful of excerpts cannot
    # clear the correction over every touchpoint and persona; the MDE says so
    assert r["direction"] == "worse" and r["effect_size"] > 0.3
    assert r["mde"] > r["effect_size"] * 0.9
    assert not out.loc[out["touchpoint"] == "loyalty_sms", "friction"].any()
