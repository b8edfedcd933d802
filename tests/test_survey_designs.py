"""Survey designs at the level of R's survey package (issue 18).

References
----------
* The California API samples of R ``survey`` 4.5 (``tests/data/survey/``, see its README).
* ``api.Rout.saved``: R survey's saved test output ``tests/testoutput/api.Rout.saved``
  (``example(api)`` run twice: first with ``options(survey.replicates.mse=TRUE)``, then with
  ``FALSE``, R's default). Every number below is printed there, at the line quoted.
* ``rakecheck.Rout.save``: R survey's ``tests/rakecheck.Rout.save`` (raking and calibration of
  ``dclus1`` / ``rclus1``; ``survey.replicates.mse`` at its default, FALSE).
* Closed forms (stated in each test) and other libraries used only here (numpy quantiles,
  scipy contingency tables, statsmodels' ``multipletests`` and ``proportion_confint``, svy
  for the designs both describe).

Printed digits: R prints 5 significant digits for means and SEs (``662.29``, ``9.4089``) and
integers for totals; each check rounds our number the same way.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research._estimators import share_interval, weighted_quantile
from parcours_research.errors import AnalysisError, ParcoursWarning, WeightingError

DATA = Path(__file__).parent / "data" / "survey"
N_POP = (
    6194  # schools in apipop: 4421 E + 755 H + 1018 M (api.Rout.saved: "Population stratum sizes")
)
POP_TYPES = {"E": 4421 / N_POP, "H": 755 / N_POP, "M": 1018 / N_POP}
POP_SCHWIDE = {"No": 1072 / N_POP, "Yes": 5122 / N_POP}  # rakecheck.Rout.save, pop.schwide


@pytest.fixture(scope="module")
def apistrat():
    return pd.read_csv(DATA / "apistrat.csv")


@pytest.fixture(scope="module")
def apiclus1():
    return pd.read_csv(DATA / "apiclus1.csv")


@pytest.fixture(scope="module")
def apiclus2():
    return pd.read_csv(DATA / "apiclus2.csv")


def one(data, score, **kw):
    """The single row of an overall score."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        out = pr.satisfaction.scores(data, score, touchpoint=None, by=None, **kw)
    assert len(out) == 1
    return out.iloc[0]


def sig(x, digits=5):
    """``x`` to R's default print precision (``digits`` significant digits)."""
    return float(f"{x:.{digits}g}")


# ---------------------------------------------------------------------------------------------
# R's printed outputs on the api data
# ---------------------------------------------------------------------------------------------
def test_stratified_with_fpc(apistrat):
    # api.Rout.saved: dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc)
    #   svymean(~api00, dstrat): api00 662.29 9.4089
    #   svytotal(~enroll, dstrat, na.rm=TRUE): enroll 3687178 114642
    m = one(apistrat, "api00", weight="pw", strata="stype", fpc="fpc")
    assert (sig(m.estimate), sig(m.se)) == (662.29, 9.4089)
    t = one(apistrat, "enroll", metric="total", weight="pw", strata="stype", fpc="fpc")
    assert (round(t.estimate), round(t.se)) == (3687178, 114642)
    assert m.df == 197  # 200 schools - 3 strata


def test_one_stage_cluster_with_fpc(apiclus1):
    # api.Rout.saved: dclus1 <- svydesign(id=~dnum, weights=~pw, fpc=~fpc)
    #   svymean: api00 644.17 23.542 ; svytotal: enroll 3404940 932235
    m = one(apiclus1, "api00", weight="pw", cluster="dnum", fpc="fpc")
    assert (sig(m.estimate), sig(m.se)) == (644.17, 23.542)
    t = one(apiclus1, "enroll", metric="total", weight="pw", cluster="dnum", fpc="fpc")
    assert (round(t.estimate), round(t.se)) == (3404940, 932235)


