"""Tests of parcours_research.weighting (raking, trimming, Kish).

References: a plain iterative proportional fitting written below (Deming & Stephan 1940,
level by level with pandas), svy's raking (another library, used only here), and Kish's closed
forms (Kish 1965, Survey Sampling, 11.7).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research.errors import ParcoursWarning, WeightingError


# ---------------------------------------------------------------------------------------------
# an independent reference: plain IPF, one level at a time
# ---------------------------------------------------------------------------------------------
def plain_ipf(data, margins, start=None, tol=1e-13, max_iter=10_000):
    """Deming-Stephan raking written the textbook way (loops over levels, pandas masks)."""
    w = pd.Series(1.0 if start is None else start, index=data.index, dtype=float)
    total = w.sum()
    for _ in range(max_iter):
        w_before = w.copy()
        for col, shares in margins.items():
            for level, share in shares.items():
                rows = data[col].astype(str) == str(level)
                w[rows] = w[rows] * (share * total / w[rows].sum())
        if (w - w_before).abs().max() < tol:
            break
    return w


def make_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "persona": rng.choice(
                ["connecte", "prudent", "senior", "explorateur"], n, p=[0.45, 0.3, 0.1, 0.15]
            ),
            "region": rng.choice(["idf", "north", "south", "west", "east"], n),
            "age_band": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),  # integer levels
            "design_w": rng.uniform(0.5, 3.0, n),
        },
        index=pd.Index(rng.permutation(n) + 1000, name="rid"),  # a non-default index
    )


MARGINS = {
    "persona": {"connecte": 0.352, "prudent": 0.2925, "senior": 0.206, "explorateur": 0.1495},
    "region": {"idf": 0.2215, "north": 0.1785, "south": 0.258, "west": 0.202, "east": 0.14},
    "age_band": {"1": 0.4, "2": 0.35, "3": 0.25},  # string keys (YAML) for integer data
}


def weighted_shares(data, w, col):
    return w.groupby(data[col].astype(str)).sum() / w.sum()


# ---------------------------------------------------------------------------------------------
# agreement with the references
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", [None, "design_w"])
def test_rake_equals_plain_ipf_on_three_margins(start):
    data = make_data()
    res = pr.weighting.rake(data, MARGINS, weight=start, tol=1e-13)
    ref = plain_ipf(data, MARGINS, None if start is None else data[start])
    assert res.converged
    assert res.weights.index.equals(data.index)
    np.testing.assert_allclose(res.weights.to_numpy(), ref.to_numpy(), rtol=1e-8, atol=0)


def test_rake_equals_svy_rake():
    # svy (MIT, the maintained successor of samplics) as a second, library reference
    import polars as pl
    import svy

    data = make_data(seed=3)
    res = pr.weighting.rake(data, MARGINS, weight="design_w", tol=1e-13)
    frame = pl.from_pandas(data.reset_index(drop=True).astype({"age_band": str}))
    sample = svy.Sample(frame, svy.Design(wgt="design_w"))
    raked = sample.weighting.rake(shares=MARGINS, tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(res.weights.to_numpy(), raked.data["rk_wgt"].to_numpy(), rtol=1e-8)


def test_summary_reports_every_level():
    data = make_data()
    res = pr.weighting.rake(data, MARGINS)
    s = res.summary
    assert list(s.columns) == [
        "column",
        "level",
        "n",
        "sample_share",
        "target_share",
        "weighted_share",
    ]
    assert len(s) == 4 + 5 + 3
    np.testing.assert_allclose(s["weighted_share"], s["target_share"], atol=1e-10)
    persona_n = data["persona"].value_counts()
    got = s[s.column == "persona"].set_index("level")["n"]
    assert got.to_dict() == persona_n.to_dict()
    np.testing.assert_allclose(
        s[s.column == "persona"].set_index("level")["sample_share"],
        persona_n.reindex(got.index) / len(data),
    )


def test_kish_closed_form():
    w = [1.0, 1.0, 2.0, 4.0]
    # n sum(w^2) / sum(w)^2 = 4 * 22 / 64 ; n_eff = 64 / 22
    assert pr.weighting.kish_design_effect(w) == pytest.approx(4 * 22 / 64, rel=1e-15)
    assert pr.weighting.effective_n(w) == pytest.approx(64 / 22, rel=1e-15)
    data = make_data()
    res = pr.weighting.rake(data, MARGINS)
    w = res.weights.to_numpy()
    assert res.design_effect == pytest.approx(len(w) * (w**2).sum() / w.sum() ** 2)
    assert res.n_eff == pytest.approx(len(w) / res.design_effect)


def test_total_and_start_weights():
    data = make_data()
    res = pr.weighting.rake(data, MARGINS, weight="design_w")
    assert res.weights.sum() == pytest.approx(data["design_w"].sum())
    res = pr.weighting.rake(data, MARGINS, total=1_000_000)
    assert res.weights.sum() == pytest.approx(1_000_000)
    assert weighted_shares(data, res.weights, "region")["south"] == pytest.approx(0.258, abs=1e-10)


def test_margins_at_sample_shares_give_equal_weights():
    # equal weights -> unweighted answers: raking to the sample's own shares changes nothing
    data = make_data()
    margins = pr.weighting.margins_from(data, ["persona", "region", "age_band"])
    res = pr.weighting.rake(data, margins)
    np.testing.assert_allclose(res.weights.to_numpy(), 1.0, atol=1e-12)
    assert res.design_effect == pytest.approx(1.0)
    assert res.n_iter == 1


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
@st.composite
def raking_problem(draw):
    k1 = draw(st.integers(2, 4))
    k2 = draw(st.integers(2, 5))
    k3 = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    # every cross cell populated, so that every set of positive margins can be met
    base = pd.MultiIndex.from_product([range(k1), range(k2), range(k3)]).to_frame(index=False)
    extra = pd.DataFrame(
        {0: rng.integers(0, k1, 200), 1: rng.integers(0, k2, 200), 2: rng.integers(0, k3, 200)}
    )
    data = pd.concat([base, extra], ignore_index=True)
    data.columns = ["a", "b", "c"]
    data["a"] = "a" + data["a"].astype(str)
    margins = {}
    for col, k in (("a", k1), ("b", k2), ("c", k3)):
        shares = rng.dirichlet(np.full(k, 2.0)) * 0.9 + 0.1 / k
        levels = sorted(data[col].unique())
        margins[col] = dict(zip(levels, shares / shares.sum()))
    start = rng.uniform(0.2, 5, len(data)) if draw(st.booleans()) else None
    return data, margins, start


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raking_problem())
def test_raked_weights_reproduce_every_margin(problem):
    data, margins, start = problem
    if start is not None:
        data = data.assign(w0=start)
    res = pr.weighting.rake(data, margins, weight=None if start is None else "w0", max_iter=5000)
    assert res.converged
    for col, shares in margins.items():
        got = res.weights.groupby(data[col]).sum() / res.weights.sum()
        for level, share in shares.items():
            assert got[level] == pytest.approx(share, abs=1e-8)
    assert (res.weights > 0).all()


@settings(max_examples=25, deadline=None)
@given(raking_problem(), st.floats(0.05, 0.5), st.floats(2.0, 20.0))
def test_bounded_raking_meets_margins_within_bounds_or_says_so(problem, lo, hi):
    data, margins, _ = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        res = pr.weighting.rake(data, margins, bounds=(lo, hi), max_iter=3000)
    g = res.adjustment
    assert g.min() >= lo * (1 - 1e-12) and g.max() <= hi * (1 + 1e-12)
    if res.converged:
        for col, shares in margins.items():
            got = res.weights.groupby(data[col]).sum() / res.weights.sum()
            for level, share in shares.items():
                assert got[level] == pytest.approx(share, abs=1e-8)


def test_bounded_raking_feasible_case():
    data = make_data()
    free = pr.weighting.rake(data, MARGINS)
    lo, hi = 0.6, 2.3
    assert free.adjustment.max() > hi and free.adjustment.min() < lo  # both bounds bind
    res = pr.weighting.rake(data, MARGINS, bounds=(lo, hi))
    assert res.converged
    assert res.adjustment.min() >= lo - 1e-12 and res.adjustment.max() <= hi + 1e-12
    np.testing.assert_allclose(
        res.summary["weighted_share"], res.summary["target_share"], atol=1e-10
    )
    assert res.adjustment.max() == pytest.approx(hi) and res.adjustment.min() == pytest.approx(lo)


def test_trimming_caps_weights_and_keeps_margins():
    data = make_data()
    free = pr.weighting.rake(data, MARGINS, weight="design_w")
    cap = 2.5
    mean_w = data["design_w"].sum() / len(data)
    assert free.weights.max() > cap * mean_w
    res = pr.weighting.rake(data, MARGINS, weight="design_w", trim=cap)
    assert res.converged
    assert res.weights.max() <= cap * mean_w * (1 + 1e-12)
    np.testing.assert_allclose(
        res.summary["weighted_share"], res.summary["target_share"], atol=1e-10
    )
    res2 = pr.weighting.rake(data, MARGINS, weight="design_w", trim=(0.3, cap))
    assert res2.weights.min() >= 0.3 * mean_w * (1 - 1e-12)


def test_infeasible_limits_warn_or_raise():
    data = make_data()
    with pytest.warns(ParcoursWarning, match="did not converge"):
        res = pr.weighting.rake(data, MARGINS, bounds=(0.95, 1.05), max_iter=50)
    assert not res.converged
    assert "DID NOT CONVERGE" in repr(res)
    with pytest.raises(WeightingError, match="did not converge"):
        pr.weighting.rake(data, MARGINS, trim=1.1, max_iter=50, on_nonconvergence="error")
    with pytest.raises(WeightingError, match="exclude the mean weight"):
        pr.weighting.rake(data, MARGINS, trim=0.9)


# ---------------------------------------------------------------------------------------------
# impossible margins: one error naming every problem and its margin
# ---------------------------------------------------------------------------------------------
def test_impossible_margins_listed_at_once():
    data = make_data()
    data.loc[data.index[:3], "region"] = None
    bad = {
        "persona": {"connecte": 35.2, "prudent": 29.25, "senior": 20.6, "explorateur": 14.95},
        "region": {"idf": 0.3, "north": 0.2, "south": 0.3, "west": 0.2},  # east missing + NaN
        "age_band": {"1": 0.5, "2": 0.3, "3": 0.1, "4": 0.1},  # 4 has no respondent
        "channel": {"web": 1.0},
    }
    with pytest.raises(WeightingError) as exc:
        pr.weighting.rake(data, bad)
    msg = str(exc.value)
    problems = exc.value.problems
    assert len(problems) == 5
    assert "margins.persona" in msg and "sum to 100" in msg and "divide them by 100" in msg
    assert "margins.region" in msg and "3 respondent(s) have no value" in msg
    assert "'east'" in msg and "no share" in msg
    assert "margins.age_band" in msg and "level '4'" in msg and "no respondent" in msg
    assert "margins.channel" in msg and "not in the data" in msg
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    "margins, needle",
    [
        (
            {"persona": {"connecte": 0.5, "prudent": 0.3, "senior": 0.1, "explorateur": 0.05}},
            "sum to 0.95",
        ),
        (
            {"persona": {"connecte": 0.5, "prudent": 0.3, "senior": -0.1, "explorateur": 0.3}},
            "negative",
        ),
        (
            {"persona": {"connecte": "a lot", "prudent": 0.3, "senior": 0.1, "explorateur": 0.1}},
            "not a number",
        ),
        (
            {"persona": {"connecte": 0.5, "prudent": 0.5, "senior": 0.0, "explorateur": 0.0}},
            "target share of 0",
        ),
        ({"persona": {}}, "non-empty"),
        ({}, "needs margins"),
    ],
)
def test_each_kind_of_bad_margin(margins, needle):
    with pytest.raises(WeightingError, match=needle):
        pr.weighting.rake(make_data(), margins)


def test_bad_weights_and_limits():
    data = make_data()
    data.loc[data.index[0], "design_w"] = -1.0
    data.loc[data.index[1], "design_w"] = np.nan
    with pytest.raises(WeightingError) as exc:
        pr.weighting.rake(data, MARGINS, weight="design_w", bounds=(2, 3))
    msg = str(exc.value)
    assert "negative" in msg and "missing" in msg and "exclude g = 1" in msg
    with pytest.raises(WeightingError, match="not in the data"):
        pr.weighting.rake(make_data(), MARGINS, weight="nope")
    with pytest.raises(WeightingError, match="low is above high"):
        pr.weighting.rake(make_data(), MARGINS, trim=(5, 2))


def test_share_tolerance_rescales():
    data = make_data()
    m = {"persona": {"connecte": 0.3521, "prudent": 0.2925, "senior": 0.206, "explorateur": 0.1495}}
    res = pr.weighting.rake(data, m)
    assert res.summary["target_share"].sum() == pytest.approx(1.0, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# margins from data
# ---------------------------------------------------------------------------------------------
def test_margins_from_weighted_and_missing():
    df = pd.DataFrame({"persona": ["a", "a", "b", None], "w": [1.0, 3.0, 4.0, 2.0]})
    with pytest.raises(WeightingError, match="no value in margin column 'persona'"):
        pr.weighting.margins_from(df, "persona")
    m = pr.weighting.margins_from(df, "persona", weight="w", dropna=True)
    assert m == {"persona": {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}}
    m = pr.weighting.margins_from(df.dropna(), ["persona"])
    assert m["persona"]["a"] == pytest.approx(2 / 3)
    with pytest.raises(WeightingError, match="not in the data"):
        pr.weighting.margins_from(df, ["nope"])


# ---------------------------------------------------------------------------------------------
# display
# ---------------------------------------------------------------------------------------------
def test_repr_is_stable_and_html():
    res = pr.weighting.rake(make_data(), MARGINS, bounds=(0.5, 2))
    text = repr(res)
    assert "0x" not in text
    assert text.startswith(
        "RakeResult: 600 respondents raked on persona (4 levels), region (5 levels)"
    )
    assert "converged in" in text and "Kish design effect" in text
    assert text == repr(pr.weighting.rake(make_data(), MARGINS, bounds=(0.5, 2)))
    html = res._repr_html_()
    assert "<table" in html and "weighted_share" in html
    stats = res.weight_stats()
    assert list(stats.columns) == ["statistic", "value"]


# ---------------------------------------------------------------------------------------------
# the sample study
# ---------------------------------------------------------------------------------------------
def test_rake_the_sample_study(sample_study):
    study = sample_study
    res = pr.weighting.rake(study)  # the study's responses and margins
    assert res.converged
    assert len(res.weights) == len(study.responses)
    persona = res.summary[res.summary.column == "persona"]
    np.testing.assert_allclose(persona["weighted_share"], persona["target_share"], atol=1e-10)
