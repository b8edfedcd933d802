"""Drop-off tests on traces: step counts, the three comparisons, and counting from events."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError


def _counts():
    rows = [
        # step, touchpoint, persona, n, k, target
        ("a→b", "tb", "all", 1000, 800, 0.85),
        ("a→b", "tb", "p1", 500, 460, 0.85),
        ("a→b", "tb", "p2", 300, 180, 0.85),
        ("a→b", "tb", "p3", 12, 9, 0.85),
        ("b→c", "tc", "all", 800, 700, 0.6),
        ("b→c", "tc", "p1", 460, 400, 0.6),
        ("b→c", "tc", "p2", 180, 160, 0.6),
        ("b→c", "tc", "p3", 9, 8, 0.6),
    ]
    return pd.DataFrame(rows, columns=["step", "touchpoint", "persona", "n", "k", "target"])


def test_columns_and_order():
    out = pr.friction.test_traces(_counts())
    assert list(out.columns[:13]) == pr.friction.TEST_COLUMNS
    assert list(out.columns[13:]) == pr.friction.EXTRA_COLUMNS
    assert set(out["source"]) == {"traces"}
    assert out["family"].unique().tolist() == ["traces:vs_target", "traces:vs_personas"]


def test_vs_target_is_the_exact_binomial_test_with_a_wilson_interval():
    out = pr.friction.test_traces(_counts(), tests=["vs_target"])
    r = out[(out["step"] == "a→b") & (out["persona"] == "p2")].iloc[0]
    # one-sided exact binomial p-value P(X <= 180 | n=300, p=0.85) (scipy's binomial cdf)
    assert r["p_value"] == pytest.approx(stats.binom.cdf(180, 300, 0.85), rel=1e-9)
    lo, hi = proportion_confint(180, 300, method="wilson")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo - 0.85, hi - 0.85), abs=1e-12)
    assert r["effect_size"] == pytest.approx(0.6 - 0.85)
    assert r["odds_ratio"] == pytest.approx((0.6 / 0.4) / (0.85 / 0.15))
    assert r["direction"] == "worse" and bool(r["friction"])
    # the minimum detectable drop against 0.85 for n = 300 (statsmodels power, one sample: ratio 0
    # is not allowed there, so h = (z_.95 + z_.8) / sqrt(n) from the closed form)
    h = (stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) / math.sqrt(300)
    assert r["mde_std"] == pytest.approx(h)
    assert 2 * math.asin(math.sqrt(0.85)) - 2 * math.asin(
        math.sqrt(0.85 - r["mde"])
    ) == pytest.approx(h)
    # BH within the family
    fam = out[out["family"] == "traces:vs_target"]
    assert np.allclose(fam["p_adj"], multipletests(fam["p_value"], method="fdr_bh")[1])


def test_vs_personas_compares_with_the_other_personas():
    out = pr.friction.test_traces(_counts(), tests=["vs_personas"])
    r = out[(out["step"] == "a→b") & (out["persona"] == "p2")].iloc[0]
    k2, n2 = 460 + 9, 500 + 12  # p1 + p3
    assert (r["n"], r["n_ref"]) == (300, n2)
    assert r["method"] == "score z"
    z, p = proportions_ztest([180, k2], [300, n2], alternative="smaller")
    assert (r["statistic"], r["p_value"]) == pytest.approx((z, p), rel=1e-9)
    ref = confint_proportions_2indep(180, 300, k2, n2, method="newcomb", compare="diff")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(ref, abs=1e-10)
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=300, ratio=n2 / 300, alpha=0.05, power=0.8, alternative="larger"
    )
    assert r["mde_std"] == pytest.approx(h, rel=1e-4)
    # the persona with 12 users is compared with Fisher's exact test
    r3 = out[(out["step"] == "a→b") & (out["persona"] == "p3")].iloc[0]
    assert r3["method"] == "Fisher exact"
    assert r3["p_value"] == pytest.approx(
        stats.fisher_exact([[9, 3], [640, 160]], alternative="less").pvalue
    )
    assert "all" not in set(out["persona"])


def test_two_sided_alternative():
    one = pr.friction.test_traces(_counts(), tests=["vs_personas"])
    two = pr.friction.test_traces(_counts(), tests=["vs_personas"], alternative="two-sided")
    r1, r2 = one.iloc[1], two.iloc[1]  # p2, better? no: a→b p2 is worse
    assert r2["p_value"] == pytest.approx(2 * min(r1["p_value"], 1 - r1["p_value"]), rel=1e-6)
    assert set(two["alternative"]) == {"two-sided"}


def test_previous_period():
    c = _counts()
    c2 = pd.concat(
        [c.assign(period="2026-Q1"), c.assign(period="2026-Q2", k=(c["k"] * 0.9).round())]
    )
    out = pr.friction.test_traces(c2, tests=["vs_previous_period"])
    assert len(out) == len(c)
    r = out[(out["step"] == "b→c") & (out["persona"] == "all")].iloc[0]
    assert r["comparison"] == "period 2026-Q2 vs 2026-Q1"
    z, p = proportions_ztest([630, 700], [800, 800], alternative="smaller")
    assert r["p_value"] == pytest.approx(p, rel=1e-9)
    # totals over periods for the other tests
    t = pr.friction.test_traces(c2, tests=["vs_target"])
    assert int(t[(t["step"] == "b→c") & (t["persona"] == "all")]["n"].iloc[0]) == 1600


def test_targets_argument_overrides():
    out = pr.friction.test_traces(_counts(), tests=["vs_target"], targets={"tc": 0.95})
    assert set(out.loc[out["step"] == "b→c", "reference"]) == {0.95}
    assert set(out.loc[out["step"] == "a→b", "reference"]) == {0.85}


def test_bad_counts_are_reported_together():
    c = _counts()
    c.loc[0, "k"] = 2000
    c.loc[1, "n"] = -3
    c = pd.concat([c, c.iloc[[2]]])
    with pytest.raises(AnalysisError) as e:
        pr.friction.test_traces(c)
    text = str(e.value)
    assert "more conversions" in text and "not counts" in text and "repeat" in text
    with pytest.raises(AnalysisError, match="missing column"):
        pr.friction.test_traces(c.drop(columns="k"))
    with pytest.raises(StudyError, match="alternative"):
        pr.friction.test_traces(_counts(), alternative="less")
    with pytest.raises(StudyError, match="tests"):
        pr.friction.test_traces(_counts(), tests=["vs_nothing"])


# ------------------------------------------------------------------------------- counting
def _events():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    ev = []

    def add(u, h, e):
        ev.append((u, t0 + pd.Timedelta(hours=h), e))

    # u1: a, b, c in order; u2: a then c then b (b after c still counts for a→b; c needs b first)
    add("u1", 0, "a"), add("u1", 1, "b"), add("u1", 2, "c")
    add("u2", 0, "a"), add("u2", 1, "c"), add("u2", 2, "b")
    # u3: b before a only: not converted a→b
    add("u3", 0, "b"), add("u3", 1, "a")
    # u4: a, then b 10 days later (outside a 7-day window)
    add("u4", 0, "a"), add("u4", 240, "b")
    # u5: starts late (day 40): its window is not over at the end of the log (day 42)
    add("u5", 960, "a")
    add("u6", 1008, "x")  # last event of the log (day 42)
    return pd.DataFrame(ev, columns=["user_id", "timestamp", "event"])


def test_reach_is_gone_for_the_one_funnel():
    # pr.friction.reach anchored the window on the first step-1 event (a second funnel
    # definition); each user's furthest step now comes from pr.traces.funnel_users
    with pytest.raises(AttributeError, match="funnel_users"):
        pr.friction.reach  # noqa: B018
    f = pr.traces.funnel_users(_events(), steps=["a", "b", "c"], window="7D")
    assert dict(zip(f["user_id"], f["furthest_step"])) == {
        "u1": 3,
        "u2": 2,  # a, c, b: b after a, but no c after b
        "u3": 1,  # b before a only
        "u4": 1,  # b 10 days after a
        "u5": 1,
        "u6": 0,
    }


def test_trace_counts_from_events():
    personas = {"u1": "p", "u2": "p", "u3": "q", "u4": "q", "u5": "q"}
    c = pr.friction.trace_counts(_events(), funnel=["a", "b", "c"], window="7D", personas=personas)
    ab = c[(c["step"] == "a→b")].set_index("persona")
    # u5 started 2 days before the end: its 7-day window was not observed, it is left out
    assert ab.loc["all", ["n", "k"]].tolist() == [4, 2]
    assert ab.loc["p", ["n", "k"]].tolist() == [2, 2]
    assert ab.loc["q", ["n", "k"]].tolist() == [2, 0]
    c2 = pr.friction.trace_counts(
        _events(), funnel=["a", "b", "c"], window="7D", personas=personas, complete_window=False
    )
    assert c2[(c2["step"] == "a→b") & (c2["persona"] == "all")][["n", "k"]].values.tolist() == [
        [5, 2]
    ]
    bc = c[(c["step"] == "b→c") & (c["persona"] == "all")]
    assert bc[["n", "k"]].values.tolist() == [[2, 1]]


def test_trace_counts_periods():
    c = pr.friction.trace_counts(
        _events(),
        funnel=["a", "b"],
        window="7D",
        period_split="2026-01-01T00:30",
        complete_window=False,
    )
    assert list(c["period"].cat.categories) == ["before", "after"]
    # a->b starts: u1, u2, u4 at 00:00 (before the split), u3 at 01:00 and u5 on day 40 (after)
    allr = c[c["persona"] == "all"]
    assert allr[["period", "n"]].astype({"period": str}).values.tolist() == [
        ["before", 3],
        ["after", 2],
    ]


def test_trace_counts_needs_steps():
    with pytest.raises(AnalysisError, match="no step"):
        pr.friction.trace_counts(_events())
    with pytest.raises(AnalysisError, match="missing column"):
        pr.friction.trace_counts(_events().drop(columns="event"), funnel=["a", "b"])


# ----------------------------------------------------------------------------- sample study
@pytest.fixture(scope="module")
def sample_counts(sample_study):
    return pr.friction.trace_counts(sample_study)


def test_sample_counts_agree_with_the_traces_funnel(sample_study):
    # the same funnel counted by pr.traces.funnel on the study's prepared log: users who
    # entered and reached each step; no censoring, so that both count the same persons
    c = pr.friction.trace_counts(sample_study, complete_window=False, touchpoint_steps=False)
    f = pr.traces.funnel(pr.prepare(sample_study).traces.log)
    mine = c[c["persona"] == "all"]
    assert mine["n"].tolist() == f["entered"].tolist()[1:]
    assert mine["k"].tolist() == f["converted"].tolist()[1:]


def test_sample_steps_have_no_stage_target(sample_counts, sample_study):
    # targets.conversion is per stage (reaching the stage, see pr.traces.pyramid): it is not the
    # target of a step inside the stage (home_view → product_view, 0.91, is not compared with
    # the 0.35 of "acquerir"), so steps counted from the study carry no target and are tested
    # against the other personas and periods only, unless targets= gives step targets
    assert sample_counts["target"].isna().all()
    out = pr.friction.test_traces(sample_study)
    assert "vs_target" not in set(out["test"])
    given = pr.friction.test_traces(sample_counts, targets={"id_verification": 0.9})
    vt = given[given["test"] == "vs_target"]
    assert set(vt["touchpoint"]) == {"id_verification"} and set(vt["reference"]) == {0.9}


def test_sample_planted_drop_off(sample_counts, sample_study):
    # truth.json: kyc_upload -> kyc_done completes for 60% of seniors, 92% of the others
    d = sample_study.truth["friction_details"]
    kyc = sample_counts[sample_counts["step"] == "kyc_upload→kyc_done"].set_index("persona")
    sen = kyc.loc["senior"]
    lo, hi = proportion_confint(sen["k"], sen["n"], alpha=0.001, method="wilson")
    assert lo < d["completion_persona"] < hi
    oth = kyc.drop(index=["all", "senior"])
    lo, hi = proportion_confint(oth["k"].sum(), oth["n"].sum(), alpha=0.001, method="wilson")
    assert lo < d["completion_others"] < hi


def test_sample_trace_tests_flag_only_seniors_at_id_verification(sample_counts):
    out = pr.friction.test_traces(sample_counts)
    pers = out[out["persona"] != "all"]
    flagged = set(
        zip(pers.loc[pers["friction"], "touchpoint"], pers.loc[pers["friction"], "persona"])
    )
    assert flagged == {("id_verification", "senior")}
    r = out[
        (out["step"] == "kyc_upload→kyc_done")
        & (out["persona"] == "senior")
        & (out["test"] == "vs_personas")
    ]
    assert r["effect_size"].iloc[0] < -0.25 and r["p_adj"].iloc[0] < 1e-10
    assert not out.loc[out["touchpoint"] == "loyalty_sms", "friction"].any()