def test_two_stage_with_fpc1_fpc2(apiclus2):
    # api.Rout.saved: dclus2 <- svydesign(id=~dnum+snum, fpc=~fpc1+fpc2) (no weights: implied)
    #   svymean: api00 670.81 30.099 ; svytotal(na.rm=TRUE): enroll 2639273 799638
    m = one(apiclus2, "api00", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert (sig(m.estimate), sig(m.se)) == (670.81, 30.099)
    t = one(apiclus2, "enroll", metric="total", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert (round(t.estimate), round(t.se)) == (2639273, 799638)
    # weights implied by the fpc: the product of population / sample sizes equals pw
    m_pw = one(apiclus2, "api00", weight="pw", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert m_pw.estimate == pytest.approx(m.estimate, rel=1e-6)


def test_two_stage_with_replacement(apiclus2):
    # api.Rout.saved: dclus2wr <- svydesign(id=~dnum+snum, weights=~pw)
    #   svymean: api00 670.81 30.712 ; svytotal: enroll 2639273 820261
    m = one(apiclus2, "api00", weight="pw", cluster=["dnum", "snum"])
    assert (sig(m.estimate), sig(m.se)) == (670.81, 30.712)
    t = one(apiclus2, "enroll", metric="total", weight="pw", cluster=["dnum", "snum"])
    assert (round(t.estimate), round(t.se)) == (2639273, 820261)


@pytest.mark.parametrize("mse, se", [(False, 26.329), (True, 26.335)])
def test_jk1_of_the_cluster_design(apiclus1, mse, se):
    # api.Rout.saved: rclus1 <- as.svrepdesign(dclus1) (JK1, fpc in the scale)
    #   mse=TRUE (first run): api00 644.17 26.335 ; mse=FALSE (second run): 644.17 26.329
    #   svytotal(~enroll, rclus1): enroll 3404940 932235 (both runs)
    kw = dict(weight="pw", cluster="dnum", fpc="fpc", variance="jk1", mse=mse)
    m = one(apiclus1, "api00", **kw)
    assert (sig(m.estimate), sig(m.se)) == (644.17, se)
    t = one(apiclus1, "enroll", metric="total", **kw)
    assert (round(t.estimate), round(t.se)) == (3404940, 932235)
    assert m.df == 14  # rank of 15 replicates - 1


def test_user_supplied_replicate_weights(apiclus1):
    # the JK1 replicates of dclus1 written out as columns, as a national survey ships them
    d = apiclus1.copy()
    psus = d["dnum"].unique()
    n = len(psus)
    for i, c in enumerate(psus):
        d[f"rep{i:02d}"] = np.where(d["dnum"] == c, 0.0, d["pw"] * n / (n - 1))
    scale = (757 - n) / 757 * (n - 1) / n  # R's jk1weights: fpc * (n - 1) / n
    m = one(d, "api00", weight="pw", replicate_weights="rep", variance="jk1", replicate_scale=scale)
    assert sig(m.se) == 26.329  # api.Rout.saved, second run (mse=FALSE)


def test_post_stratified_cluster_design(apiclus1):
    # api.Rout.saved: dclus1p <- postStratify(dclus1, ~stype, pop.types)
    #   svymean: api00 642.31 23.921 ; svytotal: enroll 3680893 406293
    #   rclus1p (JK1): second run (mse=FALSE) api00 642.31 26.934, enroll 3680893 473431
    ps = pr.weighting.post_stratify(
        apiclus1, margins={"stype": POP_TYPES}, weight="pw", total=N_POP
    )
    m = one(apiclus1, "api00", weight=ps, cluster="dnum", fpc="fpc")
    # our SE is 23.92049 (the closed form below agrees to 1e-12); R printed 23.921 in 2014,
    # i.e. a value >= 23.9205: 1.4e-5 (6e-7 relative) apart, less than one printed unit. The
    # total and the replicate SEs of the same design match R's digits exactly.
    assert sig(m.estimate) == 642.31
    assert m.se == pytest.approx(23.921, abs=6e-4)
    w_ps = ps.weights
    cell_mean = apiclus1.groupby("stype")["api00"].transform("mean")
    z = (w_ps * (apiclus1["api00"] - cell_mean) / w_ps.sum()).groupby(apiclus1["dnum"]).sum()
    k = len(z)
    closed = np.sqrt((1 - k / 757) * k / (k - 1) * ((z - z.mean()) ** 2).sum())
    assert m.se == pytest.approx(closed, rel=1e-10)
    t = one(apiclus1, "enroll", metric="total", weight=ps, cluster="dnum", fpc="fpc")
    assert (round(t.estimate), round(t.se)) == (3680893, 406293)
    kw = dict(weight=ps, cluster="dnum", fpc="fpc", variance="jk1")
    # ours 26.93454, R (2014) 26.934: the same sub-unit gap as the Taylor SE above
    assert one(apiclus1, "api00", **kw).se == pytest.approx(26.934, abs=6e-4)
    assert round(one(apiclus1, "enroll", metric="total", **kw).se) == 473431
    # the post-stratified weights: design weight times N_h / N^_h (closed form)
    w = (
        apiclus1["pw"]
        * apiclus1["stype"].map({k: v * N_POP for k, v in POP_TYPES.items()})
        / apiclus1.groupby("stype")["pw"].transform("sum")
    )
    np.testing.assert_allclose(ps.weights.to_numpy(), w.to_numpy(), rtol=1e-10)


def test_raked_cluster_design(apiclus1):
    # rakecheck.Rout.save: dclus1r <- rake(dclus1, list(~stype, ~sch.wide), ...)
    #   svymean: api00 641.23 23.704 ; svytotal: enroll 3647280 400603
    #   rclus1r (JK1, mse=FALSE): api00 641.23 26.874 ; enroll 3647280 463582
    r = pr.weighting.rake(
        apiclus1, {"stype": POP_TYPES, "sch.wide": POP_SCHWIDE}, weight="pw", total=N_POP
    )
    m = one(apiclus1, "api00", weight=r, cluster="dnum", fpc="fpc")
    assert (sig(m.estimate), sig(m.se)) == (641.23, 23.704)
    t = one(apiclus1, "enroll", metric="total", weight=r, cluster="dnum", fpc="fpc")
    assert (round(t.estimate), round(t.se)) == (3647280, 400603)
    kw = dict(weight=r, cluster="dnum", fpc="fpc", variance="jk1")
    assert (sig(one(apiclus1, "api00", **kw).se)) == 26.874
    assert round(one(apiclus1, "enroll", metric="total", **kw).se) == 463582
    # the same printed numbers for calibrate(calfun="raking") (rakecheck.Rout.save, dclus1g)
    g = pr.weighting.calibrate(
        apiclus1,
        margins={"stype": POP_TYPES, "sch.wide": POP_SCHWIDE},
        weight="pw",
        total=N_POP,
        method="raking",
    )
    np.testing.assert_allclose(g.weights.to_numpy(), r.weights.to_numpy(), rtol=1e-7)
    assert sig(one(apiclus1, "api00", weight=g, cluster="dnum", fpc="fpc").se) == 23.704


def test_calibration_reduces_the_variance_it_explains(apiclus1):
    # raking on stype explains part of enroll: the calibration-aware SE is below the
    # fixed-weight SE of the same weights (R's dclus1p 406293 vs the fixed weights)
    ps = pr.weighting.post_stratify(
        apiclus1, margins={"stype": POP_TYPES}, weight="pw", total=N_POP
    )
    d = apiclus1.assign(w=ps.weights)
    fixed = one(d, "enroll", metric="total", weight="w", cluster="dnum", fpc="fpc")
    aware = one(d, "enroll", metric="total", weight=ps, cluster="dnum", fpc="fpc")
    assert fixed.estimate == pytest.approx(aware.estimate)
    assert aware.se < fixed.se


# ---------------------------------------------------------------------------------------------
# the engine against svy, where both describe the design
# ---------------------------------------------------------------------------------------------
def test_engine_matches_svy_on_plain_designs(apistrat, apiclus1):
    # the same design through svy (plain path) and the kit's engine (singleton='adjust' routes
    # it there; no stratum is lonely, so the rule changes nothing)
    for data, kw in (
        (apiclus1, dict(weight="pw", cluster="dnum")),
        (apistrat, dict(weight="pw", strata="stype")),
    ):
        for metric in ("mean", "top2"):
            d = data.assign(r=np.clip(np.round(data["api00"] / 200), 1, 5))
            a = pr.satisfaction.scores(d, "r", touchpoint=None, by="sch.wide", metric=metric, **kw)
            b = pr.satisfaction.scores(
                d, "r", touchpoint=None, by="sch.wide", metric=metric, singleton="adjust", **kw
            )
            cols = ["estimate", "se", "ci_low", "ci_high"]
            np.testing.assert_allclose(b[cols].to_numpy(float), a[cols].to_numpy(float), rtol=1e-9)
            assert list(a["df"]) == list(b["df"])


def test_single_stage_fpc_through_svy_matches_the_engine(apistrat):
    # svy's pop_size (used by rao_scott and the friction tests) against the engine
    from parcours_research._design import svy_sample

    sample = svy_sample(
        apistrat[["api00", "pw", "stype", "fpc"]],
        weight="pw",
        strata="stype",
        cluster=None,
        fpc="fpc",
    )
    res = sample.estimation.mean("api00").to_polars().to_pandas()
    assert sig(float(res["se"].iloc[0])) == 9.4089  # api.Rout.saved, dstrat


def test_sampling_fractions_equal_population_sizes(apistrat):
    d = apistrat.assign(frac=apistrat.groupby("stype")["fpc"].transform(lambda s: 0))
    d["frac"] = d.groupby("stype")["stype"].transform("size") / d["fpc"]
    a = one(apistrat, "api00", weight="pw", strata="stype", fpc="fpc")
    b = one(d, "api00", weight="pw", strata="stype", fpc="frac")
    assert b.se == pytest.approx(a.se, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# replicate methods: closed forms
# ---------------------------------------------------------------------------------------------
def _paired(seed=1, strata=12):
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(strata):
        for c in range(2):
            for _i in range(int(rng.integers(2, 6))):
                rows.append((h, f"{h}-{c}", float(rng.uniform(1, 4)), float(rng.normal(3, 1))))
    return pd.DataFrame(rows, columns=["h", "psu", "w", "y"])


@pytest.mark.parametrize("fay", [0.0, 0.5])
def test_brr_and_fay_equal_taylor_for_totals(fay):
    # for a total, balanced repeated replication (full orthogonal balance) and Fay's variant
    # give exactly the with-replacement linearisation variance: sum_h (t_h1 - t_h2)^2
    d = _paired()
    kw = dict(metric="total", weight="w", strata="h", cluster="psu")
    taylor = one(d, "y", **kw)
    brr = one(d, "y", variance="brr", fay=fay, **kw)
    tot = (d["w"] * d["y"]).groupby([d["h"], d["psu"]]).sum()
    diff = tot.groupby(level=0).agg(lambda s: s.iloc[0] - s.iloc[1])
    closed = float(np.sqrt((diff**2).sum()))
    assert taylor.se == pytest.approx(closed, rel=1e-12)
    assert brr.se == pytest.approx(closed, rel=1e-10)


def test_replicate_df_is_the_rank_minus_one(apistrat):
    # R's degf.svyrep.design: qr(weights)$rank - 1; the jackknife's is known in closed form
    # (clusters - strata + 1, as a stratum's columns sum to a constant): against numpy's rank
    from parcours_research._replicates import make_replicates
    from parcours_research._variance import build_design

    d = build_design(apistrat, weight="pw", strata="stype", cluster=[], fpc=["fpc"])
    reps = make_replicates(d, "jkn")
    assert reps.df == np.linalg.matrix_rank(reps.weights) - 1 == 197  # 200 schools - 3 strata
    boot = make_replicates(d, "bootstrap", n_boot=50, seed=1)
    assert boot.df == np.linalg.matrix_rank(boot.weights) - 1


def test_jkn_equals_taylor_for_totals_with_fpc(apistrat):
    # the delete-one jackknife of a total is exactly the linearisation (with the fpc in rscales)
    kw = dict(metric="total", weight="pw", strata="stype", fpc="fpc")
    assert one(apistrat, "enroll", variance="jkn", **kw).se == pytest.approx(114641.716, rel=1e-8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(3, 30),
    frac=st.floats(0.05, 0.95),
    seed=st.integers(0, 10_000),
)
def test_fpc_invariants(n, frac, seed):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"y": rng.normal(size=n), "f": frac, "census": 1.0, "N": float(n), "w": 1.0})
    srs = one(d, "y", metric="total", weight="w")
    fpc = one(d, "y", metric="total", fpc="f", weight="w")
    # the with-replacement variance times (1 - f): R's onestrat scale f * n / (n - 1)
    assert fpc.se == pytest.approx(srs.se * np.sqrt(1 - frac), rel=1e-10, abs=1e-12)
    # a census has no sampling variance, given as a fraction (1) or a population size (n)
    assert one(d, "y", metric="total", fpc="census").se == 0
    assert one(d, "y", metric="total", fpc="N").se == 0
    # without weights, the fpc implies them: N / n = 1 / f (R's weights(fpc))
    implied = one(d, "y", metric="total", fpc="f")
    assert implied.estimate == pytest.approx(d["y"].sum() / frac)
    # JK1 of a total equals the linearisation, fpc included
    jk = one(d, "y", metric="total", fpc="f", variance="jk1", weight="w")
    assert jk.se == pytest.approx(fpc.se, rel=1e-9, abs=1e-12)


def test_bootstrap_is_close_to_taylor_on_a_large_sample():
    rng = np.random.default_rng(3)
    n = 400
    d = pd.DataFrame(
        {
            "h": rng.integers(0, 4, n),
            "psu": rng.integers(0, 40, n),
            "w": rng.uniform(1, 3, n),
            "y": rng.normal(3, 1, n),
        }
    )
    d["psu"] = d["h"].astype(str) + "-" + d["psu"].astype(str)
    kw = dict(weight="w", strata="h", cluster="psu")
    taylor = one(d, "y", **kw)
    boot = one(d, "y", variance="bootstrap", n_boot=200, seed=7, **kw)
    # Monte Carlo error of a bootstrap SE with B = 200 is about 1 / sqrt(2B) = 5%
    assert boot.se == pytest.approx(taylor.se, rel=0.2)


def test_brr_needs_two_clusters_per_stratum(apistrat):
    with pytest.raises(AnalysisError, match="two clusters"):
        one(apistrat, "api00", weight="pw", strata="stype", variance="brr")


def test_jk1_refuses_strata(apistrat):
    with pytest.raises(AnalysisError, match="unstratified"):
        one(apistrat, "api00", weight="pw", strata="stype", variance="jk1")


# ---------------------------------------------------------------------------------------------
# ratio and quantile
# ---------------------------------------------------------------------------------------------
def test_ratio_closed_form(apiclus1):
    # svyratio's linearisation: z_i = w_i (a_i - R b_i) / sum(w b); one-stage clusters,
    # V = (1 - f) n / (n - 1) sum_c (z_c - zbar)^2 (written out here with pandas)
    d = apiclus1
    r = one(d, "api00", metric="ratio", denominator="api99", weight="pw", cluster="dnum", fpc="fpc")
    ratio = (d.pw * d.api00).sum() / (d.pw * d.api99).sum()
    z = d.pw * (d.api00 - ratio * d.api99) / (d.pw * d.api99).sum()
    zc = z.groupby(d.dnum).sum()
    n = len(zc)
    var = (1 - n / 757) * n / (n - 1) * ((zc - zc.mean()) ** 2).sum()
    assert r.estimate == pytest.approx(ratio, rel=1e-12)
    assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)
    # a ratio to a column of ones is the mean
    m = one(
        d.assign(one=1.0),
        "api00",
        metric="ratio",
        denominator="one",
        weight="pw",
        cluster="dnum",
        fpc="fpc",
    )
    assert (sig(m.estimate), sig(m.se)) == (644.17, 23.542)


def test_quantile_matches_numpy_and_woodruff_closed_form():
    rng = np.random.default_rng(11)
    y = np.round(rng.exponential(10, 301), 1)
    d = pd.DataFrame({"t": y})
    q = one(d, "t", metric="quantile", quantile=0.5)
    # point: R's qrule="math" is the inverse of the empirical distribution function
    assert q.estimate == np.quantile(y, 0.5, method="inverted_cdf")
    # Woodruff (interval.type="mean"): p^ = share of y <= median, SRS SE sqrt(p^(1-p^)/(n-1)),
    # t with n - 1 df, limits mapped back through the inverse distribution function
    from scipy import stats

    n = len(y)
    p = np.mean(y <= q.estimate)
    h = stats.t.ppf(0.975, n - 1) * np.sqrt(p * (1 - p) / (n - 1))
    lo = np.quantile(y, p - h, method="inverted_cdf")
    hi = np.quantile(y, p + h, method="inverted_cdf")
    assert (q.ci_low, q.ci_high) == (lo, hi)
    assert q.se == pytest.approx((hi - lo) / (2 * stats.t.ppf(0.975, n - 1)))


def test_weighted_quantile_rule():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    w = np.array([1.0, 1.0, 1.0, 1.0])
    assert weighted_quantile(x, w, 0.5) == 2.0  # F(2) = 0.5 reaches p exactly
    assert weighted_quantile(x, w, 0.51) == 3.0
    assert weighted_quantile(x, np.array([1.0, 5.0, 1.0, 1.0]), 0.5) == 1.0


def test_quantile_with_a_design(apiclus2):
    q = one(apiclus2, "api00", metric="quantile", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert q.ci_low < q.estimate < q.ci_high


# ---------------------------------------------------------------------------------------------
# shares at 0 and 1, and intervals against svy
# ---------------------------------------------------------------------------------------------
def test_share_intervals_exist_at_zero_and_one():
    from scipy import stats

    d = pd.DataFrame({"score": [5, 5, 4, 5, 5, 1, 2, 3, 1, 2], "persona": ["a"] * 5 + ["b"] * 5})
    t2 = stats.t.ppf(0.975, 4) ** 2
    for ci, upper in (
        ("wilson", t2 / (5 + t2)),  # Wilson on n with t(df = 4): t^2 / (n + t^2)
        ("beta", 1 - 0.025 ** (1 / 5)),  # exact Clopper-Pearson: 1 - (alpha/2)^(1/n)
        ("logit", 1 - 0.025 ** (1 / 5)),
        ("korn-graubard", 1 - 0.025 ** (1 / 5)),
    ):
        out = pr.satisfaction.scores(d, touchpoint=None, metric="top2", ci=ci).set_index("persona")
        assert out.loc["b", "ci_low"] == 0 and out.loc["b", "ci_high"] == pytest.approx(upper)
        assert out.loc["a", "ci_high"] == 1 and out.loc["a", "ci_low"] == pytest.approx(1 - upper)


@pytest.mark.parametrize("method", ["wilson", "beta", "logit", "korn-graubard"])
def test_share_interval_matches_svy_inside(method):
    # svy is the reference here

    from svy.estimation.base import Estimation

    for p, se, df, n in ((0.3, 0.05, 40, 120), (0.08, 0.02, 12, 60), (0.9, 0.03, 99, 100)):
        # svy's private helper (its methods used here are static: the class stands for self)
        ref = Estimation._compute_prop_ci(Estimation, p, se, 0.05, df, n, method)
        assert share_interval(p, se, df, n, method, 0.95) == pytest.approx(ref, rel=1e-10)


def test_zero_domain_df_warns():
    d = pd.DataFrame(
        {
            "score": [1.0, 2, 3, 4, 5, 2],
            "g": ["a", "a", "a", "b", "b", "b"],
            "c": [1, 1, 1, 2, 3, 4],
        }
    )
    with pytest.warns(ParcoursWarning, match="0 design degrees of freedom"):
        out = pr.satisfaction.scores(
            d, touchpoint=None, by="g", cluster="c", fpc=None, singleton="adjust"
        )
    row = out.set_index("g").loc["a"]
    assert row["df"] == 0 and np.isnan(row["ci_low"])


# ---------------------------------------------------------------------------------------------
# lonely PSUs (R's options(survey.lonely.psu=, survey.adjust.domain.lonely=))
# ---------------------------------------------------------------------------------------------
def _lonely():
    # stratum 3 has a single PSU
    return pd.DataFrame(
        {
            "h": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3],
            "c": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
            "y": [2.0, 3, 4, 4, 1, 2, 5, 5, 3, 4],
        }
    )


def test_lonely_psu_rules():
    d = _lonely()
    kw = dict(metric="total", strata="h", cluster="c")
    with pytest.raises(AnalysisError, match="one PSU"):
        one(d, "y", singleton="fail", **kw)
    # closed forms: cluster totals t_hc; each stratum 2 (t1 - t2)^2 / 2 ... = (t1 - t2)^2
    t = d.groupby(["h", "c"])["y"].sum()
    base = (t[1][1] - t[1][2]) ** 2 + (t[2][3] - t[2][4]) ** 2
    assert one(d, "y", singleton="remove", **kw).se ** 2 == pytest.approx(base)
    assert one(d, "y", singleton="certainty", **kw).se ** 2 == pytest.approx(base)
    # average: the lonely stratum gets the mean of the others: base * 3 / 2
    assert one(d, "y", singleton="average", **kw).se ** 2 == pytest.approx(base * 3 / 2)
    # adjust: the lonely PSU is centred on the grand mean of PSU totals (total / 5 PSUs)
    adj = base + (t[3][5] - d["y"].sum() / 5) ** 2
    assert one(d, "y", singleton="adjust", **kw).se ** 2 == pytest.approx(adj)


@pytest.mark.parametrize(
    "rule, taylor, jkn",
    [
        ("remove", 5.8058, 5.8058),
        ("certainty", 5.8058, 5.8058),
        ("adjust", 5.8281, 5.8267),
        ("average", 6.0096, 5.8217),
    ],
)
def test_lonely_psu_rules_match_r(apiclus1, rule, taylor, jkn):
    # R survey's tests/lonely.psu.Rout.save: ds <- svydesign(id=~1, weights=~pw, strata=~dnum,
    # data=apiclus1) (stratum 413 has one school); options(survey.lonely.psu=rule);
    # svymean(~api00, ds) and svymean(~api00, as.svrepdesign(ds)) (JKn)
    kw = dict(weight="pw", strata="dnum", singleton=rule)
    assert sig(one(apiclus1, "api00", **kw).se) == taylor
    assert sig(one(apiclus1, "api00", variance="jkn", **kw).se) == jkn


@pytest.mark.parametrize("rule", ["fail", "remove", "adjust", "average"])
def test_a_certainty_stratum_is_not_lonely(apiclus1, rule):
    # lonely.psu.Rout.save: fpc <- ifelse(apiclus1$dnum == 413, 1, 1000): stratum 413 is a
    # census, so no rule applies: 644.17 5.7344 for every rule, Taylor and JKn
    d = apiclus1.assign(f=np.where(apiclus1["dnum"] == 413, 1, 1000))
    kw = dict(weight="pw", strata="dnum", fpc="f", singleton=rule)
    assert sig(one(d, "api00", **kw).se) == 5.7344
    assert sig(one(d, "api00", variance="jkn", **kw).se) == 5.7344


def test_lonely_psu_inside_a_domain():
    d = _lonely().assign(g=["a", "a", "b", "b", "a", "a", "b", "b", "a", "b"])
    kw = dict(touchpoint=None, by="g", metric="total", strata="h", cluster="c", singleton="adjust")
    with pytest.warns(ParcoursWarning, match="0 design degrees of freedom"):
        plain = pr.satisfaction.scores(d, "y", **kw).set_index("g")
    with pytest.warns(ParcoursWarning) as caught:
        adj = pr.satisfaction.scores(d, "y", domain_singleton=True, **kw).set_index("g")
    assert any("only one PSU" in str(w.message) for w in caught)
    assert adj.loc["a", "estimate"] == plain.loc["a", "estimate"]
    assert adj.loc["a", "se"] != pytest.approx(plain.loc["a", "se"])


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
def test_linear_calibration_meets_the_totals(apiclus1):
    res = pr.weighting.calibrate(
        apiclus1,
        margins={"stype": POP_TYPES},
        totals={"api99": 3_914_069.0},
        weight="pw",
        total=N_POP,
    )
    w = res.weights
    assert w.sum() == pytest.approx(N_POP)
    assert (w * apiclus1["api99"]).sum() == pytest.approx(3_914_069.0)
    for k, v in POP_TYPES.items():
        assert w[apiclus1["stype"] == k].sum() == pytest.approx(v * N_POP)
    # GREG with these constraints: g = 1 + x'lambda (closed form by least squares)
    x = np.column_stack(
        [(apiclus1["stype"] == k).to_numpy(float) for k in POP_TYPES] + [apiclus1["api99"]]
    )
    w0 = apiclus1["pw"].to_numpy()
    t = np.array([v * N_POP for v in POP_TYPES.values()] + [3_914_069.0])
    lam = np.linalg.solve(x.T @ (x * w0[:, None]), t - x.T @ w0)
    np.testing.assert_allclose(res.adjustment.to_numpy(), 1 + x @ lam, rtol=1e-9)
    assert "CalibrationResult" in repr(res)


def test_logit_calibration_keeps_the_bounds(apiclus1):
    res = pr.weighting.calibrate(
        apiclus1,
        margins={"stype": POP_TYPES, "sch.wide": POP_SCHWIDE},
        weight="pw",
        total=N_POP,
        method="logit",
        bounds=(0.7, 1.7),
    )
    g = res.adjustment
    assert res.converged and g.min() > 0.7 and g.max() < 1.7
    with pytest.raises(WeightingError, match="bounds"):
        pr.weighting.calibrate(apiclus1, margins={"stype": POP_TYPES}, method="logit")


def test_calibrated_weights_must_match_the_rows(apiclus1):
    ps = pr.weighting.post_stratify(apiclus1, margins={"stype": POP_TYPES}, weight="pw")
    with pytest.raises(WeightingError, match="do not match"):
        one(apiclus1.iloc[:50], "api00", weight=ps, cluster="dnum")


# ---------------------------------------------------------------------------------------------
# plumbing: rao_scott, drivers, friction survey tests, journey curves
# ---------------------------------------------------------------------------------------------
def test_rao_scott_statistics(apistrat):
    from scipy.stats import chi2_contingency

    d = apistrat
    r = pr.friction.rao_scott(d, "stype", "sch.wide")  # unweighted simple random sample
    n = len(d)
    pearson = chi2_contingency(pd.crosstab(d["stype"], d["sch.wide"]), correction=False)[0]
    assert r["pearson"] == pytest.approx(pearson, rel=1e-9)
    assert r["chisq"] == r["pearson"]  # the old name keeps its value
    # with-replacement linearisation of a simple random sample: every generalised design
    # effect is n / (n - 1), so the first-order statistic is X^2 (n - 1) / n
    assert r["chisq_rs"] == pytest.approx(pearson * (n - 1) / n, rel=1e-6)
    f = pr.friction.rao_scott(d, "stype", "sch.wide", weight="pw", strata="stype", fpc="fpc")
    g = pr.friction.rao_scott(d, "stype", "sch.wide", weight="pw", strata="stype")
    assert f["f"] > g["f"]  # the fpc shrinks the variances: a larger F
    assert "first-order corrected" in repr(f)


def test_drivers_fpc_narrows_the_bootstrap(apistrat):
    d = apistrat
    kw = dict(weight="pw", strata="stype", n_boot=200, seed=3)
    a = pr.satisfaction.drivers(d, "api00", ["api99", "meals", "ell"], **kw)
    b = pr.satisfaction.drivers(d, "api00", ["api99", "meals", "ell"], fpc="fpc", **kw)
    wa = (a.summary["ci_high"] - a.summary["ci_low"]).sum()
    wb = (b.summary["ci_high"] - b.summary["ci_low"]).sum()
    assert a.r2 == b.r2 and wb < wa


def test_friction_and_curves_accept_fpc():
    resp = pd.DataFrame(
        {
            "respondent_id": range(40),
            "persona": ["a", "b"] * 20,
            "sat_x": [1, 2, 3, 4, 5] * 8,
            "sat_y": [2, 3, 4, 5, 5] * 8,
            "N": 50,
        }
    )
    plain = pr.friction.test_survey(
        resp,
        columns={"x": "sat_x", "y": "sat_y"},
        targets={"x": 3},
        tests=["vs_target"],
        weight=None,
    )
    fpc = pr.friction.test_survey(
        resp,
        columns={"x": "sat_x", "y": "sat_y"},
        targets={"x": 3},
        tests=["vs_target"],
        weight=None,
        fpc="N",
    )
    assert (fpc["ci_high"] - fpc["ci_low"]).iloc[0] < (plain["ci_high"] - plain["ci_low"]).iloc[0]
    long = pr.satisfaction.to_long(resp, keep=["persona", "N"])
    c0 = pr.curves.journey_curves(long, by="persona", weight=None, band="pointwise")
    c1 = pr.curves.journey_curves(long, by="persona", weight=None, band="pointwise", fpc="N")
    assert (c1["ci_high"] - c1["ci_low"]).sum() < (c0["ci_high"] - c0["ci_low"]).sum()


# ---------------------------------------------------------------------------------------------
# multiple comparisons and trace rates
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, method", [("sidak", "sidak"), ("hochberg", "simes-hochberg"), ("hommel", "hommel")]
)
def test_new_corrections(name, method):
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.001, 0.012, 0.02, 0.04, 0.3, 0.7])
    t = pd.DataFrame({"p_value": p, "family": "f"})
    out = pr.friction.correct(t, correction=name)
    np.testing.assert_allclose(out["p_adj"], multipletests(p, method=method)[1])


