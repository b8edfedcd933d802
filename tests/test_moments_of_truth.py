"""Moments of truth from the data (issue 19, item 2): ``pr.satisfaction.moments_of_truth``.

Independent references:

* the design-based regression of the peak–end test against statsmodels ``WLS`` (used only
  here): same coefficients; its heteroscedasticity-consistent (HC0) / cluster-robust covariance
  times ``m / (m - 1)`` is the with-replacement Taylor variance of R ``svyglm`` (m PSUs; R's
  ``onestrat`` scales by ``n_h / (n_h - 1)``); its Wald F test against statsmodels'
  ``wald_test`` with that covariance;
* simulated data with known coefficients (the regression) and known Shapley importances
  (independent drivers: the Shapley part of R² is ``b_j^2 var(x_j) / var(y)``, a closed form);
* the importance point estimates against the kit's ``drivers`` (the one definition);
* the decision rule on hand-built cases;
* recovery of the planted ``undeclared_moment_of_truth`` on the ``recovery_studies`` seeds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research import moments as mo
from parcours_research._design import bootstrap_weights
from parcours_research._variance import build_design
from parcours_research.errors import AnalysisError

sm = pytest.importorskip("statsmodels.api")


# ---------------------------------------------------------------------------------------------
# decision rule, hand-built
# ---------------------------------------------------------------------------------------------
def test_verdicts_table():
    declared = [True, True, False, False, True, False]
    driver = [True, False, True, False, False, False]
    judged = [True, True, True, True, False, False]
    got = mo.verdicts(declared, driver, judged).tolist()
    assert got == [
        "confirmed",
        "declared, not a driver",
        "undeclared driver",
        "not a driver",
        "too few ratings",
        "too few ratings",
    ]
    assert set(got) <= set(mo.VERDICTS)


def test_excess_pvalues_closed_form():
    point = np.array([0.30, 0.10, 0.05, 0.05])  # mean 0.125
    reps = np.tile(point, (99, 1))
    reps[:9, 0] = 0.05  # 9 replicates where driver 0 sits below the replicate mean
    p = mo.excess_pvalues(point, reps)
    # (1 + #{excess* <= 0}) / (B + 1); drivers at or below the mean get 1
    assert p[0] == pytest.approx((1 + 9) / 100)
    assert p[1:].tolist() == [1.0, 1.0, 1.0]
    reps[:, 0] = 0.5
    assert mo.excess_pvalues(point, reps)[0] == pytest.approx(1 / 100)


def test_benjamini_hochberg_skips_untested_cells():
    from statsmodels.stats.multitest import multipletests

    p = pd.Series([0.01, np.nan, 0.04, 0.03])
    got = mo._bh(p)
    want = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    assert np.isnan(got[1]) and np.allclose(got[[0, 2, 3]], want)


# ---------------------------------------------------------------------------------------------
# design-based regression against statsmodels
# ---------------------------------------------------------------------------------------------
def _regression_data(n=400, seed=3, clusters=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (
        1.0
        + 0.8 * x[:, 0]
        + 0.3 * x[:, 1]
        + 0.0 * x[:, 2]
        + rng.normal(0, 1 + 0.5 * np.abs(x[:, 0]))
    )
    frame = pd.DataFrame({"w": rng.uniform(0.5, 2.0, n), "g": rng.integers(0, 4, n)})
    if clusters:
        frame["psu"] = rng.integers(0, clusters, n)
    return y, np.column_stack([np.ones(n), x]), frame


def test_design_wls_matches_statsmodels_hc0():
    y, x, frame = _regression_data()
    n = len(y)
    design = build_design(frame, weight="w", strata=None, cluster=[], fpc=[])
    fit = mo.design_wls(y, x, design, np.ones(n, dtype=bool))
    ref = sm.WLS(y, x, weights=frame["w"]).fit(cov_type="HC0")
    np.testing.assert_allclose(fit["beta"], ref.params, rtol=1e-10)
    np.testing.assert_allclose(fit["cov"], ref.cov_params() * n / (n - 1), rtol=1e-8)
    assert fit["df"] == n - 1 + 1 - 4
    # weighted R² as statsmodels reports it (centred, weighted)
    assert fit["r2"] == pytest.approx(ref.rsquared, rel=1e-9)


def test_design_wls_domain_and_clusters_match_statsmodels():
    y, x, frame = _regression_data(clusters=40)
    n = len(y)
    dom = frame["g"].to_numpy() < 2
    design = build_design(frame, weight="w", strata=None, cluster=[], fpc=[])
    fit = mo.design_wls(y, x, design, dom)
    ref = sm.WLS(y[dom], x[dom], weights=frame["w"][dom]).fit(cov_type="HC0")
    np.testing.assert_allclose(fit["beta"], ref.params, rtol=1e-10)
    # a domain: the rows outside add zero scores but count among the n PSUs
    np.testing.assert_allclose(fit["cov"], ref.cov_params() * n / (n - 1), rtol=1e-8)
    clustered = build_design(frame, weight="w", strata=None, cluster=["psu"], fpc=[])
    fit = mo.design_wls(y, x, clustered, np.ones(n, dtype=bool))
    m = frame["psu"].nunique()
    ref = sm.WLS(y, x, weights=frame["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": frame["psu"].to_numpy(), "use_correction": False}
    )
    np.testing.assert_allclose(fit["cov"], ref.cov_params() * m / (m - 1), rtol=1e-8)
    assert fit["df"] == m - 1 + 1 - 4


def test_peak_end_wald_f_matches_statsmodels():
    y, x, frame = _regression_data(n=300, seed=5)
    n = len(y)
    design = build_design(frame, weight="w", strata=None, cluster=[], fpc=[])
    row = mo._peak_end_row("all", y, x, design, np.ones(n, dtype=bool), 0.95)
    ref = sm.WLS(y, x, weights=frame["w"]).fit(cov_type="HC0")
    cov = ref.cov_params() * n / (n - 1)
    r = np.zeros((2, 4))
    r[0, 2] = r[1, 3] = 1.0
    wald = ref.wald_test(r, cov_p=cov, use_f=True, scalar=True)
    assert row["f_stat"] == pytest.approx(float(wald.statistic), rel=1e-8)
    assert row["df_num"] == 2 and row["df_den"] == n - 4
    from scipy import stats

    assert row["p_value"] == pytest.approx(stats.f.sf(row["f_stat"], 2, n - 4))


def test_peak_end_recovers_known_coefficients_by_simulation():
    """overall = 0.5 + 0.6 mean + 0.3 worst + 0 last + noise: the intervals cover the truth,
    the F test finds the worst rating; with 0 for worst and last it rejects at about 5%."""
    rng = np.random.default_rng(11)
    covered, rejected_null = 0, 0
    sims = 60
    for _ in range(sims):
        n = 300
        mean = rng.normal(3.8, 0.6, n)
        worst = mean - rng.gamma(2.0, 0.5, n)
        last = mean + rng.normal(0, 0.7, n)
        frame = pd.DataFrame({"w": rng.uniform(0.5, 2, n)})
        x = np.column_stack([np.ones(n), mean, worst, last])
        design = build_design(frame, weight="w", strata=None, cluster=[], fpc=[])
        y = 0.5 + 0.6 * mean + 0.3 * worst + rng.normal(0, 0.5, n)
        row = mo._peak_end_row("all", y, x, design, np.ones(n, dtype=bool), 0.95)
        covered += row["worst_ci_low"] <= 0.3 <= row["worst_ci_high"]
        assert row["p_value"] < 0.01
        y0 = 0.5 + 0.9 * mean + rng.normal(0, 0.5, n)
        rejected_null += (
            mo._peak_end_row("all", y0, x, design, np.ones(n, bool), 0.95)["p_value"] < 0.05
        )
    assert covered >= 0.85 * sims
    assert rejected_null <= 0.15 * sims


def test_respondent_profile():
    long = pd.DataFrame(
        {
            "respondent_id": ["a", "a", "a", "b", "b"],
            "touchpoint": ["t1", "t3", "t2", "t1", "t2"],
            "order": [1, 3, 2, 1, 2],
            "score": [4.0, 2.0, 5.0, 3.0, np.nan],
        }
    )
    prof = mo.respondent_profile(long)
    assert prof.loc["a"].tolist() == [3, pytest.approx(11 / 3), 2.0, 2.0]  # last = order 3
    assert prof.loc["b"].tolist() == [1, 3.0, 3.0, 3.0]


# ---------------------------------------------------------------------------------------------
# importance: one definition, intervals and the excess test by simulation
# ---------------------------------------------------------------------------------------------
def _independent_drivers(n, b, rng):
    x = rng.normal(size=(n, len(b)))
    y = x @ np.asarray(b) + rng.normal(size=n)
    return pd.DataFrame(np.column_stack([y, x]), columns=["y", *[f"d{j}" for j in range(len(b))]])


def test_importance_intervals_cover_the_closed_form():
    """Independent standard normal drivers: Shapley part of R² = b_j^2 / (sum b^2 + 1)."""
    b = np.array([0.8, 0.4, 0.0])
    truth = b**2 / (np.sum(b**2) + 1)
    rng = np.random.default_rng(2)
    hits = np.zeros(3)
    sims = 40
    for s in range(sims):
        x = _independent_drivers(400, b, rng)
        w = rng.uniform(0.8, 1.25, len(x))
        reps = bootstrap_weights(w, 200, seed=s)
        cols = ["d0", "d1", "d2"]
        tab = mo._outcome_table(x, w, reps, cols, cols, 0.95, "shapley")
        hits += (tab["ci_low"] <= truth) & (truth <= tab["ci_high"])
    # the null driver's interval sits on the boundary (an R² part is >= 0): checked on the others
    assert (hits[:2] >= 0.85 * sims).all()


def test_excess_test_holds_its_level_with_equal_drivers():
    """Four drivers of equal importance: none stands out; the one-sided test rejects for about
    5% of (driver, sample) pairs at most."""
    rng = np.random.default_rng(4)
    rejections, tests = 0, 0
    for s in range(30):
        x = _independent_drivers(300, [0.4, 0.4, 0.4, 0.4], rng)
        w = np.ones(len(x))
        cols = ["d0", "d1", "d2", "d3"]
        tab = mo._outcome_table(
            x, w, bootstrap_weights(w, 200, seed=s), cols, cols, 0.95, "shapley"
        )
        rejections += int((tab["p_value"] < 0.05).sum())
        tests += 4
    assert rejections <= 0.09 * tests
    # and a driver that stands out is found
    x = _independent_drivers(300, [0.9, 0.3, 0.3, 0.3], rng)
    tab = mo._outcome_table(x, w, bootstrap_weights(w, 200, seed=1), cols, cols, 0.95, "shapley")
    assert tab.loc[0, "p_value"] < 0.01 and (tab.loc[1:, "p_value"] > 0.05).all()


@pytest.fixture(scope="module")
def sample_moments(sample_study):
    return pr.satisfaction.moments_of_truth(sample_study, n_boot=400, seed=1)


def test_importance_is_the_kits_drivers(sample_study):
    """Point importance per group = ``pr.satisfaction.drivers`` on that group's responses."""
    from parcours_research.errors import ParcoursWarning

    with pytest.warns(ParcoursWarning, match="n_boot=20"):  # too few replicates for a p-value
        res = pr.satisfaction.moments_of_truth(sample_study, by=None, n_boot=20, min_share=0.9)
    judged = res.summary[res.summary["verdict"] != "too few ratings"]
    ev = pr.prepare(sample_study)
    cols = {t: sample_study.touchpoint_columns[t] for t in judged["touchpoint"]}
    ref = pr.satisfaction.drivers(ev.responses, "overall_sat", cols, weight="weight", n_boot=0)
    want = ref.summary.set_index("driver")["importance"]
    np.testing.assert_allclose(
        judged.set_index("touchpoint")["importance"], want[judged["touchpoint"]], rtol=1e-10
    )
    assert set(judged["persona"]) == {"all"}


