"""Tests of parcours_research.satisfaction.

Independent references, each named where it is used:
* Stata's published ``svy: mean zinc`` on NHANES II ([SVY] manual; R survey's ``svymean`` gives
  the same), on the public-domain NHANES II file shipped with samplics 0.6.1
  (``samplics/datasets/data/nhanes2.csv``), vendored as ``fixtures/nhanes2_zinc.csv`` with only
  the columns used (all 10,337 rows; 9,189 with zinc, as in Stata's output).
* A Taylor-linearisation variance written below from the textbook formula (Wolter 2007,
  *Introduction to Variance Estimation*, 6.11; Stata [SVY] "Variance estimation").
* Closed forms: NPS variance ``(p+ + p- - (p+ - p-)^2)/n`` and Rocks' (2016, The American
  Statistician 70(4)) adjusted-Wald interval; Korn & Graubard (1998) and logit intervals.
* Brute force over all orderings / subsets with R² from weighted least squares on the raw data
  (Shapley/LMG, dominance), and the ``relativeImp`` package (Johnson's relative weights).
* Berger et al. (1993) Kano evaluation table and satisfaction coefficients, counted by hand.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import parcours_research as pr
from parcours_research.errors import AnalysisError

sat = pr.satisfaction
FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------------
def taylor_mean(y, w, strata=None, psu=None, domain=None):
    """Linearised variance of a (domain) weighted mean, with-replacement ultimate clusters:
    v = sum_h n_h/(n_h - 1) sum_i (z_hi - zbar_h)^2, z_hi the PSU totals of
    w_k d_k (y_k - ybar) / sum(w d). Rows with missing y are outside the domain."""
    y = np.asarray(y, float)
    w = np.asarray(w, float)
    n = len(y)
    d = np.ones(n, bool) if domain is None else np.asarray(domain, bool)
    d = d & ~np.isnan(y)
    strata = np.zeros(n) if strata is None else np.asarray(strata)
    psu = np.arange(n) if psu is None else np.asarray(psu)
    wd = np.where(d, w, 0.0)
    ybar = np.sum(wd * np.nan_to_num(y)) / wd.sum()
    z = wd * np.where(d, np.nan_to_num(y) - ybar, 0.0) / wd.sum()
    frame = pd.DataFrame({"h": strata, "i": psu, "z": z})
    tot = frame.groupby(["h", "i"])["z"].sum().reset_index()
    var = 0.0
    for _, g in tot.groupby("h"):
        nh = len(g)
        if nh > 1:
            var += nh / (nh - 1) * np.sum((g["z"] - g["z"].mean()) ** 2)
    return ybar, math.sqrt(var)


def wls_r2(y, x, w):
    """R² of a weighted least-squares fit with intercept, from the raw data."""
    design = np.column_stack([np.ones(len(y)), x])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)[0]
    resid = y - design @ beta
    ybar = np.sum(w * y) / np.sum(w)
    return 1 - np.sum(w * resid**2) / np.sum(w * (y - ybar) ** 2)


def brute_shapley(y, x, w):
    """Average marginal R² gain over all p! orderings of the drivers."""
    p = x.shape[1]
    cache = {(): 0.0}

    def r2(subset):
        key = tuple(sorted(subset))
        if key not in cache:
            cache[key] = wls_r2(y, x[:, list(key)], w)
        return cache[key]

    total = np.zeros(p)
    orders = list(itertools.permutations(range(p)))
    for order in orders:
        for k, j in enumerate(order):
            total[j] += r2(order[: k + 1]) - r2(order[:k])
    return total / len(orders), cache


def driver_data(n=400, p=4, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    cov = 0.4 * np.ones((p, p)) + 0.6 * np.eye(p)
    x = rng.multivariate_normal(np.zeros(p), cov, n)
    y = x @ np.linspace(1.0, 0.2, p) + rng.normal(0, 1.5, n)
    df = pd.DataFrame(x, columns=[f"d{j}" for j in range(p)])
    df["y"] = y
    df["w"] = rng.uniform(0.3, 3.0, n)
    df["cl"] = rng.integers(0, n // 4, n)
    if missing:
        mask = rng.random((n, p)) < missing
        df.iloc[:, :p] = df.iloc[:, :p].mask(mask)
    return df


@pytest.fixture(scope="module")
def nhanes():
    return pd.read_csv(FIXTURES / "nhanes2_zinc.csv")


# ---------------------------------------------------------------------------------------------
# scores: published values and linearisation
# ---------------------------------------------------------------------------------------------
def test_svy_mean_zinc_matches_stata(nhanes):
    # Stata [SVY] svy estimation, `svy: mean zinc` on nhanes2 (svyset psuid [pweight=finalwgt],
    # strata(stratid)): Number of obs 9,189; design df 31; mean 87.18207, linearized
    # SE .4944827, 95% CI [86.17356, 88.19057]. R survey's svymean gives the same.
    out = sat.scores(
        nhanes,
        "zinc",
        touchpoint=None,
        by=None,
        weight="finalwgt",
        strata="stratid",
        cluster="psuid",
    )
    row = out.iloc[0]
    assert list(out.columns) == [
        "metric",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "n",
        "n_eff",
    ]
    assert row["estimate"] == pytest.approx(87.18207, abs=5e-6)
    assert row["se"] == pytest.approx(0.4944827, abs=5e-8)
    assert row["ci_low"] == pytest.approx(86.17356, abs=5e-6)
    assert row["ci_high"] == pytest.approx(88.19057, abs=5e-6)
    assert row["df"] == 31 and row["n"] == 9189


def test_domain_means_match_hand_linearisation(nhanes):
    out = sat.scores(
        nhanes,
        "zinc",
        touchpoint=None,
        by="highbp",
        weight="finalwgt",
        strata="stratid",
        cluster="psuid",
    )
    for _, row in out.iterrows():
        est, se = taylor_mean(
            nhanes["zinc"],
            nhanes["finalwgt"],
            nhanes["stratid"],
            nhanes["psuid"],
            domain=nhanes["highbp"] == row["highbp"],
        )
        assert row["estimate"] == pytest.approx(est, rel=1e-12)
        assert row["se"] == pytest.approx(se, rel=1e-9)


def test_proportion_intervals_match_closed_forms(nhanes):
    # CSAT with "satisfied" at 1 of a 0/1 "rating" is the share of 1s
    data = nhanes.assign(rating=nhanes["highbp"])
    p_hat, se_ref = taylor_mean(data["rating"], data["finalwgt"], data["stratid"], data["psuid"])
    n = len(data)
    df = 62 - 31
    alpha = 0.05
    kg = sat.scores(
        data,
        "rating",
        touchpoint=None,
        by=None,
        metric="csat",
        scale=(0, 1),
        satisfied=1,
        weight="finalwgt",
        strata="stratid",
        cluster="psuid",
    ).iloc[0]
    assert kg["estimate"] == pytest.approx(p_hat, rel=1e-12)
    assert kg["se"] == pytest.approx(se_ref, rel=1e-9)
    # Korn & Graubard (1998) eq. 2.1-2.2, Clopper-Pearson on the df-adjusted effective n,
    # truncated at n (NCHS, Parker et al. 2017)
    n_star = min(
        n,
        p_hat
        * (1 - p_hat)
        / se_ref**2
        * (stats.t.ppf(1 - alpha / 2, n - 1) / stats.t.ppf(1 - alpha / 2, df)) ** 2,
    )
    x = n_star * p_hat
    assert kg["ci_low"] == pytest.approx(stats.beta.ppf(alpha / 2, x, n_star - x + 1), rel=1e-7)
    assert kg["ci_high"] == pytest.approx(
        stats.beta.ppf(1 - alpha / 2, x + 1, n_star - x), rel=1e-7
    )
    # logit interval (Stata's default for svy: proportion)
    lg = sat.scores(
        data,
        "rating",
        touchpoint=None,
        by=None,
        metric="csat",
        scale=(0, 1),
        ci="logit",
        satisfied=1,
        weight="finalwgt",
        strata="stratid",
        cluster="psuid",
    ).iloc[0]
    t = stats.t.ppf(1 - alpha / 2, df)
    half = t * se_ref / (p_hat * (1 - p_hat))
    logit = math.log(p_hat / (1 - p_hat))
    assert lg["ci_low"] == pytest.approx(1 / (1 + math.exp(-(logit - half))), rel=1e-9)
    assert lg["ci_high"] == pytest.approx(1 / (1 + math.exp(-(logit + half))), rel=1e-9)


def test_top2_csat_definitions():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {"score": rng.integers(1, 6, 300).astype(float), "g": rng.choice(["a", "b"], 300)}
    )
    out = sat.scores(df, touchpoint=None, by="g", metric=["top2", "csat"], satisfied=5)
    for g, grp in df.groupby("g"):
        top2 = out[(out.g == g) & (out.metric == "top2")]["estimate"].item()
        csat = out[(out.g == g) & (out.metric == "csat")]["estimate"].item()
        assert top2 == pytest.approx((grp["score"] >= 4).mean())
        assert csat == pytest.approx((grp["score"] >= 5).mean())
    with pytest.raises(AnalysisError, match="outside the scale 1-5"):
        sat.scores(df.assign(score=df.score + 2), touchpoint=None, by=None, metric="top2")
    seven = sat.scores(
        df.assign(score=df.score + 2), touchpoint=None, by=None, metric="top2", scale=(1, 7)
    ).iloc[0]
    assert seven["estimate"] == pytest.approx((df["score"] + 2 >= 6).mean())


# ---------------------------------------------------------------------------------------------
# NPS
# ---------------------------------------------------------------------------------------------
def nps_frame(n_pro, n_pas, n_det, seed=0):
    rng = np.random.default_rng(seed)
    vals = np.concatenate(
        [rng.integers(9, 11, n_pro), rng.integers(7, 9, n_pas), rng.integers(0, 7, n_det)]
    )
    return pd.DataFrame({"nps": rng.permutation(vals).astype(float)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_nps_srs_matches_closed_forms(n_pro, n_pas, n_det):
    n = n_pro + n_pas + n_det
    if n < 3:
        return
    df = nps_frame(n_pro, n_pas, n_det)
    pp, pn = n_pro / n, n_det / n
    d = pp - pn
    out = sat.scores(df, "nps", touchpoint=None, by=None, metric="nps", ci="wald").iloc[0]
    assert out["estimate"] == pytest.approx(100 * d, abs=1e-10)
    # trinomial variance (p+ + p- - d^2)/n, times n/(n-1) for the with-replacement
    # linearisation estimator (what Stata/R survey report for a simple random sample)
    se = math.sqrt((pp + pn - d**2) / (n - 1))
    assert out["se"] == pytest.approx(100 * se, abs=1e-9)
    if se > 0:
        t = stats.t.ppf(0.975, n - 1)
        assert out["ci_low"] == pytest.approx(max(-100, 100 * (d - t * se)), abs=1e-8)
        assert out["ci_high"] == pytest.approx(min(100, 100 * (d + t * se)), abs=1e-8)
    # Rocks (2016) adjusted Wald: n + 3, 3/4 promoter and 3/4 detractor added, z quantile
    aw = sat.scores(df, "nps", touchpoint=None, by=None, metric="nps").iloc[0]
    na = n + 3
    pa, qa = (n_pro + 0.75) / na, (n_det + 0.75) / na
    da = pa - qa
    half = stats.norm.ppf(0.975) * math.sqrt((pa + qa - da**2) / na)
    assert aw["ci_low"] == pytest.approx(max(-100, 100 * (da - half)), abs=1e-8)
    assert aw["ci_high"] == pytest.approx(min(100, 100 * (da + half)), abs=1e-8)
    assert aw["estimate"] == pytest.approx(100 * d, abs=1e-10)


def test_nps_design_se_matches_linearisation():
    rng = np.random.default_rng(5)
    n = 500
    df = pd.DataFrame(
        {
            "nps": rng.integers(0, 11, n).astype(float),
            "w": rng.uniform(0.5, 4, n),
            "stratum": rng.integers(0, 4, n),
        }
    )
    df["psu"] = df["stratum"] * 100 + rng.integers(0, 8, n)
    trinomial = np.where(df.nps >= 9, 1.0, np.where(df.nps <= 6, -1.0, 0.0))
    est, se = taylor_mean(trinomial, df.w, df.stratum, df.psu)
    out = sat.scores(
        df,
        "nps",
        touchpoint=None,
        by=None,
        metric="nps",
        weight="w",
        strata="stratum",
        cluster="psu",
    ).iloc[0]
    assert out["estimate"] == pytest.approx(100 * est, rel=1e-12)
    assert out["se"] == pytest.approx(100 * se, rel=1e-9)
    # Rocks' adjusted Wald on the design-effective n: n* = n s2 / ((n - 1) v), s2 the weighted
    # trinomial variance p+ + p- - d^2, v the linearised variance (n* = n for an unweighted
    # simple random sample, as in the closed-form test above)
    pp = np.sum(df.w * (trinomial == 1)) / df.w.sum()
    pn = np.sum(df.w * (trinomial == -1)) / df.w.sum()
    n_star = n * (pp + pn - (pp - pn) ** 2) / ((n - 1) * se**2)
    pa, qa = (n_star * pp + 0.75) / (n_star + 3), (n_star * pn + 0.75) / (n_star + 3)
    half = stats.norm.ppf(0.975) * math.sqrt((pa + qa - (pa - qa) ** 2) / (n_star + 3))
    assert out["ci_low"] == pytest.approx(100 * (pa - qa - half), rel=1e-9)
    assert out["ci_high"] == pytest.approx(100 * (pa - qa + half), rel=1e-9)
    # clusters of alike answers: less information than as many independent answers
    alike = df.assign(nps=df.groupby("psu")["nps"].transform("first"))
    clustered = sat.scores(
        alike, "nps", touchpoint=None, by=None, metric="nps", cluster="psu", strata="stratum"
    ).iloc[0]
    srs = sat.scores(alike, "nps", touchpoint=None, by=None, metric="nps").iloc[0]
    assert (clustered["ci_high"] - clustered["ci_low"]) > 2 * (srs["ci_high"] - srs["ci_low"])


# ---------------------------------------------------------------------------------------------
# long format, respondent as cluster, equal weights
# ---------------------------------------------------------------------------------------------
def wide_responses(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "respondent_id": [f"R{i:04d}" for i in range(n)],
            "persona": rng.choice(["connecte", "senior"], n),
            "weight": rng.uniform(0.5, 2.5, n),
        }
    )
    person = rng.normal(0, 0.8, n)  # a person effect: ratings by one respondent correlate
    for tp in ("signup", "billing", "claim"):
        score = np.clip(np.round(3.5 + person + rng.normal(0, 0.7, n)), 1, 5)
        score[rng.random(n) < 0.25] = np.nan  # not experienced
        df[f"sat_{tp}"] = score
    df["overall_sat"] = np.clip(np.round(3.5 + person + rng.normal(0, 0.5, n)), 1, 5)
    return df


def test_to_long_drops_blanks_and_keeps_columns():
    wide = wide_responses()
    long = sat.to_long(
        wide,
        columns={"signup": "sat_signup", "billing": "sat_billing", "claim": "sat_claim"},
        keep=["persona", "weight"],
    )
    assert list(long.columns) == ["respondent_id", "persona", "weight", "touchpoint", "score"]
    n_answers = int(wide[["sat_signup", "sat_billing", "sat_claim"]].notna().sum().sum())
    assert len(long) == n_answers and long["score"].notna().all()
    assert list(long["touchpoint"].unique()) == ["signup", "billing", "claim"]
    r = wide.iloc[7]
    got = long[long.respondent_id == r["respondent_id"]].set_index("touchpoint")["score"]
    assert got.to_dict() == {
        tp: r[f"sat_{tp}"] for tp in ("signup", "billing", "claim") if not np.isnan(r[f"sat_{tp}"])
    }
    assert (
        sat.to_long(wide).shape == long[["respondent_id", "touchpoint", "score"]].shape
    )  # sat_ prefix


def test_to_long_errors():
    wide = wide_responses(20)
    wide.loc[3, "respondent_id"] = wide.loc[2, "respondent_id"]
    wide["sat_claim"] = wide["sat_claim"].astype(object)
    wide.loc[5, "sat_claim"] = "bien"
    with pytest.raises(AnalysisError) as exc:
        sat.to_long(wide, columns={"claim": "sat_claim", "x": "sat_x"})
    assert "sat_x" in str(exc.value)
    with pytest.raises(AnalysisError) as exc:
        sat.to_long(wide, columns={"claim": "sat_claim"})
    msg = str(exc.value)
    assert "several rows" in msg and "'bien'" in msg and "row 7" in msg


def test_respondent_is_the_cluster_in_long_data():
    wide = wide_responses()
    long = sat.to_long(wide, keep=["persona", "weight"])
    out = sat.scores(long, touchpoint=None, by="persona", weight="weight")
    independent = sat.scores(
        long.assign(row=np.arange(len(long))),
        touchpoint=None,
        by="persona",
        weight="weight",
        cluster="row",
    )
    for _, row in out.iterrows():
        dom = long["persona"] == row["persona"]
        est, se = taylor_mean(long["score"], long["weight"], psu=long["respondent_id"], domain=dom)
        assert row["estimate"] == pytest.approx(est, rel=1e-12)
        assert row["se"] == pytest.approx(se, rel=1e-9)
    # correlated ratings of one person: treating rows as independent understates the SE
    assert (out["se"].to_numpy() > 1.2 * independent["se"].to_numpy()).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.01, 100.0), st.sampled_from(["mean", "top2", "nps", "ces"]))
def test_equal_weights_give_unweighted_scores(c, metric):
    wide = wide_responses(120, seed=3)
    long = sat.to_long(wide, keep=["persona"])
    if metric == "nps":
        long["score"] = (long["score"] - 1) * 2 + 2  # 2..10
    if metric == "ces":
        long["score"] = long["score"] + 1
    a = sat.scores(long, metric=metric)
    b = sat.scores(long.assign(w=c), metric=metric, weight="w")
    pd.testing.assert_frame_equal(a.drop(columns="n_eff"), b.drop(columns="n_eff"), rtol=1e-9)
    np.testing.assert_allclose(a["n_eff"], a["n"])


def test_scores_table_shape_and_order():
    wide = wide_responses()
    long = sat.to_long(wide, keep=["persona", "weight"])
    out = sat.scores(long, weight="weight", metric=["mean", "top2"])
    assert list(out.columns) == [
        "touchpoint",
        "persona",
        "metric",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "n",
        "n_eff",
    ]
    assert len(out) == 2 * 3 * 2
    assert list(out["touchpoint"].unique()) == ["signup", "billing", "claim"]
    counts = long.groupby(["touchpoint", "persona"]).size()
    for r in out.itertuples():
        assert r.n == counts[(r.touchpoint, r.persona)]
        assert r.ci_low <= r.estimate <= r.ci_high


def test_scores_errors_are_collected():
    wide = wide_responses(50)
    long = sat.to_long(wide, keep=["persona", "weight"])
    long.loc[0, "persona"] = None
    long.loc[1, "weight"] = -1
    with pytest.raises(AnalysisError) as exc:
        sat.scores(long, weight="weight")
    msg = str(exc.value)
    assert "no value in 'persona'" in msg and "negative" in msg
    with pytest.raises(AnalysisError, match="not in the data"):
        sat.scores(long, by="segment")
    with pytest.raises(ValueError, match="metric='median'"):
        sat.scores(long, metric="median")
    dup = pd.concat([long.dropna(subset=["persona"]), long.dropna(subset=["persona"]).iloc[:2]])
    with pytest.raises(AnalysisError, match="repeat a respondent and touchpoint"):
        sat.scores(dup.assign(weight=1.0))


# ---------------------------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [3, 5])
def test_shapley_equals_brute_force_over_orderings(p):
    df = driver_data(p=p, seed=p)
    cols = [f"d{j}" for j in range(p)]
    res = sat.drivers(df, "y", cols, weight="w", n_boot=0)
    ref, _ = brute_shapley(df["y"].to_numpy(), df[cols].to_numpy(), df["w"].to_numpy())
    got = res.summary.set_index("driver").loc[cols, "importance"].to_numpy()
    np.testing.assert_allclose(got, ref, atol=1e-10)
    assert res.r2 == pytest.approx(
        wls_r2(df["y"].to_numpy(), df[cols].to_numpy(), df["w"].to_numpy()), abs=1e-12
    )


def test_dominance_equals_brute_force():
    p = 4
    df = driver_data(p=p, seed=11)
    cols = [f"d{j}" for j in range(p)]
    res = sat.drivers(df, "y", cols, weight="w", n_boot=0, dominance=True)
    _, r2 = brute_shapley(df["y"].to_numpy(), df[cols].to_numpy(), df["w"].to_numpy())
    # conditional: mean gain by number of other drivers in the model
    cond = res.conditional_dominance.set_index(["driver", "size"])["gain"]
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for s in range(p):
            gains = [
                r2[tuple(sorted((*S, j)))] - r2[tuple(sorted(S))]
                for S in itertools.combinations(others, s)
            ]
            assert cond[(cols[j], s)] == pytest.approx(np.mean(gains), abs=1e-10)
    # complete: i beats j in every subset holding neither
    pairs = res.dominance.set_index(["driver", "other"])
    for i, j in itertools.permutations(range(p), 2):
        rest = [k for k in range(p) if k not in (i, j)]
        wins = all(
            r2[tuple(sorted((*S, i)))] > r2[tuple(sorted((*S, j)))]
            for s in range(len(rest) + 1)
            for S in itertools.combinations(rest, s)
        )
        assert pairs.loc[(cols[i], cols[j]), "complete"] == wins
    shap = res.summary.set_index("driver")["importance"]
    np.testing.assert_allclose(cond.groupby(level=0).mean().loc[cols], shap.loc[cols], atol=1e-12)
    with pytest.raises(AnalysisError, match="dominance=True"):
        _ = sat.drivers(df, "y", cols, n_boot=0).dominance


def test_relative_weights_equal_relativeimp_package():
    from relativeImp import relativeImp  # used only in tests

    df = driver_data(p=5, seed=2)
    cols = [f"d{j}" for j in range(5)]
    ref = relativeImp(df, outcomeName="y", driverNames=cols).set_index("driver")["rawRelaImpt"]
    res = sat.drivers(df, "y", cols, method="relative_weights", n_boot=0)
    got = res.summary.set_index("driver")["importance"]
    np.testing.assert_allclose(got.loc[cols], ref.loc[cols].astype(float), atol=1e-10)
    # integer weights = repeated rows
    rng = np.random.default_rng(0)
    df["k"] = rng.integers(1, 4, len(df))
    rep = df.loc[df.index.repeat(df["k"])]
    ref = relativeImp(rep, outcomeName="y", driverNames=cols).set_index("driver")["rawRelaImpt"]
    got = sat.drivers(df, "y", cols, weight="k", method="relative_weights", n_boot=0).summary
    np.testing.assert_allclose(
        got.set_index("driver").loc[cols, "importance"], ref.loc[cols].astype(float), atol=1e-10
    )


def test_pairwise_correlations_match_numpy():
    df = driver_data(p=4, seed=4, missing=0.2)
    cols = [f"d{j}" for j in range(4)]
    allc = ["y", *cols]
    corr = np.eye(5)
    for a, b in itertools.combinations(range(5), 2):
        ok = df[allc[a]].notna() & df[allc[b]].notna()
        c = np.cov(df.loc[ok, allc[a]], df.loc[ok, allc[b]], aweights=df.loc[ok, "w"])
        corr[a, b] = corr[b, a] = c[0, 1] / math.sqrt(c[0, 0] * c[1, 1])
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    res = sat.drivers(df, "y", cols, weight="w", n_boot=0)
    assert res.r2 == pytest.approx(rxy @ np.linalg.solve(rxx, rxy), abs=1e-12)
    assert (
        res.summary.set_index("driver").loc[cols, "n"].tolist() == df[cols].notna().sum().tolist()
    )
    lw = sat.drivers(df, "y", cols, weight="w", n_boot=0, missing="listwise")
    complete = df.dropna(subset=cols)
    assert lw.n == len(complete)
    assert lw.r2 == pytest.approx(
        wls_r2(complete["y"].to_numpy(), complete[cols].to_numpy(), complete["w"].to_numpy()),
        abs=1e-12,
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 7),
    st.integers(0, 1000),
    st.sampled_from(["shapley", "relative_weights"]),
    st.sampled_from([0.0, 0.15]),
)
def test_importance_sums_to_r2(p, seed, method, missing):
    df = driver_data(n=150, p=p, seed=seed, missing=missing)
    cols = [f"d{j}" for j in range(p)]
    res = sat.drivers(df, "y", cols, weight="w", method=method, n_boot=0)
    assert res.summary["importance"].sum() == pytest.approx(res.r2, abs=1e-10)
    assert res.summary["share"].sum() == pytest.approx(1.0, abs=1e-10)
    assert (res.summary["importance"] >= -1e-12).all()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.01, 100.0), st.sampled_from(["shapley", "relative_weights"]))
def test_equal_weights_give_unweighted_importance(c, method):
    df = driver_data(n=200, p=4, seed=9, missing=0.1)
    cols = [f"d{j}" for j in range(4)]
    a = sat.drivers(df, "y", cols, method=method, n_boot=0).summary
    b = sat.drivers(df.assign(w=c), "y", cols, weight="w", method=method, n_boot=0).summary
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)


def test_bootstrap_intervals_are_seeded_and_cover():
    df = driver_data(n=300, p=4, seed=1)
    cols = [f"d{j}" for j in range(4)]
    a = sat.drivers(df, "y", cols, weight="w", cluster="cl", n_boot=60, seed=7)
    b = sat.drivers(df, "y", cols, weight="w", cluster="cl", n_boot=60, seed=7)
    c = sat.drivers(df, "y", cols, weight="w", cluster="cl", n_boot=60, seed=8)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert not np.allclose(a.summary["ci_low"], c.summary["ci_low"])
    s = a.summary
    assert (s["ci_low"] <= s["importance"]).all() and (s["importance"] <= s["ci_high"]).all()
    assert a.r2_ci[0] <= a.r2 <= a.r2_ci[1]
    assert len(a.replicates) == 60 * 4
    none = sat.drivers(df, "y", cols, n_boot=0)
    assert none.summary["ci_low"].isna().all() and none.replicates is None


def test_driver_result_display():
    df = driver_data(p=3)
    res = sat.drivers(df, "y", {"claim": "d0", "billing": "d1", "signup": "d2"}, n_boot=20)
    assert list(res.summary.columns) == [
        "driver",
        "importance",
        "share",
        "rank",
        "ci_low",
        "ci_high",
        "n",
    ]
    assert res.summary["rank"].tolist() == [1, 2, 3]
    assert set(res.summary["driver"]) == {"claim", "billing", "signup"}
    text = repr(res)
    assert "0x" not in text and text.startswith(
        "DriverResult: Shapley/LMG importance of 3 drivers of 'y'"
    )
    assert "<table" in res._repr_html_()


def test_driver_errors():
    df = driver_data(p=3)
    df["const"] = 2.0
    df["copy"] = df["d0"] * 2 + 1
    with pytest.raises(AnalysisError, match="'const' has no variance"):
        sat.drivers(df, "y", ["d0", "const"], n_boot=0)
    with pytest.raises(AnalysisError, match="singular"):
        sat.drivers(df, "y", ["d0", "copy", "d1"], n_boot=0)
    with pytest.raises(AnalysisError, match="limited to 16"):
        sat.drivers(
            pd.DataFrame(np.ones((5, 18)), columns=[f"c{i}" for i in range(18)]),
            "c0",
            [f"c{i}" for i in range(1, 18)],
        )
    with pytest.raises(AnalysisError, match="not in the data"):
        sat.drivers(df, "y", ["d0", "nope"])


# ---------------------------------------------------------------------------------------------
# penalty-reward contrast analysis
# ---------------------------------------------------------------------------------------------
def prca_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({k: rng.integers(1, 6, n).astype(float) for k in ("a", "b", "c", "d")})
    low = {k: (df[k] <= 2).astype(float) for k in df}
    high = {k: (df[k] >= 4).astype(float) for k in df}
    # a: basic (only a penalty), b: excitement (only a reward), c: performance (both), d: none
    df["overall"] = (
        3
        - 1.0 * low["a"]
        + 0.9 * high["b"]
        - 0.6 * low["c"]
        + 0.6 * high["c"]
        + rng.normal(0, 0.5, n)
    )
    df["w"] = rng.uniform(0.5, 2, n)
    return df


def test_penalty_reward_classifies_and_matches_wls():
    df = prca_data()
    out = sat.penalty_reward(df, "overall", ["a", "b", "c", "d"], weight="w")
    assert out.set_index("driver")["factor"].to_dict() == {
        "a": "basic",
        "b": "excitement",
        "c": "performance",
        "d": "unclear",
    }
    # coefficients: weighted least squares closed form; SEs: the linearisation sandwich
    # (X'WX)^-1 [n/(n-1) sum u u'] (X'WX)^-1, u_i = w_i x_i e_i (Binder 1983; Stata svy: regress)
    cols = []
    for k in "abcd":
        cols += [(df[k] <= 2).astype(float), (df[k] >= 4).astype(float)]
    x = np.column_stack([np.ones(len(df)), *cols])
    w, y = df["w"].to_numpy(), df["overall"].to_numpy()
    xtwx = x.T @ (x * w[:, None])
    beta = np.linalg.solve(xtwx, x.T @ (w * y))
    u = x * (w * (y - x @ beta))[:, None]
    n = len(df)
    meat = n / (n - 1) * (u - u.mean(0)).T @ (u - u.mean(0))
    cov = np.linalg.solve(xtwx, np.linalg.solve(xtwx, meat).T)
    se = np.sqrt(np.diag(cov))
    got = out.set_index("driver")
    for j, k in enumerate("abcd"):
        assert got.loc[k, "penalty"] == pytest.approx(beta[1 + 2 * j], abs=1e-9)
        assert got.loc[k, "reward"] == pytest.approx(beta[2 + 2 * j], abs=1e-9)
        assert got.loc[k, "penalty_se"] == pytest.approx(se[1 + 2 * j], rel=1e-6)
        assert got.loc[k, "reward_se"] == pytest.approx(se[2 + 2 * j], rel=1e-6)
    ia = got["impact_asymmetry"]
    assert ia["a"] < -0.5 and ia["b"] > 0.5 and abs(ia["c"]) < 0.2


# ---------------------------------------------------------------------------------------------
# Kano
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "f, d, expected",
    [  # Berger et al. (1993) evaluation table; 1 like, 2 must-be, 3 neutral, 4 live with, 5 dislike
        (1, 5, "one_dimensional"),
        (1, 2, "attractive"),
        (1, 3, "attractive"),
        (1, 4, "attractive"),
        (2, 5, "must_be"),
        (3, 5, "must_be"),
        (4, 5, "must_be"),
        (3, 3, "indifferent"),
        (2, 4, "indifferent"),
        (4, 2, "indifferent"),
        (1, 1, "questionable"),
        (5, 5, "questionable"),
        (5, 1, "reverse"),
        (2, 1, "reverse"),
        (5, 3, "reverse"),
        (4, 1, "reverse"),
    ],
)
def test_kano_table(f, d, expected):
    assert sat.kano_category([f], [d]).iloc[0] == expected


def test_kano_coefficients_by_hand():
    # 4 attractive, 3 one-dimensional, 2 must-be, 1 indifferent, 1 questionable, 1 unanswered
    f = [1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 1, np.nan]
    d = [3, 3, 3, 3, 5, 5, 5, 5, 5, 3, 1, 2]
    df = pd.DataFrame({"f": f, "d": d, "w": [2.0] * 4 + [1.0] * 8})
    out = sat.kano(df, [("claim", "f", "d")]).iloc[0]
    assert out["n"] == 11
    assert out["category"] == "attractive"
    assert out["cs_plus"] == pytest.approx((4 + 3) / (4 + 3 + 2 + 1))
    assert out["cs_minus"] == pytest.approx(-(3 + 2) / (4 + 3 + 2 + 1))
    assert out["questionable"] == pytest.approx(1 / 11)
    wout = sat.kano(df, {"claim": ("f", "d")}, weight="w").iloc[0]
    assert wout["cs_plus"] == pytest.approx((8 + 3) / (8 + 3 + 2 + 1))
    assert wout["attractive"] == pytest.approx(8 / 15)
    with pytest.raises(AnalysisError, match="must be 1-5"):
        sat.kano(df.assign(f=[7] + f[1:]), [("claim", "f", "d")])


def test_kano_ties_follow_m_o_a_i():
    df = pd.DataFrame({"f": [1, 3], "d": [3, 5]})  # one attractive, one must-be
    assert sat.kano(df, [("x", "f", "d")]).iloc[0]["category"] == "must_be"


# ---------------------------------------------------------------------------------------------
# importance-performance
# ---------------------------------------------------------------------------------------------
def test_importance_performance_quadrants():
    imp_t = pd.DataFrame({"driver": ["a", "b", "c", "d"], "importance": [0.30, 0.25, 0.05, 0.02]})
    perf = pd.DataFrame(
        {
            "touchpoint": ["a", "b", "c", "d"],
            "estimate": [3.5, 4.4, 4.5, 3.0],
            "ci_low": [3.3, 4.2, 4.3, 2.8],
            "ci_high": [3.7, 4.6, 4.7, 3.2],
        }
    )
    out = sat.importance_performance(imp_t, perf, targets={"a": 4.0, "b": 4.0, "c": 4.0, "d": 4.0})
    assert out.set_index("touchpoint")["quadrant"].to_dict() == {
        "a": "fix first",
        "b": "keep up",
        "c": "possible overkill",
        "d": "low priority",
    }
    assert out["gap"].tolist() == pytest.approx([-0.5, 0.4, 0.5, -1.0])
    # without targets: the reference is the mean performance (3.85)
    out = sat.importance_performance(imp_t, perf)
    assert out["reference"].tolist() == pytest.approx([3.85] * 4)
    assert set(out.columns) >= {
        "importance",
        "performance",
        "performance_low",
        "target",
        "quadrant",
    }
    with pytest.raises(AnalysisError, match="no touchpoint is in both"):
        sat.importance_performance(imp_t.assign(driver=list("wxyz")), perf)


def test_importance_performance_names_what_it_leaves_out():
    """A touchpoint in one table only is left out with a warning that names it and the table
    it lacks; by group, a (touchpoint, group) pair missing from one side is named the same way.
    Expected rows: the inner join of the two key sets, written out by hand."""
    from parcours_research.errors import DataQualityWarning

    imp_t = pd.DataFrame({"driver": ["a", "b", "c"], "importance": [0.3, 0.2, 0.1]})
    perf = pd.DataFrame({"touchpoint": ["b", "c", "d"], "estimate": [4.0, 3.0, 3.5]})
    with pytest.warns(DataQualityWarning) as rec:
        out = sat.importance_performance(imp_t, perf)
    assert out["touchpoint"].tolist() == ["b", "c"]
    (w,) = rec.list
    msg = str(w.message)
    assert "2 row(s) left out" in msg
    assert "with an importance but no score: 'a'" in msg
    assert "with a score but no importance: 'd'" in msg
    assert w.filename == __file__  # points at the caller, not inside the kit

    imp_g = pd.DataFrame({"touchpoint": ["a", "a", "b", "b"], "persona": ["x", "y", "x", "y"],
                          "importance": [0.3, 0.2, 0.1, 0.4]})
    perf_g = imp_g.drop(index=3).rename(columns={"importance": "estimate"})
    with pytest.warns(DataQualityWarning, match=r"importance but no score: 'b', persona='y'"):
        out = sat.importance_performance(imp_g, perf_g, by="persona")
    assert sorted(zip(out["touchpoint"], out["persona"])) == [("a", "x"), ("a", "y"), ("b", "x")]

    with warnings.catch_warnings():  # nothing left out: no warning
        warnings.simplefilter("error", DataQualityWarning)
        sat.importance_performance(imp_t, perf.assign(touchpoint=["a", "b", "c"]))


# ---------------------------------------------------------------------------------------------
# the sample study: planted effects are found
# ---------------------------------------------------------------------------------------------
def test_sample_study_scores_and_drivers(sample_study):
    study = sample_study
    truth = study.truth
    resp = study.responses.assign(weight=pr.weighting.rake(study).weights)
    long = sat.to_long(resp, columns=study.touchpoint_columns, keep=["persona", "weight"])
    sc = sat.scores(long, weight="weight")
    assert set(sc["touchpoint"]) == set(study.touchpoint_columns)
    assert sc["se"].gt(0).all()
    res = sat.drivers(
        resp,
        study.instrument.first("overall") or "overall_sat",
        study.touchpoint_columns,
        weight="weight",
        n_boot=30,
        seed=0,
    )
    rank = res.summary.set_index("driver")["rank"]
    assert max(rank[d] for d in truth["drivers"]) < min(rank[d] for d in truth["non_drivers"])
    ci_low = res.summary.set_index("driver")["ci_low"]
    ci_high = res.summary.set_index("driver")["ci_high"]
    assert min(ci_low[d] for d in truth["drivers"]) > max(ci_high[d] for d in truth["non_drivers"])
    overall = sat.scores(long, by=None, weight="weight")
    ipa = sat.importance_performance(res, overall, targets=study)
    assert len(ipa) == len(study.touchpoint_columns)
    kano = sat.kano(resp, study.instrument.kano_pairs(), weight="weight")
    assert set(kano["category"]) <= set(sat.KANO_CATEGORIES)


def test_share_with_no_success_anywhere_uses_clopper_pearson_edge():
    # no rating reaches the top two boxes: p = 0, and the Korn-Graubard interval falls back to
    # Clopper-Pearson with n (design effect 1), whose upper limit is 1 - (alpha/2)^(1/n)
    df = pd.DataFrame({"score": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 2.0], "g": list("aaabbbb")})
    out = sat.scores(df, touchpoint=None, by="g", metric="top2").set_index("g")
    for g, n in (("a", 3), ("b", 4)):
        assert out.loc[g, "estimate"] == 0.0
        assert out.loc[g, "ci_low"] == 0.0
        assert out.loc[g, "ci_high"] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)


def test_singleton_strata_error_and_rule():
    df = pd.DataFrame(
        {"score": [5.0, 4, 5, 1, 2, 3], "s": [1, 1, 2, 2, 3, 3], "c": [1, 1, 2, 2, 3, 4]}
    )
    with pytest.raises(AnalysisError, match="singleton='center'"):
        sat.scores(df, touchpoint=None, by=None, strata="s", cluster="c")
    out = sat.scores(df, touchpoint=None, by=None, strata="s", cluster="c", singleton="center")
    assert np.isfinite(out["se"]).all()