def test_hochberg_and_hommel_match_r_p_adjust():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "hochberg") -> all 0.05 (step-up: the
    # largest p bounds every adjusted p); "hommel" -> 0.05 0.05 0.05 0.05 0.05 as well
    p = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    t = pd.DataFrame({"p_value": p, "family": "f"})
    for name in ("hochberg", "hommel"):
        np.testing.assert_allclose(pr.friction.correct(t, correction=name)["p_adj"], 0.05)


@pytest.mark.parametrize("ci, method", [("agresti-coull", "agresti_coull"), ("wilson", "wilson")])
def test_pyramid_rate_intervals(ci, method):
    from statsmodels.stats.proportion import proportion_confint

    from parcours_research.traces.pyramid import _rate_intervals

    t = pd.DataFrame(
        {
            "entered": pd.array([10, 0, 25], dtype="Int64"),
            "reached": pd.array([0, 0, 25], dtype="Int64"),
            "ci_low": np.nan,
            "ci_high": np.nan,
            "method": "x",
        }
    )
    out = _rate_intervals(t.copy(), ci, 0.9)
    lo, hi = proportion_confint(np.array([0, 25]), np.array([10, 25]), alpha=0.1, method=method)
    np.testing.assert_allclose(out.loc[[0, 2], "ci_low"], np.clip(lo, 0, 1))
    np.testing.assert_allclose(out.loc[[0, 2], "ci_high"], np.clip(hi, 0, 1))
    assert np.isnan(out.loc[1, "ci_low"])


def test_study_yml_fpc_reaches_the_analyses(tmp_path):
    import shutil

    import yaml

    root = tmp_path / "study"
    shutil.copytree(pr.datasets.sample_dir(), root)
    resp = pd.read_csv(root / "survey" / "responses.csv")
    resp["N"] = 2000.0  # the CRM's customers: 800 of 2,000 surveyed
    resp.to_csv(root / "survey" / "responses.csv", index=False)
    cfg = yaml.safe_load((root / "study.yml").read_text(encoding="utf-8"))
    cfg["survey"]["fpc"] = "N"
    (root / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    study = pr.load_study(root)
    assert study.survey.fpc == "N"
    ev = pr.prepare(study)
    assert ev.design["fpc"] == "N" and "N" in ev.ratings.columns
    kw = dict(tests=["vs_target"], persona=None)
    from_study = pr.friction.test_survey(study, **kw)
    targets = dict(zip(from_study["touchpoint"], from_study["reference"]))
    resp = ev.responses  # the study's weights in column "weight"
    same = pr.friction.test_survey(resp, weight="weight", fpc="N", targets=targets, **kw)
    without = pr.friction.test_survey(resp, weight="weight", targets=targets, **kw)
    np.testing.assert_allclose(from_study["ci_low"], same["ci_low"], rtol=1e-10)
    width = (same["ci_high"] - same["ci_low"]) / (without["ci_high"] - without["ci_low"])
    # t quantiles barely move (df 799): the width shrinks by about sqrt(1 - n / N)
    assert width.to_numpy() == pytest.approx(np.sqrt(1 - 800 / 2000), rel=0.02)