# ---------------------------------------------------------------------------------------------
# the bundled sample and the result object
# ---------------------------------------------------------------------------------------------
def test_bundled_sample_verdicts(sample_moments, sample_study):
    truth = sample_study.truth
    planted = truth["undeclared_moment_of_truth"]
    assert planted == {
        "persona": "prudent",
        "touchpoint": "billing",
        "coefficient": 0.65,
        "outcome": "overall_sat",
        "declared": False,
    }
    s = sample_moments.summary.set_index(["persona", "touchpoint"])
    assert s.loc[("prudent", "billing"), "verdict"] == "undeclared driver"
    flagged = s[s["driver"]]
    assert set(flagged.index.get_level_values("touchpoint")) <= set(truth["drivers"]) | {"billing"}
    # claim is declared and a driver, app_usage a driver nobody declared (verdicts consistent)
    assert set(flagged.loc[flagged.index.get_level_values(1) == "claim", "verdict"]) <= {
        "confirmed"
    }
    assert set(flagged.loc[flagged.index.get_level_values(1) == "app_usage", "verdict"]) == {
        "undeclared driver"
    }
    declared = {t.id for t in sample_study.journey.touchpoints if t.moment_of_truth}
    assert set(s.loc[s["declared"]].index.get_level_values(1)) == declared


