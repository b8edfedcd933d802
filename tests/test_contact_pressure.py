"""Contact pressure and channel fit (issue 19, item 3): counting contacts, the band model and
its intervals, purpose × channel flags, and the planted ``contact_pressure`` effect.

References: the band means and their robust variances are checked against their closed forms
(weighted mean; the HC1 and cluster sandwich of a cell-means regression, e.g. Cameron & Miller
2015, "A Practitioner's Guide to Cluster-Robust Inference", eq. 11 with the small-sample factor
G/(G-1)·(N-1)/(N-K)), the comparison with the best against the one-sided z test it reduces to
with two groups, and its error rate under the null by simulation.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import parcours_research as pr
from parcours_research.contact import (
    band_label,
    band_of,
    channel_fit,
    compare_with_best,
    contact_bands,
    contact_counts,
    group_fit,
    step_tests,
)
from parcours_research.errors import AnalysisError, StudyError

TZ = "Europe/Paris"


def _events(rows):
    df = pd.DataFrame(rows, columns=["user_id", "timestamp", "touchpoint", "session_id"])
    df["timestamp"] = pd.to_datetime(df["timestamp"]).dt.tz_localize(TZ)
    df["event"] = df["touchpoint"]
    return df


CHANNELS = {"sms_promo": "sms", "newsletter": "email", "invoice": "email", "home": "web"}
LOG = [
    ("a", "2026-01-10 10:00", "sms_promo", "a:1"),
    ("a", "2026-01-10 10:05", "sms_promo", "a:1"),  # same session: one contact
    ("a", "2026-01-20 09:00", "sms_promo", "a:2"),
    ("a", "2026-02-03 09:00", "newsletter", "a:3"),
    ("a", "2026-02-03 09:01", "invoice", "a:3"),  # another touchpoint: another contact
    ("b", "2026-02-15 12:00", "sms_promo", "b:1"),
    ("b", "2026-04-02 12:00", "sms_promo", "b:2"),  # after the period: left out
    ("b", "2026-02-16 12:00", "home", "b:3"),
]
POPULATION = pd.DataFrame({"customer_id": ["a", "b", "c"], "persona": ["p1", "p2", "p1"]})


def _count(period="study", **kw):
    out = contact_counts(
        _events(LOG),
        channels=CHANNELS,
        period=period,
        customers=POPULATION,
        by="persona",
        start="2026-01-01",
        end="2026-03-31",
        **kw,
    )
    return out.set_index(["customer_id", "channel", "period"])["contacts"]


def test_contacts_per_customer_channel_and_study_period():
    c = _count()
    assert c[("a", "sms", "study")] == 2  # three events, two sessions
    assert c[("a", "email", "study")] == 2  # newsletter + invoice in one session
    assert c[("b", "sms", "study")] == 1  # the April SMS is outside the period
    assert c[("b", "web", "study")] == 1
    # a customer of the population without any event gets zeros on every channel
    assert c.loc["c"].tolist() == [0, 0, 0]
    assert set(c.index.get_level_values("channel")) == {"sms", "email", "web"}


def test_contacts_per_month_fill_every_period():
    c = _count("month")
    assert sorted(set(c.index.get_level_values("period"))) == ["2026-01", "2026-02", "2026-03"]
    assert c[("a", "sms", "2026-01")] == 2 and c[("a", "sms", "2026-02")] == 0
    assert c[("b", "sms", "2026-02")] == 1 and c[("b", "sms", "2026-03")] == 0
    assert len(c) == 3 * 3 * 3  # customers x channels x months
    assert (
        c.groupby(level=["customer_id", "channel"])
        .sum()
        .equals(
            _count()
            .droplevel("period")
            .sort_index()
            .reindex(c.groupby(level=["customer_id", "channel"]).sum().index)
        )
    )


def test_each_event_is_a_contact_without_sessions():
    ev = _events(LOG).drop(columns="session_id")
    out = contact_counts(ev, channels=CHANNELS, start="2026-01-01", end="2026-03-31")
    c = out.set_index(["customer_id", "channel"])["contacts"]
    assert c[("a", "sms")] == 3


def test_counting_errors():
    with pytest.raises(AnalysisError, match="period"):
        contact_counts(_events(LOG), channels=CHANNELS, period="fortnightly-ish")
    with pytest.raises(AnalysisError, match="touchpoint"):
        contact_counts(_events(LOG).drop(columns="touchpoint"))
    with pytest.raises(AnalysisError, match="persona"):
        contact_counts(_events(LOG), customers=POPULATION[["customer_id"]], by="persona")


def test_bands_pool_adjacent_counts_up_to_min_n():
    x = np.repeat([0, 1, 2, 3, 4, 5, 9], [40, 10, 25, 31, 5, 3, 1])
    bands = contact_bands(x, 30)
    assert bands == [(0, 0), (1, 2), (3, 9)]  # the last band takes the tail
    assert [band_label(b, i == len(bands) - 1) for i, b in enumerate(bands)] == ["0", "1-2", "3+"]
    assert band_of([0, 1, 2, 3, 7, 12], bands).tolist() == [0, 1, 1, 2, 2, 2]


def _groups(seed=1, k=4, n=60, shift=None):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), n)
    mu = np.zeros(k) if shift is None else np.asarray(shift, float)
    y = 3.5 + mu[g] + rng.normal(0, 1, len(g))
    w = rng.uniform(0.5, 2.0, len(g))
    return y, w, g


def test_band_means_and_hc1_intervals_match_the_closed_form():
    y, w, g = _groups()
    res = compare_with_best(y, w, g, confidence=0.9)
    n, k = len(y), 4
    z = stats.norm.ppf(0.95)
    for j in range(k):
        m = g == j
        mean = np.sum(w[m] * y[m]) / np.sum(w[m])
        var = n / (n - k) * np.sum(w[m] ** 2 * (y[m] - mean) ** 2) / np.sum(w[m]) ** 2
        row = res.iloc[j]
        assert row["estimate"] == pytest.approx(mean, rel=1e-12)
        assert row["se"] == pytest.approx(np.sqrt(var), rel=1e-10)
        assert row["ci_low"] == pytest.approx(mean - z * np.sqrt(var), rel=1e-10)
        assert row["n_eff"] == pytest.approx(w[m].sum() ** 2 / (w[m] ** 2).sum())


def test_cluster_covariance_matches_the_closed_form():
    y, w, g = _groups(seed=2, k=3, n=40)
    cl = np.arange(len(y)) % 25  # respondents rating several groups
    res = compare_with_best(y, w, g, cluster=cl)
    k, n, n_cl = 3, len(y), 25
    wsum = np.array([w[g == j].sum() for j in range(k)])
    mean = np.array([np.sum(w[g == j] * y[g == j]) for j in range(k)]) / wsum
    e = y - mean[g]
    scores = np.zeros((n_cl, k))
    np.add.at(scores, (cl, g), w * e)
    cov = (scores.T @ scores) / np.outer(wsum, wsum)
    cov *= n_cl / (n_cl - 1) * (n - 1) / (n - k)
    assert res["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-10)
    best = int(np.argmax(mean))
    j = (best + 1) % k
    sd = np.sqrt(cov[j, j] + cov[best, best] - 2 * cov[j, best])
    z = stats.norm.ppf(0.975)
    assert res.loc[j, "diff_high"] == pytest.approx(mean[j] - mean[best] + z * sd, rel=1e-10)


def test_comparison_with_the_best_of_two_is_the_one_sided_z_test():
    y, w, g = _groups(seed=3, k=2, shift=[0.0, -0.4])
    res = compare_with_best(y, w, g)
    d = res.loc[1, "estimate"] - res.loc[0, "estimate"]
    se = np.hypot(res.loc[0, "se"], res.loc[1, "se"])
    assert res.loc[1, "p_value"] == pytest.approx(stats.norm.cdf(d / se), rel=1e-10)
    assert res.loc[1, "diff_best"] == pytest.approx(d)


def test_comparison_with_the_best_and_step_tests_keep_their_level_under_the_null():
    """Simulation: five equal groups. "Some group is below the best" (Holm over the groups'
    comparisons with the best) and "a too few or too many zone" (the two sides' step tests,
    Bonferroni) each happen in at most ~5% of the samples."""
    from statsmodels.stats.multitest import multipletests

    from parcours_research.contact import _mcb_p

    reps, mcb_hits, step_hits = 200, 0, 0
    for s in range(reps):
        y, w, g = _groups(seed=100 + s, k=5, n=40)
        mean, cov = group_fit(y, w, g)
        p = [_mcb_p(mean, cov, j) for j in range(5)]
        mcb_hits += bool(multipletests(p, method="holm")[0].any())
        steps = step_tests(mean, cov, np.bincount(g, weights=w))
        step_hits += bool((2 * steps["p_value"] < 0.05).any())
    bound = 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps)
    assert mcb_hits / reps <= bound and step_hits / reps <= bound


def test_step_test_is_the_pooled_weighted_difference():
    """A zone's difference is the weighted mean of the bands it holds minus that of the others
    (the pooled weighted means, closed form), its variance a'Σa of the band covariance; the
    p-value is the one-sided normal p-value of the best cut times the K-1 cuts scanned."""
    y, w, g = _groups(seed=5, k=4, n=80, shift=[0.0, 0.0, -0.8, -0.8])
    mean, cov = group_fit(y, w, g)
    totals = np.bincount(g, weights=w)
    res = step_tests(mean, cov, totals).set_index("side")
    many = res.loc["too many"]
    cut = int(many["cut"])
    up = g >= cut
    d = np.average(y[up], weights=w[up]) - np.average(y[~up], weights=w[~up])
    assert many["diff"] == pytest.approx(d, rel=1e-10)
    band_mean = np.array([np.average(y[g == j], weights=w[g == j]) for j in range(4)])
    e = y - band_mean[g]
    side_total = np.where(up, w[up].sum(), w[~up].sum())
    var = len(y) / (len(y) - 4) * np.sum(w**2 * e**2 / side_total**2)  # HC1 of the difference
    assert many["p_value"] == pytest.approx(3 * stats.norm.cdf(d / np.sqrt(var)), rel=1e-10)
    assert cut in (2, 3) and many["diff_high"] < 0
    assert res.loc["too few", "p_value"] > 0.5


def test_channel_fit_flags_the_worse_channel_of_a_purpose():
    rng = np.random.default_rng(4)
    rows = []
    for r in range(300):
        mood = rng.normal(0, 0.5)
        for purpose, chan, shift in [
            ("transact", "web", 0.0),
            ("transact", "app", 0.0),
            ("transact", "email", -0.8),
            ("support", "web", 0.0),
            ("support", "call_centre", 0.0),
            ("retain", "sms", 0.0),
        ]:
            rows.append(
                (f"R{r}", purpose, chan, f"{purpose}_{chan}", 4 + shift + mood + rng.normal(0, 0.8))
            )
    long = pd.DataFrame(
        rows, columns=["respondent_id", "purpose", "channel", "touchpoint", "score"]
    )
    res = channel_fit(long, by=None, weight=None)
    s = res.summary.set_index(["purpose", "channel"])
    assert s.loc[("transact", "email"), "verdict"] == "worse"
    assert s.loc[("transact", "email"), "diff_high"] < 0
    assert set(s.loc["support", "verdict"]) <= {"best", "ok"}
    assert s.loc[("retain", "sms"), "verdict"] == "single channel"
    assert res.flagged()[["purpose", "channel"]].values.tolist() == [["transact", "email"]]
    assert repr(res) == "ChannelFit(3 purposes, 6 rows, worse: transact/email)"
    assert "<table" in res._repr_html_()


def test_channel_fit_on_the_sample(sample_study):
    res = pr.satisfaction.channel_fit(sample_study)
    assert set(res.purposes["purpose"]) == {"inform", "advise", "transact", "support", "retain"}
    assert (
        res.summary["verdict"]
        .isin(["best", "ok", "worse", "single channel", "too few respondents"])
        .all()
    )
    assert res.summary["p_adj"].dropna().between(0, 1).all()


def test_purpose_is_read_and_checked(sample_dir, tmp_path):
    st = pr.load_study(sample_dir, read_responses=False)
    assert st.purposes["loyalty_sms"] == "retain"
    assert st.purpose_labels["support"].get("en") == "Support"
    folder = tmp_path / "study"
    shutil.copytree(sample_dir, folder)
    yml = (folder / "study.yml").read_text(encoding="utf-8")
    (folder / "study.yml").write_text(
        yml.replace("purpose: retain", "purpose: retian", 1), encoding="utf-8"
    )
    with pytest.raises(StudyError, match="did you mean 'retain'"):
        pr.load_study(folder, read_responses=False)


def test_contact_pressure_result_on_the_sample(sample_study):
    res = pr.traces.contact_pressure(sample_study, period="month")
    truth = sample_study.truth["contact_pressure"]
    assert {"persona", "touchpoint", "channel", "threshold", "sat_shift"} <= set(truth)
    cols = ["persona", "channel", "contacts", "contacts_low", "contacts_high", "customers"]
    assert cols == list(res.summary.columns[: len(cols)])
    assert {"sat", "ci_low", "ci_high", "diff_best", "verdict"} <= set(res.summary.columns)
    assert {"side", "zone", "diff", "diff_low", "diff_high", "p_adj", "flagged"} <= set(
        res.zones.columns
    )
    assert len(res.zones) == 2 * res.summary.groupby(["persona", "channel"]).ngroups
    shares = res.counts.groupby(["persona", "channel", "period"])["share"].sum()
    assert np.allclose(shares, 1.0)
    assert sorted(res.counts["period"].unique()) == ["2026-01", "2026-02", "2026-03"]
    assert repr(res).startswith("ContactPressure(outcome='overall_sat', period='month'")
    assert "0x" not in repr(res) and "<table" in res._repr_html_()


def test_contact_pressure_accounts_for_every_respondent(sample_dir, tmp_path):
    """Respondents left out are counted by reason and add up to the survey. Expected counts:
    the rows edited below, by hand (5 ids no customer has, then 7 other rows without the
    outcome, an optional question); every other respondent of the sample is in the log (its
    accounting says so)."""
    folder = tmp_path / "study"
    shutil.copytree(sample_dir, folder)
    path = folder / "survey" / "responses.csv"
    resp = pd.read_csv(path, dtype=str, keep_default_na=False)
    n = len(resp)
    resp.loc[:4, "customer_id"] = [f"NOBODY{i}" for i in range(5)]
    resp.loc[10:16, "ces"] = ""
    resp.to_csv(path, index=False)
    base = pr.traces.contact_pressure(pr.load_study(sample_dir), outcome="ces")
    assert base.respondents["respondents"].tolist() == [n, 0, 0, 0, 0, n]

    res = pr.traces.contact_pressure(pr.load_study(folder), outcome="ces")
    got = res.respondents.set_index("step")["respondents"]
    assert got.to_dict() == {
        "survey": n,
        "not in the event log": 5,
        "no outcome": 7,
        "no positive weight": 0,
        "no group": 0,
        "in the model": n - 12,
    }
    assert got.drop(["survey", "in the model"]).sum() + got["in the model"] == got["survey"]
    assert f"{n - 12:,} of {n:,} respondents" in repr(res)
    # the report's contacts section says it (and nothing when no one is left out)
    from parcours_research.report_contacts import _left_out

    assert _left_out(base, "en") is None
    assert _left_out(res, "en") == (
        f"12 of {n:,} respondents are left out of the model: 5 not in the event log, "
        "7 without an answer to the question."
    )
    assert _left_out(res, "fr").startswith("12 répondant(s) sur ")
    import dataclasses

    assert _left_out(dataclasses.replace(res, respondents=None), "en") is None  # built by hand


@pytest.fixture(scope="module")
def sample_pressure(sample_study):
    return pr.traces.contact_pressure(sample_study)


def test_bundled_sample_plants_too_many_sms_for_connecte(sample_pressure, sample_study):
    truth = sample_study.truth["contact_pressure"]
    assert (truth["persona"], truth["channel"], truth["threshold"]) == ("connecte", "sms", 4)
    flagged = sample_pressure.flagged()
    assert flagged[["persona", "channel", "side"]].values.tolist() == [
        ["connecte", "sms", "too many"]
    ]
    bands = sample_pressure.summary
    inside = bands[(bands["persona"] == "connecte") & (bands["channel"] == "sms")]
    assert set(inside.loc[inside["contacts_low"] >= flagged["cut"].iloc[0], "verdict"]) == {
        "too many"
    }


def test_plot_contact_pressure_shades_the_flagged_zone(sample_pressure, sample_study):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle

    fig = pr.plot.contact_pressure(sample_pressure, study=sample_study, lang="en")
    (ax,) = fig.axes
    assert ax.get_title() == "Contact pressure: sms channel"
    spans = [p for p in ax.patches if isinstance(p, Polygon | Rectangle)]
    assert len(spans) == 1
    assert len(ax.get_legend().get_texts()) == 4  # one line per persona
    plt.close(fig)
    fig = pr.plot.contact_pressure(sample_pressure, channels=["sms", "email"])
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(AnalysisError, match="no channel"):
        pr.plot.contact_pressure(sample_pressure, channels=["pigeon"])


def test_report_section_says_what_is_missing(sample_dir):
    from types import SimpleNamespace

    from parcours_research.report_contacts import s_contacts

    st = pr.load_study(sample_dir, read_responses=False)
    sec = SimpleNamespace(title=None, blocks=[])
    s_contacts(SimpleNamespace(lang="en", study=st), sec)
    assert sec.title == "Contact pressure and channel fit"
    assert len(sec.blocks) == 1 and "not measured" in str(sec.blocks[0])


def test_contact_pressure_needs_a_study_with_traces_and_survey(sample_study):
    with pytest.raises(AnalysisError, match="loaded study"):
        pr.traces.contact_pressure(pd.DataFrame())
    with pytest.raises(AnalysisError, match="min_n"):
        pr.traces.contact_pressure(sample_study, min_n=1)


# ---- recovery of the planted effect (seeds the analysis was not tuned on) -------------------
def _controls(res, study):
    """Verdicts of the cells that should be quiet: not the planted persona × channel, and not
    the persona of the designed-journey deviation (its planted repeat visits add web contacts,
    push its customers later in the period and lower their satisfaction: a real link in the
    data, not a false alarm)."""
    truth = study.truth["contact_pressure"] or {}
    v = res.verdict()
    planted = (v["persona"] == truth.get("persona")) & (v["channel"] == truth.get("channel"))
    to_be = study.truth.get("to_be_deviation") or {}
    return v[~planted & (v["persona"] != to_be.get("persona"))]


@pytest.mark.parametrize("seed", [101, 303, 505])
def test_recovers_the_planted_contact_pressure(recovery_studies, seed):
    """Too many contacts for the planted persona on the planted channel, from about the planted
    threshold: the traces count the planted contacts plus the channel's ordinary ones, so the
    drop starts within ``threshold_in_traces`` (truth.json), give or take one contact."""
    study = pr.load_study(recovery_studies[seed])
    truth = study.truth["contact_pressure"]
    res = pr.traces.contact_pressure(study)
    z = res.zones.set_index(["persona", "channel", "side"])
    many = z.loc[(truth["persona"], truth["channel"], "too many")]
    assert many["flagged"] and many["p_adj"] < 0.05
    assert many["diff"] < 0 and many["diff_high"] < 0  # right sign, interval excludes zero
    low, high = truth["threshold_in_traces"]
    assert low - 1 <= many["cut"] <= high + 1
    assert not z.loc[(truth["persona"], truth["channel"], "too few"), "flagged"]
    controls = _controls(res, study)
    assert controls["verdict"].isin(["no effect", "one band"]).all(), controls


def test_quiet_on_the_null_study(recovery_studies):
    study = pr.load_study(recovery_studies["null"])
    assert study.truth["contact_pressure"] is None
    res = pr.traces.contact_pressure(study)
    assert res.flagged().empty, res.flagged()
    assert (res.verdict()["verdict"].isin(["no effect", "one band"])).all()
