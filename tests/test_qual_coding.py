"""Code frequencies, the valence curve with cluster-robust intervals, and quote ranking."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from qual_fixtures import small_journey
from scipy import stats

from parcours_research.errors import AnalysisError, ParcoursWarning, StudyError
from parcours_research.privacy import pseudonymise
from parcours_research.qual import code_frequencies, mean_valence, quotes
from parcours_research.qual.coding import cluster_mean


def excerpts() -> pd.DataFrame:
    rows = [
        # excerpt, participant, persona, touchpoint, stage, code, valence, coder, text
        (
            "e1",
            "P1",
            "senior",
            "id_verification",
            "integrer",
            "Attente",
            -2,
            "A",
            "Trois semaines d'attente !",
        ),
        (
            "e1",
            "P1",
            "senior",
            "id_verification",
            "integrer",
            "Attente",
            -1,
            "B",
            "Trois semaines d'attente !",
        ),
        (
            "e2",
            "P1",
            "senior",
            "id_verification",
            "integrer",
            "Papiers",
            -1,
            "A",
            "Encore des papiers.",
        ),
        ("e3", "P2", "senior", "id_verification", "integrer", "Attente", 0, "A", "Ça va."),
        (
            "e4",
            "P3",
            "connecte",
            "id_verification",
            "integrer",
            "Rapide",
            2,
            "A",
            "Fait en deux minutes.",
        ),
        ("e5", "P3", "connecte", "signup", "acquerir", "Rapide", 1, "A", "Simple."),
        ("e6", "P4", None, None, None, "Méthodologie", None, "A", "Hors sujet."),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "excerpt_id",
            "participant",
            "persona",
            "touchpoint",
            "stage",
            "code",
            "valence",
            "coder",
            "text",
        ],
    )


# ------------------------------------------------------------------------------- frequencies
def test_code_frequencies_by_touchpoint():
    f = code_frequencies(excerpts(), by="touchpoint", journey=small_journey())
    assert list(f.columns) == [
        "touchpoint",
        "code",
        "n_excerpts",
        "n_participants",
        "share",
        "participant_share",
    ]
    idv = f[f["touchpoint"] == "id_verification"].set_index("code")
    # e1 double-coded counts once; id_verification has 4 distinct excerpts from 3 participants
    assert idv.loc["Attente", "n_excerpts"] == 2 and idv.loc["Attente", "n_participants"] == 2
    assert idv.loc["Attente", "share"] == pytest.approx(2 / 4)
    assert idv.loc["Attente", "participant_share"] == pytest.approx(2 / 3)
    assert idv.loc["Papiers", "n_excerpts"] == 1
    # journey order, missing touchpoint last and kept
    assert f["touchpoint"].drop_duplicates().tolist()[:2] == ["signup", "id_verification"]
    assert f["touchpoint"].isna().sum() == 1
    assert f["n_excerpts"].sum() == 6  # every (excerpt, code) pair once


def test_code_frequencies_by_stage_persona_and_overall():
    f = code_frequencies(excerpts(), by=["stage", "persona"])
    row = f[
        (f["stage"] == "integrer") & (f["persona"] == "senior") & (f["code"] == "Attente")
    ].iloc[0]
    assert row["n_excerpts"] == 2 and row["share"] == pytest.approx(2 / 3)
    total = code_frequencies(excerpts(), by=None)
    assert total.set_index("code").loc["Rapide", "n_excerpts"] == 2
    assert total.set_index("code").loc["Rapide", "share"] == pytest.approx(2 / 6)
    with pytest.raises(AnalysisError, match="not in the data"):
        code_frequencies(excerpts(), by="region")


# ------------------------------------------------------------------------------- valence
def _statsmodels_cluster(y, g, alpha=0.05):
    """Reference: OLS of y on a constant with a cluster-robust (CR1) covariance, t(G-1)."""
    fit = sm.OLS(np.asarray(y, float), np.ones((len(y), 1))).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(pd.Series(g))[0]}, use_t=True
    )
    lo, hi = fit.conf_int(alpha)[0]
    return fit.params[0], fit.bse[0], lo, hi


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.integers(-2, 2)), min_size=3, max_size=60),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_cluster_mean_matches_statsmodels(pairs, confidence):
    g = [f"p{a}" for a, _ in pairs]
    y = [float(b) for _, b in pairs]
    if len(set(g)) < 2:
        return
    res = cluster_mean(y, g, confidence=confidence)
    est, se, lo, hi = _statsmodels_cluster(y, g, 1 - confidence)
    assert res["estimate"] == pytest.approx(est, abs=1e-12)
    assert res["se"] == pytest.approx(se, rel=1e-9, abs=1e-12)
    assert res["ci_low"] == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert res["ci_high"] == pytest.approx(hi, rel=1e-9, abs=1e-12)


def test_cluster_mean_closed_form():
    # two participants: y = (1, 3 | 5). ybar = 3; cluster totals of residuals: (-2 + 0), (2);
    # se^2 = G/(G-1) * (4 + 4) / n^2 = 2 * 8 / 9
    res = cluster_mean([1, 3, 5], ["a", "a", "b"])
    assert res["estimate"] == 3 and res["se"] == pytest.approx(np.sqrt(16 / 9))
    t = stats.t.ppf(0.975, 1)
    assert res["ci_high"] == pytest.approx(3 + t * np.sqrt(16 / 9))
    one = cluster_mean([1, 2], ["a", "a"])
    assert one["n_clusters"] == 1 and np.isnan(one["se"])


def test_mean_valence_table():
    with pytest.warns(ParcoursWarning, match="single participant"):
        mv = mean_valence(excerpts(), by="touchpoint", journey=small_journey())
    assert list(mv.columns) == [
        "stage",
        "touchpoint",
        "n",
        "n_participants",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "negative_share",
        "positive_share",
    ]
    assert mv["touchpoint"].tolist() == [
        "signup",
        "id_verification",
    ]  # journey order; no valence -> no row
    idv = mv.set_index("touchpoint").loc["id_verification"]
    # e1 counts once with its coders' mean (-1.5): values -1.5, -1 (P1), 0 (P2), 2 (P3)
    y = [-1.5, -1.0, 0.0, 2.0]
    g = ["P1", "P1", "P2", "P3"]
    est, se, lo, hi = _statsmodels_cluster(y, g)
    assert idv["n"] == 4 and idv["n_participants"] == 3
    assert idv["estimate"] == pytest.approx(est) and idv["se"] == pytest.approx(se)
    assert (idv["ci_low"], idv["ci_high"]) == pytest.approx((lo, hi))
    assert idv["negative_share"] == pytest.approx(0.5) and idv["positive_share"] == pytest.approx(
        0.25
    )
    assert np.isnan(mv.set_index("touchpoint").loc["signup", "se"])


def test_mean_valence_participant_weighting():
    mv = mean_valence(
        excerpts()[lambda d: d["touchpoint"] == "id_verification"], weight="participant"
    )
    # participant means: P1 = (-1.5 - 1) / 2, P2 = 0, P3 = 2; t interval over the three means
    means = np.array([-1.25, 0.0, 2.0])
    lo, hi = stats.t.interval(0.95, 2, loc=means.mean(), scale=stats.sem(means))
    r = mv.iloc[0]
    assert r["estimate"] == pytest.approx(means.mean())
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))


def test_mean_valence_by_persona_and_checks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        mv = mean_valence(excerpts(), by=["touchpoint", "persona"], journey=small_journey())
    assert mv["persona"].tolist() == ["connecte", "senior", "connecte"]
    with pytest.raises(StudyError, match="weight="):
        mean_valence(excerpts(), weight="coder")
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        mean_valence(excerpts(), confidence=95)


# ------------------------------------------------------------------------------- quotes
def quote_data() -> pd.DataFrame:
    long = "C'était vraiment interminable, trois semaines sans nouvelles de personne."  # 73 chars
    rows = [
        ("q1", "Marie Dubois", "senior", -2, "Nul."),  # strong, short
        ("q2", "Marie Dubois", "senior", -2, long + " Marie, appelez le 06 12 34 56 78."),
        ("q3", "P2", "senior", -1, long),
        ("q4", "P2", "senior", -2, "x" * 500),  # strong, too long
        ("q5", "P3", "connecte", -1, "Bof, " + long),
        ("q6", "P3", "connecte", 1, "Très bien, rapide et clair, rien à redire vraiment."),
        ("q7", "P4", "senior", 0, "Normal, " + long),
    ]
    df = pd.DataFrame(rows, columns=["excerpt_id", "participant", "persona", "valence", "text"])
    df["touchpoint"] = "id_verification"
    df["code"] = "c"
    return df


def test_quotes_ranking():
    q = quotes(quote_data(), touchpoint="id_verification", n=5, scrub=False)
    assert list(q.columns) == [
        "rank",
        "participant",
        "persona",
        "touchpoint",
        "code",
        "valence",
        "text",
        "excerpt_id",
        "source",
        "coder",
    ]
    # first round, one per participant: strongest (-2) first; within -2, in-bounds before the
    # 500-character and the 4-character ones; then -1; then the second round
    assert q["excerpt_id"].tolist() == ["q2", "q4", "q5", "q1", "q3"]
    assert q["rank"].tolist() == [1, 2, 3, 4, 5]


def test_quotes_filters_and_directions():
    d = quote_data()
    assert quotes(d, valence="positive", scrub=False)["excerpt_id"].tolist() == ["q6"]
    assert quotes(d, valence="neutral", scrub=False)["excerpt_id"].tolist() == ["q7"]
    assert quotes(d, persona="connecte", scrub=False)["excerpt_id"].tolist() == ["q5"]
    anyq = quotes(d, valence="any", n=10, scrub=False)
    assert len(anyq) == 7 and anyq["excerpt_id"].iloc[0] == "q2"
    assert quotes(d, touchpoint="signup").empty
    with pytest.raises(StudyError, match="valence="):
        quotes(d, valence="angry")
    with pytest.raises(AnalysisError, match="positive integer"):
        quotes(d, n=0)


def test_quotes_are_scrubbed_by_default_and_pseudonymised():
    q = quotes(quote_data(), n=1, names=["Martin"])
    assert q["text"].iloc[0].endswith("[NAME], appelez le [PHONE].")
    assert "Marie" not in q["text"].iloc[0]
    q = quotes(quote_data(), n=1, salt="s")
    assert q["participant"].iloc[0] == pseudonymise("Marie Dubois", "s")


def test_quotes_merge_double_coding():
    d = pd.concat(
        [
            quote_data().iloc[[2]].assign(coder="A", valence=-1),
            quote_data().iloc[[2]].assign(coder="B", valence=-2),
        ]
    )
    q = quotes(d, scrub=False)
    assert len(q) == 1 and q["valence"].iloc[0] == -1.5 and q["coder"].iloc[0] == "A; B"