def test_result_object(sample_moments):
    res = sample_moments
    assert list(res.summary.columns) == mo.SUMMARY_COLUMNS
    assert list(res.peak_end.columns) == mo.PEAK_END_COLUMNS
    assert res.peak_end["persona"].iloc[-1] == "all"
    text = repr(res)
    assert text.startswith("MomentsResult: 16 touchpoints x 4 groups") and "0x" not in text
    assert repr(res) == text and "<table" in res._repr_html_()
    assert (res.verdicts("undeclared driver")["verdict"] == "undeclared driver").all()
    ok = res.summary.dropna(subset=["importance"])
    assert (
        (ok["ci_low"] <= ok["importance"]) & (ok["importance"] <= ok["ci_high"] + 1e-12)
    ).mean() > 0.9
    with pytest.raises(ValueError):
        res.verdicts("driver")


def test_figure(sample_moments, sample_study):
    import matplotlib.pyplot as plt

    fig = pr.plot.moments_of_truth(sample_moments, journey=sample_study, lang="en")
    grid, peak = fig.axes
    labels = [t.get_text() for t in grid.get_yticklabels()]
    assert "★ Claim handling" in labels and "Billing" in labels
    assert [t.get_text() for t in peak.get_yticklabels()][-1] == "all"
    cells = {t.get_text() for t in grid.texts}
    assert "23%" in cells or any(c.endswith("%") for c in cells)
    plt.close(fig)
    fig = pr.plot.moments_of_truth(sample_moments.summary, journey=sample_study)
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(AnalysisError, match="moments_of_truth"):
        pr.plot.moments_of_truth(pd.DataFrame({"a": [1]}))


