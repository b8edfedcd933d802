"""What a friction costs (pr.outcomes.at_stake) and the planted churn effect (truth.json
``churn_effect``).

References: the adjusted difference and its standard error are checked against statsmodels'
OLS (used only here) on simulated data; the difference of means and the pooled two-sample
standard error against their closed forms; the bootstrap's percentile intervals by their
coverage on simulated studies with a known effect; the recovery on the session's
``recovery_studies`` (seeds 101, 303, 505 and a null one), never used to tune the analysis.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.outcomes import _bootstrap, adjusted_difference, null_se

N_BOOT = 499  # enough for 95% percentile intervals in the recovery tests


def _simulated(rng, n=400, effect=0.1):
    tenure = rng.integers(0, 25, n).astype(float)
    met = rng.random(n) < 0.3
    p = 0.05 + 0.15 * np.exp(-tenure / 4) + effect * met
    y = (rng.random(n) < p).astype(float)
    return y, met, tenure


# ---------------------------------------------------------------------------------------------
# the statistic
# ---------------------------------------------------------------------------------------------
def test_adjusted_difference_is_the_ols_coefficient_of_the_interacted_model():
    """Lin (2013): coefficient of met in y ~ met * (x - mean(x)); statsmodels OLS as reference."""
    smf = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(3)
    y, met, tenure = _simulated(rng)
    age = rng.normal(45, 10, len(y))
    df = pd.DataFrame(
        {"y": y, "met": met.astype(float), "t": tenure - tenure.mean(), "a": age - age.mean()}
    )
    fit = smf.ols("y ~ met * (t + a)", data=df).fit()
    x = np.column_stack([tenure, age])
    assert adjusted_difference(y, met, x) == pytest.approx(fit.params["met"], abs=1e-10)
    assert null_se(y, met, x) == pytest.approx(fit.bse["met"], rel=1e-9)  # classical (nonrobust) SE


def test_without_covariates_it_is_the_difference_of_means_and_the_pooled_se():
    """Closed forms: ybar1 - ybar0; sqrt(s_p^2 (1/n1 + 1/n0)) with the pooled variance."""
    rng = np.random.default_rng(4)
    y, met, _ = _simulated(rng)
    assert adjusted_difference(y, met) == pytest.approx(y[met].mean() - y[~met].mean(), abs=1e-12)
    n1, n0 = met.sum(), (~met).sum()
    sp2 = (((y[met] - y[met].mean()) ** 2).sum() + ((y[~met] - y[~met].mean()) ** 2).sum()) / (
        n1 + n0 - 2
    )
    assert null_se(y, met) == pytest.approx(np.sqrt(sp2 * (1 / n1 + 1 / n0)), rel=1e-9)


def test_bootstrap_percentile_intervals_cover_the_true_difference():
    """Simulation: 95% percentile intervals of the stratified bootstrap cover the planted
    difference (the adjusted difference's expectation) in about 95% of 150 studies, with the
    pseudo-customers of a binary outcome in the pools."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(150):
        y, met, tenure = _simulated(rng, n=300, effect=0.1)
        boot = _bootstrap(y, met, tenure[:, None], 300, rng, binary=True)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        hits += lo <= 0.1 <= hi
    assert 0.88 <= hits / 150 <= 0.99


def test_pseudo_customers_keep_a_small_group_without_events_uncertain():
    """10 met customers, none churned: without pseudo-customers every replicate of their mean
    is 0; with them the interval spans zero, and the pooled test does not flag the cell."""
    rng = np.random.default_rng(8)
    y = np.concatenate([np.zeros(10), (rng.random(200) < 0.1).astype(float)])
    met = np.arange(210) < 10
    x = np.empty((210, 0))
    lo, hi = np.quantile(_bootstrap(y, met, x, 999, rng, binary=True), [0.025, 0.975])
    assert lo < 0 < hi
    z = abs(adjusted_difference(y, met)) / null_se(y, met)
    assert z < 1.96


def test_bootstrap_replicates_are_weighted_refits():
    """Each replicate is the refit on a resample: with one resample drawn by hand, the batched
    normal equations give the same coefficient as adjusted_difference on the resampled rows."""
    rng = np.random.default_rng(5)
    y, met, tenure = _simulated(rng, n=120)
    boot = _bootstrap(y, met, tenure[:, None], 3, np.random.default_rng(9))
    # the same counts, drawn again
    r2 = np.random.default_rng(9)
    counts = np.zeros((3, len(y)), int)
    for grp in (met, ~met):
        idx = np.flatnonzero(grp)
        draws = r2.integers(0, len(idx), size=(3, len(idx)))  # uniform draws, counted
        counts[:, idx] = [np.bincount(row, minlength=len(idx)) for row in draws]
    rows = np.repeat(np.arange(len(y)), counts[0])
    # the covariate stays centred at the original sample's mean
    xc = tenure[rows] - tenure.mean()
    d = np.column_stack([np.ones(len(rows)), met[rows], xc, met[rows] * xc])
    beta = np.linalg.lstsq(d, y[rows], rcond=None)[0]
    assert boot[0] == pytest.approx(beta[1], abs=1e-9)


# ---------------------------------------------------------------------------------------------
# the sample study
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_result(sample_study):
    return pr.outcomes.at_stake(sample_study, outcome="churned", n_boot=N_BOOT, seed=1)


def test_bundled_sample_declares_outcomes_and_costs(sample_study):
    assert sample_study.outcomes == {"churned": "binary", "revenue": "amount"}
    c = sample_study.customers
    assert set(c["churned"].unique()) <= {0, 1} and c["revenue"].gt(0).all()
    truth = sample_study.truth["churn_effect"]
    assert (truth["persona"], truth["touchpoint"]) == ("senior", "id_verification")
    assert truth["difference"] > 0 and truth["churn_met"] > truth["churn_others"]


def test_result_object(sample_result):
    s = sample_result.summary
    assert list(s.columns) == pr.outcomes.SUMMARY_COLUMNS
    assert set(s["rule"]) <= {"traces", "survey"}
    assert (s.loc[s["touchpoint"] == "id_verification", "rule"] == "traces").all()
    text = repr(sample_result)
    assert "0x" not in text and "id_verification / senior" in text
    assert "<table" in sample_result._repr_html_()
    tested = s[s["p_value"].notna()]
    assert (tested["ci_low"] <= tested["ci_high"]).all()
    assert ((tested["n_met"] >= 10) & (tested["n"] - tested["n_met"] >= 10)).all()


def test_same_seed_same_result(sample_study, sample_result):
    again = pr.outcomes.at_stake(sample_study, n_boot=N_BOOT, seed=1)
    pd.testing.assert_frame_equal(again.summary, sample_result.summary)


def test_at_stake_amounts(sample_result):
    row = sample_result.summary.set_index(["touchpoint", "persona"]).loc[
        ("id_verification", "senior")
    ]
    assert row["excess_met"] == pytest.approx(row["n"] * (row["met_share"] - row["target_share"]))
    assert row["customers_at_stake"] == pytest.approx(row["excess_met"] * row["estimate"])
    assert (
        row["customers_at_stake_low"] <= row["customers_at_stake"] <= row["customers_at_stake_high"]
    )
    assert row["value_at_stake"] > 0


def test_revenue_and_per_touchpoint(sample_study):
    rev = pr.outcomes.at_stake(sample_study, outcome="revenue", n_boot=100, by=None)
    s = rev.summary
    assert (s["persona"] == "all").all() and len(s) == len(sample_study.journey.touchpoints)
    assert rev.kind == "amount"


def test_exposure_rules(sample_study):
    auto = pr.outcomes.exposure(sample_study)
    assert list(auto.columns) == ["customer_id", "touchpoint", "rule", "met"]
    assert not auto.duplicated(["customer_id", "touchpoint"]).any()
    survey = pr.outcomes.exposure(sample_study, met="survey")
    assert set(survey["rule"]) == {"survey"} and survey["touchpoint"].nunique() == 16
    either = pr.outcomes.exposure(sample_study, met="either")
    assert len(either) >= len(auto[auto["rule"] == "traces"])


def test_errors(sample_study):
    with pytest.raises(pr.errors.AnalysisError, match="not declared"):
        pr.outcomes.at_stake(sample_study, outcome="nps")
    with pytest.raises(ValueError, match="met="):
        pr.outcomes.at_stake(sample_study, met="sometimes")
    with pytest.raises(pr.errors.AnalysisError, match="n_boot"):
        pr.outcomes.at_stake(sample_study, n_boot=10)


def test_every_customer_is_accounted_for(sample_dir, tmp_path):
    """Customers left out are counted by reason and add up to the customer file. Expected
    counts: the rows edited below, by hand (9 customers without the outcome, then 4 others
    without the covariate); every other customer of the sample has both."""
    folder = tmp_path / "study"
    shutil.copytree(sample_dir, folder)
    path = folder / "crm" / "customers.csv"
    crm = pd.read_csv(path, dtype=str, keep_default_na=False)
    n = len(crm)
    crm.loc[:8, "churned"] = ""
    crm.loc[20:23, "tenure_years"] = ""
    crm.to_csv(path, index=False)
    res = pr.outcomes.at_stake(pr.load_study(folder), outcome="churned", n_boot=50,
                               adjust=["tenure_years"])
    got = res.customers.set_index("step")["customers"].to_dict()
    assert got == {"customer file": n, "no outcome": 9, "no persona": 0,
                   "no tenure_years": 4, "in the model": n - 13}
    assert f"{n - 13:,} of {n:,} customers in the model (9 no outcome, 4 no tenure_years)" in repr(res)
    from parcours_research.report_next_wave import _left_out

    assert _left_out(res, "en") == (
        f"13 of the customer file's {n:,} customers are left out: 9 without “churned”, "
        "4 without tenure_years."
    )
    assert _left_out(res, "fr").startswith("13 client(s) du fichier sur ")
    # no cell holds more customers than the model has
    assert res.summary.groupby("touchpoint")["n"].sum().max() <= n - 13


def test_study_yml_outcomes_are_validated(sample_dir, tmp_path):
    study = tmp_path / "s"
    shutil.copytree(sample_dir, study)
    yml = study / "study.yml"
    text = yml.read_text(encoding="utf-8")
    yml.write_text(re.sub(r"revenue: amount", "revenue: amout", text), encoding="utf-8")
    with pytest.raises(pr.StudyError, match="amount"):
        pr.load_study(study)
    yml.write_text(text, encoding="utf-8")
    crm = study / "crm" / "customers.csv"
    df = pd.read_csv(crm, dtype={"customer_id": str})
    df.loc[3, "churned"] = 2
    df.to_csv(crm, index=False)
    with pytest.raises(pr.StudyError, match="0 or 1"):
        pr.load_study(study)


# ---------------------------------------------------------------------------------------------
# recovery (seeds the analysis was not tuned on) and the null study
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [101, 303, 505])
def test_churn_effect_recovered(recovery_studies, seed):
    study = pr.load_study(recovery_studies[seed])
    truth = study.truth["churn_effect"]
    res = pr.outcomes.at_stake(study, outcome="churned", n_boot=N_BOOT, seed=seed)
    s = res.summary.set_index(["touchpoint", "persona"])
    cell = s.loc[(truth["touchpoint"], truth["persona"])]
    assert cell["estimate"] > 0 and cell["ci_low"] > 0, cell
    assert cell["flagged"]
    controls = s.drop(index=(truth["touchpoint"], truth["persona"]))
    assert not controls["flagged"].any(), controls[controls["flagged"]]


def test_null_study_flags_nothing(recovery_studies):
    study = pr.load_study(recovery_studies["null"])
    assert study.truth["churn_effect"] is None and "churned" in study.customers
    res = pr.outcomes.at_stake(study, outcome="churned", n_boot=N_BOOT, seed=404)
    assert not res.summary["flagged"].any()


def test_nothing_said_when_no_customer_is_left_out(sample_result):
    from parcours_research.report_next_wave import _left_out

    assert sample_result.customers["customers"].iloc[0] == sample_result.customers["customers"].iloc[-1]
    assert _left_out(sample_result, "en") is None


def test_report_section_without_outcomes_is_a_note(sample_study):
    """The report's section degrades to a note (not an error) for a study without outcomes."""
    from dataclasses import replace
    from types import SimpleNamespace

    from parcours_research.report_next_wave import s_at_stake

    sec = SimpleNamespace(title="", blocks=[])
    ctx = SimpleNamespace(study=replace(sample_study, outcomes={}), lang="en", n_boot=50, seed=0)
    s_at_stake(ctx, sec)
    assert sec.title == "What a friction costs"
    assert [b.kind for b in sec.blocks] == ["missing"] and "outcomes:" in sec.blocks[0].html
