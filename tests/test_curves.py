"""Persona journey curves (parcours_research.curves): estimates, bands, and the sample study."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats

import parcours_research as pr
from parcours_research.curves import CURVE_COLUMNS, bonferroni_critical, sup_t_critical
from parcours_research.errors import AnalysisError, StudyError


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def simulate(
    n=120, means=(3.0, 3.5, 4.0, 3.2, 3.8, 3.6), rho=0.5, missing=0.15, seed=0, personas=None
):
    """Long ratings with a respondent effect: corr(y_ij, y_ik) = rho within a respondent."""
    rng = np.random.default_rng(seed)
    J = len(means)
    u = rng.normal(0, np.sqrt(rho), n)
    e = rng.normal(0, np.sqrt(1 - rho), (n, J))
    y = np.asarray(means)[None, :] + u[:, None] + e
    df = pd.DataFrame(
        {
            "respondent_id": np.repeat([f"r{i:04d}" for i in range(n)], J),
            "touchpoint": np.tile([f"t{j}" for j in range(J)], n),
            "order": np.tile(np.arange(1, J + 1), n),
            "score": y.ravel(),
        }
    )
    if personas is not None:
        df["persona"] = np.repeat(rng.choice(personas, n), J)
    keep = rng.random(len(df)) >= missing
    return df[keep].reset_index(drop=True)


def equicorrelated_quantile(J: int, rho: float, level: float) -> float:
    """c with P(max_j |Z_j| <= c) = level, Z equicorrelated standard normal.

    Reference: the one-dimensional integral of Dunnett & Sobel (1955) / Tong (1990, eq. 8.2.4):
    Z_j = sqrt(rho) W + sqrt(1 - rho) E_j, so
    P = int phi(w) [Phi((c - sqrt(rho) w) / s) - Phi((-c - sqrt(rho) w) / s)]^J dw, s = sqrt(1 - rho).
    """
    s = np.sqrt(1 - rho)
    r = np.sqrt(rho)

    def prob(c):
        def f(w):
            inner = stats.norm.cdf((c - r * w) / s) - stats.norm.cdf((-c - r * w) / s)
            return stats.norm.pdf(w) * inner**J

        return integrate.quad(f, -9, 9, limit=200)[0]

    return optimize.brentq(lambda c: prob(c) - level, 0.5, 6)


# ---------------------------------------------------------------------------------------------
# critical values against closed forms
# ---------------------------------------------------------------------------------------------
def test_sup_t_independent_points_is_sidak():
    # Independent normal points: P(max |Z_j| <= c) = (2 Phi(c) - 1)^J, so c is Šidák's
    # critical value Phi^-1((1 + level^(1/J)) / 2) (Šidák 1967).
    rng = np.random.default_rng(1)
    J, level = 5, 0.95
    draws = rng.normal(size=(200_000, J)) * np.array([1, 2, 0.5, 3, 1.5]) + 10
    c = sup_t_critical(draws, estimates=np.full(J, 10.0), confidence=level)
    sidak = stats.norm.ppf((1 + level ** (1 / J)) / 2)
    assert c == pytest.approx(sidak, abs=0.02)


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_sup_t_equicorrelated_matches_integral(rho):
    rng = np.random.default_rng(2)
    J, level = 6, 0.9
    w = rng.normal(size=(200_000, 1))
    z = np.sqrt(rho) * w + np.sqrt(1 - rho) * rng.normal(size=(200_000, J))
    ref = equicorrelated_quantile(J, rho, level)
    assert sup_t_critical(z, estimates=np.zeros(J), confidence=level) == pytest.approx(ref, abs=0.02)
    # correlation lowers the critical value below Bonferroni's
    assert ref < bonferroni_critical(J, confidence=level)


def test_sup_t_ignores_missing_and_constant_points():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(20_000, 3))
    z[:50, 1] = np.nan  # a point without data in a few replicates
    z[:, 2] = 4.0  # a point without variance
    c = sup_t_critical(z, estimates=np.array([0.0, 0.0, 4.0]), confidence=0.95)
    sidak2 = stats.norm.ppf((1 + 0.95**0.5) / 2)
    assert c == pytest.approx(sidak2, abs=0.04)
    assert np.isnan(sup_t_critical(np.ones((10, 2)), confidence=0.95))
    with pytest.raises(AnalysisError):
        sup_t_critical(np.ones(5))


def test_bonferroni_closed_form():
    # z_{1 - 0.05 / (2 * 10)} and t_{0.9975, 30}: closed forms
    assert bonferroni_critical(10, confidence=0.95) == pytest.approx(stats.norm.ppf(1 - 0.05 / 20))
    assert bonferroni_critical(10, confidence=0.95, df=30) == pytest.approx(stats.t.ppf(1 - 0.05 / 20, 30))
    assert bonferroni_critical(1, confidence=0.95) == pytest.approx(1.959964, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# estimates against independent computations
# ---------------------------------------------------------------------------------------------
def test_estimates_are_weighted_means_and_domain_se():
    df = simulate(n=150, seed=4, personas=["a", "b"])
    rng = np.random.default_rng(5)
    w = pd.Series(
        rng.uniform(0.5, 2.0, df["respondent_id"].nunique()), index=df["respondent_id"].unique()
    )
    df["w"] = df["respondent_id"].map(w)
    out = pr.curves.journey_curves(df, weight="w", qual=False)
    assert list(out.columns) == list(CURVE_COLUMNS)
    for r in out.itertuples():
        g = df[(df.persona == r.persona) & (df.touchpoint == r.touchpoint)]
        assert r.estimate == pytest.approx(np.average(g.score, weights=g.w), rel=1e-12)
        assert r.n == len(g)
        # Kish (1965) effective sample size of the domain's weights
        assert r.n_eff == pytest.approx(g.w.sum() ** 2 / (g.w**2).sum(), rel=1e-12)
    # unweighted: Taylor linearisation of a domain mean with the respondent as the cluster
    # (Lumley 2010, Complex Surveys, sec. 2.3): se^2 = m/(m-1) * sum_d (y - ybar_d)^2 / n_d^2,
    # m = respondents in the design
    out = pr.curves.journey_curves(df, by=None, qual=False)
    m = df["respondent_id"].nunique()
    for r in out.itertuples():
        g = df[df.touchpoint == r.touchpoint]
        se = np.sqrt(m / (m - 1) * ((g.score - g.score.mean()) ** 2).sum()) / len(g)
        assert r.se == pytest.approx(se, rel=1e-9)
        # a Student t interval: svy takes the domain's degrees of freedom (n_d - 1), Stata's
        # subpop the design's (m - 1); either lies in between
        q = (r.ci_high - r.estimate) / se
        assert stats.t.ppf(0.975, m - 1) - 1e-9 <= q <= stats.t.ppf(0.975, r.n - 1) + 1e-9
        assert r.crit == pytest.approx(q)


def test_stage_level_is_mean_of_respondent_stage_scores(sample_study):
    out = pr.curves.journey_curves(sample_study, grain="stage", weight=None, qual=False)
    long = sample_study.ratings_long()
    per = long.groupby(["respondent_id", "persona", "stage"], as_index=False)["score"].mean()
    ref = per.groupby(["persona", "stage"])["score"].agg(["mean", "size"])
    tf = sample_study.journey.touchpoints_frame()
    for r in out.itertuples():
        assert r.estimate == pytest.approx(ref.loc[(r.persona, r.stage), "mean"], rel=1e-12)
        assert r.n == ref.loc[(r.persona, r.stage), "size"]
        assert r.target == pytest.approx(tf.loc[tf.stage == r.stage, "target_satisfaction"].mean())
        assert pd.isna(r.touchpoint)
    assert out.groupby("persona")["order"].apply(list).map(lambda o: o == sorted(o)).all()


def test_rake_uses_weighting_rake(sample_study):
    out = pr.curves.journey_curves(sample_study, weight="rake", qual=False)
    res = pr.weighting.rake(sample_study.responses, sample_study.margins)
    w = pd.Series(res.weights.to_numpy(), index=sample_study.responses["respondent_id"].astype(str))
    long = sample_study.ratings_long()
    long["w"] = long["respondent_id"].astype(str).map(w)
    r = out[(out.persona == "prudent") & (out.touchpoint == "claim")].iloc[0]
    g = long[(long.persona == "prudent") & (long.touchpoint == "claim")]
    assert r.estimate == pytest.approx(np.average(g.score, weights=g.w), rel=1e-9)
    assert r.n_eff < r.n


def test_dataframe_input_with_journey_equals_study_input(sample_study):
    a = pr.curves.journey_curves(sample_study, weight=None, qual=False)
    long = sample_study.ratings_long()
    b = pr.curves.journey_curves(long, journey=sample_study, qual=False)
    pd.testing.assert_frame_equal(a, b)
    assert set(b["weighting"]) == {"none"}


def test_study_default_is_raked_like_a_table_raked_to_the_same_margins(sample_study):
    # the study's rule rakes to study.yml's margins; a table raked to the same margins with
    # equal starting weights must give the same points (the raking is done twice, by
    # pr.weighting.study_weights and by the table path)
    a = pr.curves.journey_curves(sample_study, qual=False)
    assert set(a["weighting"]) == {"rake"}
    long = sample_study.ratings_long(keep=list(sample_study.margins))
    b = pr.curves.journey_curves(long, journey=sample_study, margins=sample_study.margins, qual=False)
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-9)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-9)


def test_workshop_ratings_format():
    # the long format of pr.ratings.ratings_long (a fourth evidence source)
    df = pd.DataFrame(
        {
            "respondent_id": ["P1", "P1", "P2", "P2", "P3"],
            "persona": ["x", "x", "x", "x", "x"],
            "touchpoint": ["a", "b", "a", "b", "a"],
            "score": [4, 2, 5, 3, 3],
            "source": "workshop",
            "session": "s1",
        }
    )
    out = pr.curves.journey_curves(df, qual=False)
    assert out["estimate"].tolist() == pytest.approx([4.0, 2.5])
    assert out["n"].tolist() == [3, 2]


# ---------------------------------------------------------------------------------------------
# bands
# ---------------------------------------------------------------------------------------------
def test_sup_t_between_pointwise_and_bonferroni_when_correlated():
    df = simulate(n=300, means=np.linspace(3, 4, 10), rho=0.8, missing=0.1, seed=6)
    kw = dict(by=None, qual=False, seed=1, n_boot=1000)
    pw = pr.curves.journey_curves(df, band="pointwise", **kw)
    sim = pr.curves.journey_curves(df, band="simultaneous", **kw)
    bon = pr.curves.journey_curves(df, band="bonferroni", **kw)
    w_pw = (pw.ci_high - pw.ci_low).to_numpy()
    w_sim = (sim.ci_high - sim.ci_low).to_numpy()
    w_bon = (bon.ci_high - bon.ci_low).to_numpy()
    assert np.all(w_sim > w_pw * 1.05)
    assert np.all(w_sim < w_bon * 0.97)
    np.testing.assert_allclose(sim.estimate, pw.estimate)
    assert sim["crit"].nunique() == 1 and bon["crit"].nunique() == 1


def test_simultaneous_coverage_by_simulation():
    """Over repeated samples, the sup-t band holds the whole true curve about level_ci of the
    time; the pointwise intervals, all at once, clearly less often."""
    means = np.array([3.0, 3.4, 3.9, 3.2, 3.7, 3.5])
    n_sim, hit_sim, hit_pw = 120, 0, 0
    for s in range(n_sim):
        df = simulate(n=100, means=means, rho=0.4, missing=0.1, seed=1000 + s)
        out = pr.curves.journey_curves(
            df, by=None, band="simultaneous", n_boot=199, seed=s, qual=False
        )
        truth = means[out["order"].to_numpy() - 1]
        hit_sim += bool(np.all((out.ci_low <= truth) & (truth <= out.ci_high)))
        q = stats.t.ppf(0.975, df["respondent_id"].nunique() - 1)
        hit_pw += bool(np.all(np.abs(out.estimate - truth) <= q * out.se))
    cov_sim, cov_pw = hit_sim / n_sim, hit_pw / n_sim
    # Monte Carlo standard error at 0.95 with 120 runs is 0.02: allow about 3 of them
    assert 0.88 <= cov_sim <= 1.0
    assert cov_pw < cov_sim - 0.05


def test_family_all_is_wider_than_group_and_seed_reproducible():
    df = simulate(n=200, seed=7, personas=["a", "b", "c"])
    g1 = pr.curves.journey_curves(df, band="simultaneous", n_boot=300, seed=3, qual=False)
    g2 = pr.curves.journey_curves(df, band="simultaneous", n_boot=300, seed=3, qual=False)
    pd.testing.assert_frame_equal(g1, g2)
    g3 = pr.curves.journey_curves(df, band="simultaneous", n_boot=300, seed=4, qual=False)
    assert not np.allclose(g1.crit, g3.crit)
    al = pr.curves.journey_curves(
        df, band="simultaneous", n_boot=300, seed=3, qual=False, family="all"
    )
    assert al["crit"].nunique() == 1
    assert (al["crit"].to_numpy() >= g1["crit"].to_numpy() - 1e-12).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    rho=st.floats(0.0, 0.9),
    band=st.sampled_from(["pointwise", "bonferroni", "simultaneous"]),
)
def test_band_invariants(seed, rho, band):
    df = simulate(
        n=40, means=(3, 4, 2.5, 3.5), rho=rho, missing=0.2, seed=seed, personas=["a", "b"]
    )
    df["target"] = 3.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pr.curves.journey_curves(df, band=band, n_boot=60, seed=seed, qual=False)
        pw = pr.curves.journey_curves(df, band="pointwise", qual=False)
    ok = out["se"].notna()
    assert (out.loc[ok, "ci_low"] <= out.loc[ok, "estimate"]).all()
    assert (out.loc[ok, "estimate"] <= out.loc[ok, "ci_high"]).all()
    # a simultaneous band contains the pointwise interval
    assert (out.loc[ok, "ci_low"] <= pw.loc[ok, "ci_low"] + 1e-12).all()
    assert (out.loc[ok, "ci_high"] >= pw.loc[ok, "ci_high"] - 1e-12).all()
    assert (out["below_target"] == (out["ci_high"] < out["target"])).all()
    np.testing.assert_allclose(out["gap"], out["estimate"] - out["target"])


# ---------------------------------------------------------------------------------------------
# the sample study (must show)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("band", ["pointwise", "simultaneous"])
def test_sample_senior_dips_at_id_verification_only(sample_study, band):
    truth = sample_study.truth["friction"][0]
    out = pr.curves.journey_curves(sample_study, weight="rake", band=band, n_boot=400, qual=False)
    at = out[out.touchpoint == truth["touchpoint"]].set_index("persona")
    row = at.loc[truth["persona"]]
    # the planted persona's curve dips at the touchpoint, its band excluding the target
    assert row.below_target and row.ci_high < row.target
    others = at.drop(index=truth["persona"])
    assert not others["below_target"].any()
    assert (row.estimate < others["estimate"] - 0.8).all()
    # and nowhere else is a whole band below target (loyalty_sms is at target for everyone)
    flagged = out.loc[out.below_target, ["persona", "touchpoint"]]
    assert flagged.values.tolist() == [[truth["persona"], truth["touchpoint"]]]
    assert not out.loc[
        out.touchpoint.isin(sample_study.truth["no_effect_touchpoints"]), "below_target"
    ].any()


def test_sample_columns_order_and_valence(sample_study):
    out = pr.curves.journey_curves(sample_study)
    assert list(out.columns) == list(CURVE_COLUMNS)
    assert out["persona"].unique().tolist() == sample_study.journey.persona_ids
    assert len(out) == 4 * 16
    assert out.groupby("persona")["order"].apply(list).map(lambda o: o == list(range(1, 17))).all()
    assert set(out.loc[out.moment_of_truth, "touchpoint"]) == set(
        sample_study.journey.moments_of_truth
    )
    # valence: the interviews' mean, as pr.qual.mean_valence computes it
    ex = pr.qual.read_excerpts(sample_study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mv = pr.qual.mean_valence(ex, by=["touchpoint", "persona"]).set_index(
            ["touchpoint", "persona"]
        )
    r = out[(out.persona == "senior") & (out.touchpoint == "id_verification")].iloc[0]
    assert r.valence == pytest.approx(mv.loc[("id_verification", "senior"), "estimate"])
    assert r.valence < 0 and r.n_excerpts > 0
    assert out.loc[out.n_excerpts == 0, "valence"].isna().all()
    # no valence when asked not to
    assert pr.curves.journey_curves(sample_study, qual=False)["valence"].isna().all()


def test_by_none_and_other_columns(sample_study):
    out = pr.curves.journey_curves(sample_study, by=None, qual=False)
    assert out["persona"].unique().tolist() == ["all"]
    reg = pr.curves.journey_curves(sample_study, by="region", qual=False, lang="en")
    assert "region" in reg.columns and "persona" not in reg.columns
    assert reg.attrs["by"] == "region"
    assert reg.loc[reg.touchpoint == "claim", "label"].iloc[0] == "Claim handling"
    sub = pr.curves.journey_curves(sample_study, groups=["senior"], qual=False)
    assert sub["persona"].unique().tolist() == ["senior"]


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_errors_list_every_problem(sample_study):
    with pytest.raises(StudyError, match="band="):
        pr.curves.journey_curves(sample_study, band="wide")
    with pytest.raises(StudyError, match="grain="):
        pr.curves.journey_curves(sample_study, grain="channel")
    with pytest.raises(AnalysisError) as e:
        pr.curves.journey_curves(
            sample_study, by="nope", weight="wgt", band="simultaneous", n_boot=10, confidence=1.5
        )
    text = str(e.value)
    for needle in ("'nope'", "'wgt'", "n_boot=10", "confidence=1.5"):
        assert needle in text
    assert len(e.value.problems) == 4
    df = simulate(n=20, seed=1)
    with pytest.raises(AnalysisError, match="margins"):
        pr.curves.journey_curves(df, by=None, weight="rake")
    with pytest.raises(AnalysisError, match="not in the data"):
        pr.curves.journey_curves(df.drop(columns="respondent_id"), by=None)
    with pytest.raises(AnalysisError, match="Study or a DataFrame"):
        pr.curves.journey_curves([1, 2, 3])
    with pytest.raises(AnalysisError, match="no respondent"):
        pr.curves.journey_curves(sample_study, groups=["martian"], qual=False)
    bad = df.assign(persona=np.where(np.arange(len(df)) % 2, "a", "b"))
    with pytest.raises(AnalysisError, match="changes within a respondent"):
        pr.curves.journey_curves(bad)


def test_stage_level_needs_stages():
    df = simulate(n=20, seed=1)
    with pytest.raises(AnalysisError, match="stage"):
        pr.curves.journey_curves(df, by=None, grain="stage", qual=False)


def test_cluster_and_strata_reach_the_design():
    # two ratings per cluster-mate: households (clusters) of 3 respondents in 2 strata
    rng = np.random.default_rng(8)
    n_h = 60
    hh = np.repeat(np.arange(n_h), 3)
    strata = np.where(hh < n_h // 2, "north", "south")
    y_resp = rng.normal(0, 1, n_h)[hh] + rng.normal(0, 0.5, len(hh))
    rows = []
    for i, (h, s_, base) in enumerate(zip(hh, strata, y_resp)):
        for tp in ("a", "b"):
            rows.append(
                {
                    "respondent_id": f"r{i}",
                    "hh": f"h{h}",
                    "st": s_,
                    "touchpoint": tp,
                    "score": 3 + base + rng.normal(0, 0.3),
                }
            )
    df = pd.DataFrame(rows)
    out = pr.curves.journey_curves(df, by=None, strata="st", cluster="hh", qual=False)
    # Taylor linearisation of a mean under a stratified cluster design (Cochran 1977, eq. 11.30;
    # Lumley 2010, sec. 2.2): se^2 = sum_h m_h/(m_h-1) sum_c (z_c - zbar_h)^2,
    # z_c = sum_{i in c} (y_i - ybar) / n
    for r in out.itertuples():
        g = df[df.touchpoint == r.touchpoint]
        z = ((g.score - g.score.mean()) / len(g)).groupby([g.st, g.hh]).sum()
        var = sum(
            len(zh) / (len(zh) - 1) * ((zh - zh.mean()) ** 2).sum() for _, zh in z.groupby(level=0)
        )
        assert r.se == pytest.approx(np.sqrt(var), rel=1e-9)
    flat = pr.curves.journey_curves(df, by=None, qual=False)
    assert (out["se"] > flat["se"] * 1.2).all()  # clustering matters here
    sim = pr.curves.journey_curves(
        df, by=None, strata="st", cluster="hh", band="simultaneous", n_boot=200, qual=False
    )
    # two almost perfectly correlated points: the sup-t value falls to the pointwise one
    bon = pr.curves.journey_curves(
        df, by=None, strata="st", cluster="hh", band="bonferroni", qual=False
    )
    assert (sim["crit"] >= out["crit"]).all() and (sim["crit"] < bon["crit"]).all()


def test_rake_a_dataframe_with_margins():
    df = simulate(n=200, seed=9, personas=["a", "b"])
    margins = {"persona": {"a": 0.3, "b": 0.7}}
    out = pr.curves.journey_curves(df, weight="rake", margins=margins, qual=False)
    resp = df.drop_duplicates("respondent_id")
    share_a = (resp.persona == "a").mean()
    # raking on persona alone gives every respondent of a persona the same weight, so the
    # persona curves equal the unweighted ones and n_eff = n
    plain = pr.curves.journey_curves(df, qual=False)
    np.testing.assert_allclose(out["estimate"], plain["estimate"], rtol=1e-12)
    np.testing.assert_allclose(out["n_eff"], out["n"], rtol=1e-9)
    # and the curve of everybody is reweighted to 30/70
    all_ = pr.curves.journey_curves(df, by=None, weight="rake", margins=margins, qual=False)
    tp = df[df.touchpoint == "t0"]
    w = np.where(tp.persona == "a", 0.3 / share_a, 0.7 / (1 - share_a))
    assert all_.loc[all_.touchpoint == "t0", "estimate"].iloc[0] == pytest.approx(
        np.average(tp.score, weights=w)
    )


def test_respondents_without_group_are_reported():
    df = simulate(n=60, seed=10, personas=["a", "b"])
    df.loc[df.respondent_id.isin(["r0000", "r0001"]), "persona"] = None
    with pytest.warns(pr.ParcoursWarning, match="2 respondent"):
        out = pr.curves.journey_curves(df, qual=False)
    assert set(out.persona) == {"a", "b"}