def test_arguments_are_checked(sample_study):
    with pytest.raises(TypeError):
        pr.satisfaction.moments_of_truth(sample_study, "persona")
    with pytest.raises(AnalysisError, match="n_boot"):
        pr.satisfaction.moments_of_truth(sample_study, n_boot=5)
    with pytest.raises(AnalysisError, match="confidence"):
        pr.satisfaction.moments_of_truth(sample_study, confidence=95)
    with pytest.raises(AnalysisError, match="nope"):
        pr.satisfaction.moments_of_truth(sample_study, by="nope", n_boot=20)
    with pytest.raises(AnalysisError, match="loaded study"):
        pr.satisfaction.moments_of_truth(pd.DataFrame({"a": [1]}))


# ---------------------------------------------------------------------------------------------
# the plant
# ---------------------------------------------------------------------------------------------
def test_plant_draw_avoids_the_other_effects():
    from parcours_research import _plant_moments as pm
    from parcours_research import sample

    declared = {t[0] for t in sample.TOUCHPOINTS if t[5]}
    for seed in range(1, 40):
        eff = sample.draw_effects(seed)
        spec = pm.draw(seed, "seed", eff)
        taken = (
            {t for t, _ in eff.drivers}
            | set(eff.non_drivers)
            | set(eff.no_effect)
            | {f.touchpoint for f in eff.frictions}
            | declared
        )
        assert spec["touchpoint"] not in taken
        assert spec["persona"] in pm.personas()
        assert pm.COEFFICIENT_RANGE[0] <= spec["coefficient"] <= pm.COEFFICIENT_RANGE[1]
        assert spec == pm.draw(seed, "seed", eff)  # its own stream: reproducible
    assert pm.draw(0, "bundled", sample.BUNDLED)["touchpoint"] == "billing"
    resp = pd.DataFrame({"_persona": ["prudent", "senior"]})
    shift = pm.overall_shift(pm.BUNDLED, resp, {"billing": np.array([1.0, 1.0])})
    assert shift.tolist() == [0.65, 0.0]


# ---------------------------------------------------------------------------------------------
# recovery on seeds the analysis was not tuned on
# ---------------------------------------------------------------------------------------------
_CACHE: dict = {}


def _moments(path):
    if path not in _CACHE:
        _CACHE[path] = pr.satisfaction.moments_of_truth(pr.load_study(path), n_boot=400, seed=0)
    return _CACHE[path]


@pytest.mark.parametrize("seed", [101, 303, 505])
def test_planted_moment_of_truth_is_recovered(recovery_studies, seed):
    path = recovery_studies[seed]
    truth = json.loads((path / "truth.json").read_text(encoding="utf-8"))
    planted = truth["undeclared_moment_of_truth"]
    s = _moments(path).summary.set_index(["persona", "touchpoint"])
    row = s.loc[(planted["persona"], planted["touchpoint"])]
    assert row["verdict"] == "undeclared driver"
    assert row["excess"] > 0 and row["ci_low"] > 0 and row["p_adj"] < 0.05
    # controls: no other cell is flagged, except the study's global drivers (consistently)
    others = s.drop(index=(planted["persona"], planted["touchpoint"]))
    flagged = others[others["driver"]]
    assert set(flagged.index.get_level_values("touchpoint")) <= set(truth["drivers"]), flagged
    want = np.where(flagged["declared"], "confirmed", "undeclared driver")
    assert (flagged["verdict"].to_numpy() == want).all()


def test_null_study_flags_nothing(recovery_studies):
    path = recovery_studies["null"]
    assert (
        json.loads((path / "truth.json").read_text(encoding="utf-8"))["undeclared_moment_of_truth"]
        is None
    )
    res = _moments(path)
    assert not res.summary["driver"].any() and not res.summary["nps_driver"].any()
    assert not res.summary["verdict"].isin(["confirmed", "undeclared driver"]).any()
    assert not res.peak_end["peak_end"].any()
