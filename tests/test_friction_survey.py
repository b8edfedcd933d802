"""Survey friction tests: design-based, against closed forms, scipy and R's published numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError

FIXTURES = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------------------- Rao–Scott
def test_rao_scott_reproduces_r_svychisq_on_nhanes():
    # R survey::svychisq(~race + diabetes, design, statistic = "F") on NHANES II (the samplics
    # copy of the Stata nhanes2 file; strata stratid, PSU psuid nested in strata, finalwgt):
    # F = 14.94, ndf = 1.52, ddf = 47.26, p < 0.001 (second-order Rao-Scott).
    d = pd.read_csv(FIXTURES / "nhanes2_race_diabetes.csv")
    r = pr.friction.rao_scott(
        d, "race", "diabetes", weight="finalwgt", strata="stratid", cluster="psuid"
    )
    assert round(r["f"], 2) == 14.94
    assert round(r["df_num"], 2) == 1.52
    assert round(r["df_den"], 2) == 47.26
    assert r["p_value"] < 0.001
    assert r["n"] == int(d["diabetes"].notna().sum())


def test_rao_scott_is_pearson_for_a_simple_random_sample():
    # equal weights, each row its own PSU: the first-order corrected chi-square differs from
    # Pearson's only by the with-replacement factor (n - 1) / n of the design variance
    rng = np.random.default_rng(7)
    d = pd.DataFrame(
        {"a": rng.choice(list("xyz"), 2000), "b": rng.choice(list("uv"), 2000, p=[0.3, 0.7])}
    )
    r = pr.friction.rao_scott(d, "a", "b")
    chi2 = stats.chi2_contingency(pd.crosstab(d["a"], d["b"]), correction=False)[0]
    assert r["chisq"] == pytest.approx(chi2, rel=2e-3)


def test_rao_scott_reports_missing_columns():
    with pytest.raises(AnalysisError, match="not in the data"):
        pr.friction.rao_scott(pd.DataFrame({"a": [1]}), "a", "b")


# ------------------------------------------------------------------------------- test_survey
def _survey(n=240, seed=3, missing=0.0, weights=False):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "respondent_id": [f"r{i}" for i in range(n)],
            "persona": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    mood = rng.normal(0, 0.6, n)
    for tp, mu in (("x", 3.9), ("y", 3.6), ("z", 4.0)):
        d[f"sat_{tp}"] = np.clip(np.round(mu + mood + rng.normal(0, 0.8, n)), 1, 5)
        if missing:
            d.loc[rng.random(n) < missing, f"sat_{tp}"] = np.nan
    d["w"] = rng.lognormal(0, 0.4, n) if weights else 1.0
    return d


TARGETS = {"x": 3.8, "y": 3.8, "z": 3.8}


def test_one_sample_test_equals_scipy_on_unweighted_complete_data():
    d = _survey()
    out = pr.friction.test_survey(d, targets=TARGETS, tests=["vs_target"], weight=None)
    r = out[(out["touchpoint"] == "y") & (out["persona"] == "all")].iloc[0]
    ref = stats.ttest_1samp(d["sat_y"], 3.8, alternative="less")
    assert r["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert r["df"] == len(d) - 1
    assert r["std_effect"] == pytest.approx((d["sat_y"].mean() - 3.8) / d["sat_y"].std(ddof=0))
    # Bloom's MDE with the t multipliers on n - 1 df
    mult = stats.t.ppf(0.95, len(d) - 1) + stats.t.ppf(0.8, len(d) - 1)
    assert r["mde"] == pytest.approx(mult * d["sat_y"].std(ddof=1) / np.sqrt(len(d)))


def _taylor_domain(y, w, dom, n_psu):
    """Closed-form Taylor-linearised SE of a weighted domain mean, each respondent its own PSU,
    one stratum: var = n/(n-1) sum z_i^2, z_i = w_i 1[d] (y_i - ybar_d) / W_d (Sarndal, Swensson
    & Wretman 1992, result 5.8.1); written here independently of svy."""
    m = dom & np.isfinite(y)
    W = w[m].sum()
    ybar = (w[m] * y[m]).sum() / W
    z = np.where(m, w * (np.nan_to_num(y) - ybar) / W, 0.0)
    return ybar, np.sqrt(n_psu / (n_psu - 1) * (z**2).sum())


def test_weighted_domain_means_match_the_taylor_closed_form():
    d = _survey(missing=0.3, weights=True)
    out = pr.friction.test_survey(d, targets=TARGETS, tests=["vs_target"], weight="w")
    y, w = d["sat_y"].to_numpy(), d["w"].to_numpy()
    n_psu = int(d[["sat_x", "sat_y", "sat_z"]].notna().any(axis=1).sum())
    for p in ("all", "b"):
        r = out[(out["touchpoint"] == "y") & (out["persona"] == p)].iloc[0]
        dom = np.ones(len(d), bool) if p == "all" else (d["persona"] == p).to_numpy()
        est, se = _taylor_domain(y, w, dom, n_psu)
        assert r["estimate"] == pytest.approx(est, rel=1e-12)
        assert (r["effect_size"] / r["statistic"]) == pytest.approx(se, rel=1e-9)
        assert r["df"] == (dom & np.isfinite(y)).sum() - 1
        assert r["n"] == (dom & np.isfinite(y)).sum()


def test_paired_test_equals_scipy_on_unweighted_complete_data():
    d = _survey()
    out = pr.friction.test_survey(d, tests=["vs_journey"], weight=None)
    r = out[(out["touchpoint"] == "y") & (out["persona"] == "all")].iloc[0]
    level = (d["sat_x"] + d["sat_z"]) / 2  # the respondent's other ratings
    ref = stats.ttest_rel(d["sat_y"], level, alternative="less")
    assert r["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert r["reference"] == pytest.approx(level.mean())
    assert r["estimate"] == pytest.approx(d["sat_y"].mean())
    assert r["std_measure"] == "d_z"
    assert r["std_effect"] == pytest.approx(
        (d["sat_y"] - level).mean() / (d["sat_y"] - level).std(ddof=0)
    )


def test_persona_means_contrast_matches_the_closed_form():
    d = _survey(missing=0.2, weights=True)
    out = pr.friction.test_survey(d, tests=["persona_means"], weight="w", alternative="two-sided")
    r = out[(out["touchpoint"] == "x") & (out["persona"] == "c")].iloc[0]
    y, w = d["sat_x"].to_numpy(), d["w"].to_numpy()
    n_psu = len(d)  # wide data: every respondent is a PSU of the design
    in_c = (d["persona"] == "c").to_numpy()
    e1, s1 = _taylor_domain(y, w, in_c, n_psu)
    e2, s2 = _taylor_domain(y, w, ~in_c, n_psu)
    assert r["effect_size"] == pytest.approx(e1 - e2, rel=1e-10)
    assert r["effect_size"] / r["statistic"] == pytest.approx(np.hypot(s1, s2), rel=1e-9)
    assert r["df"] == np.isfinite(y).sum() - 1  # svy's contrast df: PSUs with data - 1
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(r["statistic"]), r["df"]))


def test_closed_form_contrast_equals_svy_contrast():
    # The shortcut se(diff) = hypot(se1, se2) (domains without a shared PSU or stratum) against
    # svy's own contrast, forced by declaring the design as stratified
    from parcours_research._design import svy_sample
    from parcours_research.friction import survey as sv

    d = _survey(missing=0.2, weights=True)
    f = pd.DataFrame(
        {
            sv._BY: "",
            "__w": d["w"],
            "y": d["sat_x"],
            "flag": np.where(d["persona"] == "c", sv._GROUP, sv._REST),
        }
    )
    smp = svy_sample(f, weight="__w", strata=None, cluster=None)
    fast = sv._contrasts(smp, f, ["y"], "flag", sv.Design(weight="__w", user_strata=False), "c")
    slow = sv._contrasts(smp, f, ["y"], "flag", sv.Design(weight="__w", user_strata=True), "c")
    assert fast["se"].iloc[0] == pytest.approx(slow["se"].iloc[0], rel=1e-12)
    assert fast["diff"].iloc[0] == pytest.approx(slow["diff"].iloc[0], rel=1e-12)
    assert fast["df"].iloc[0] == slow["df"].iloc[0]


def test_persona_distribution_is_rao_scott_on_persona_vs_rest():
    d = _survey(missing=0.2, weights=True)
    out = pr.friction.test_survey(d, tests=["persona_distribution"], weight="w")
    r = out[(out["touchpoint"] == "y") & (out["persona"] == "b")].iloc[0]
    g = d.assign(
        flag=np.where(d["persona"] == "b", "group", "rest"),
        k=d["sat_y"].map(lambda v: None if pd.isna(v) else f"{v:g}"),
    )
    ref = pr.friction.rao_scott(g, "k", "flag", weight="w")
    assert (r["statistic"], r["df"], r["df2"], r["p_value"]) == pytest.approx(
        (ref["f"], ref["df_num"], ref["df_den"], ref["p_value"]), rel=1e-10
    )
    m = d["sat_y"].notna()
    share = lambda mask: np.average(d.loc[mask & m, "sat_y"] <= 2, weights=d.loc[mask & m, "w"])  # noqa: E731
    assert r["estimate"] == pytest.approx(share(d["persona"] == "b"))
    assert r["reference"] == pytest.approx(share(d["persona"] != "b"))
    assert r["effect_measure"] == "difference in share rating <= 2"


def test_by_gives_the_same_results_as_separate_analyses():
    parts = [
        _survey(n=150, seed=s, missing=0.2, weights=True).assign(wave=f"w{s}") for s in range(3)
    ]
    stacked = pr.friction.test_survey(
        pd.concat(parts, ignore_index=True), targets=TARGETS, weight="w", by="wave"
    )
    assert list(stacked.columns[:2]) == ["wave", "touchpoint"]
    assert stacked["family"].str.startswith(("w0|", "w1|", "w2|")).all()
    sep = pd.concat(
        [
            pr.friction.test_survey(p, targets=TARGETS, weight="w").assign(wave=p["wave"].iloc[0])
            for p in parts
        ],
        ignore_index=True,
    )
    key = ["wave", "touchpoint", "persona", "test"]
    m = stacked.merge(sep, on=key, suffixes=("_a", "_b"))
    assert len(m) == len(sep) == len(stacked)
    for c in (
        "statistic",
        "p_value",
        "p_adj",
        "effect_size",
        "ci_low",
        "ci_high",
        "df",
        "std_effect",
        "mde",
    ):
        assert np.allclose(
            m[f"{c}_a"].astype(float), m[f"{c}_b"].astype(float), rtol=1e-9, equal_nan=True
        ), c


def test_input_problems_are_listed_together():
    d = _survey()
    d.loc[3, "sat_x"] = 7
    d["sat_y"] = d["sat_y"].astype(object)
    d.loc[4, "sat_y"] = "bien"
    with pytest.raises(AnalysisError) as e:
        pr.friction.test_survey(d, weight=None, persona="segment")
    assert "segment" in str(e.value)
    with pytest.raises(AnalysisError) as e:
        pr.friction.test_survey(d, weight=None)
    assert "'x'" in str(e.value) and "'y'" in str(e.value)
    with pytest.raises(StudyError, match="tests"):
        pr.friction.test_survey(_survey(), tests=["vs_moon"])
    with pytest.raises(AnalysisError, match="power"):
        pr.friction.test_survey(_survey(), power=1.5)


# ------------------------------------------------------------------------------ sample study
@pytest.fixture(scope="module")
def sample_survey(sample_study):
    return pr.friction.test_survey(sample_study)


def test_sample_survey_is_weighted_and_flags_seniors_at_id_verification(
    sample_survey, sample_study
):
    out = sample_survey
    r = out[(out["touchpoint"] == "id_verification") & (out["persona"] == "senior")]
    assert r["friction"].all() and set(r["test"]) == set(pr.friction.survey.SURVEY_TESTS)
    # the planted shift is -1.5 latent points; the observed drop against the others is large
    assert r.loc[r["test"] == "persona_means", "effect_size"].iloc[0] < -1.0
    # raked to the study's margins: the overall mean is the raked-weighted mean
    resp, design = pr.friction.survey.survey_design(sample_study)
    y = resp["sat_id_verification"]
    w = resp[design["weight"]]
    m = y.notna()
    est = out[
        (out["touchpoint"] == "id_verification")
        & (out["persona"] == "all")
        & (out["test"] == "vs_target")
    ]["estimate"].iloc[0]
    assert est == pytest.approx(np.average(y[m], weights=w[m]))
    assert est != pytest.approx(y.mean(), abs=1e-3)


def test_sample_no_effect_touchpoint_is_at_target(sample_survey):
    # truth.json: loyalty_sms is rated exactly at its target for every persona
    v = sample_survey[
        (sample_survey["touchpoint"] == "loyalty_sms") & (sample_survey["test"] == "vs_target")
    ]
    assert len(v) == 5 and not v["significant"].any()
    assert (v["ci_low"] < 0).all() and (v["ci_high"] > 0).all()
