"""The executive summary's sentences (:func:`parcours_research.findings.findings`).

Expected numbers are never typed in: each sentence's value and interval are read back from the
analysis table it comes from (the triangulation, the journey curves with their simultaneous band,
the conversion pyramid, the driver importance, the cleaning log), computed here once on the
sample study by the package's analyses. A study without confirmed friction is built two ways:
the sample's own triangulation with nothing confirmed (table input), and a simulated null study
(``make_sample(effects="null")``, marked slow).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research._present import fmt_number, fmt_percent
from parcours_research.errors import AnalysisError
from parcours_research.findings import COLUMNS, FINDING_KINDS, findings

ANCHORS = {"friction", "importance", "curves", "pyramid", "drivers", "traces", "weighting"}
N_BOOT = 50  # the band's and the drivers' intervals: enough to check sentences against tables


@pytest.fixture(scope="module")
def tables(sample_study):
    ev = pr.prepare(sample_study)
    st = sample_study
    tri = pr.friction.triangulate(ev)
    curves = pr.curves.journey_curves(ev, band="simultaneous", n_boot=N_BOOT, seed=0, lang="en")
    pyramid = pr.traces.pyramid(ev, by=ev.traces.by)
    drivers = pr.satisfaction.drivers(
        ev.responses,
        outcome=st.instrument.first("overall"),
        drivers=st.touchpoint_columns,
        weight="weight",
        n_boot=N_BOOT,
        seed=0,
    )
    overall = pr.satisfaction.scores(
        ev.ratings, "score", by=None, weight="weight", cluster="respondent_id"
    )
    ipa = pr.satisfaction.importance_performance(
        drivers, overall, targets={t.id: t.target_satisfaction for t in st.journey.touchpoints}
    )
    return {
        "ev": ev,
        "friction": tri,
        "curves": curves,
        "pyramid": pyramid,
        "drivers": drivers,
        "ipa": ipa,
    }


def _findings(tables, lang="en", **override):
    kw = {k: tables[k] for k in ("friction", "curves", "pyramid", "drivers", "ipa")}
    kw.update(override)
    return findings(tables["ev"], lang=lang, **kw)


@pytest.fixture(scope="module")
def en(tables):
    return _findings(tables, "en")


@pytest.fixture(scope="module")
def fr(tables):
    return _findings(tables, "fr")


def test_tidy_table_in_summary_order(en, fr):
    for f in (en, fr):
        assert list(f.columns) == COLUMNS
        assert set(f["kind"]) <= set(FINDING_KINDS)
        order = [FINDING_KINDS.index(k) for k in f["kind"]]
        assert order == sorted(order)
        assert set(f["anchor"]) <= ANCHORS
        text = " ".join(f["sentence"])
        assert not re.search(r"\bnan\b|\binf\b|<NA>|None|_", text, re.I), text
    assert len(en) == len(fr) and list(en["kind"]) == list(fr["kind"])
    np.testing.assert_array_equal(en["value"].to_numpy(), fr["value"].to_numpy())


def test_confirmed_friction_states_the_curve_gap_and_its_band(tables, en, fr):
    summary, curves, j = tables["friction"].summary, tables["curves"], tables["ev"].study.journey
    confirmed = summary[summary["confirmed"]]
    assert len(confirmed) >= 1  # the sample plants one friction (truth.json)
    rows = en[en["kind"] == "friction"]
    assert len(rows) == len(confirmed)
    for (_, c), (_, row), (_, row_fr) in zip(
        confirmed.iterrows(), rows.iterrows(), fr[fr["kind"] == "friction"].iterrows()
    ):
        cur = curves[
            (curves["touchpoint"] == c["touchpoint"]) & (curves["persona"] == c["persona"])
        ].iloc[0]
        assert row["value"] == cur["gap"]
        assert row["ci_low"] == pytest.approx(cur["ci_low"] - cur["target"])
        assert row["ci_high"] == pytest.approx(cur["ci_high"] - cur["target"])
        assert (
            j.label(c["touchpoint"], "en") in row["sentence"]
            and j.label(c["persona"], "en") in row["sentence"]
        )
        assert fmt_number(cur["gap"], "en", sign=True) in row["sentence"]
        assert (
            fmt_number(cur["gap"], "fr", sign=True) in row_fr["sentence"]
        )  # "−1,31": decimal comma
        assert "," in fmt_number(cur["gap"], "fr") and row["anchor"] == "friction"


def test_low_priority_quadrant_of_a_confirmed_friction_is_explained(tables, en):
    ipa, summary = tables["ipa"], tables["friction"].summary
    tps = set(summary.loc[summary["confirmed"], "touchpoint"])
    low = ipa[
        ipa["touchpoint"].isin(tps) & ipa["quadrant"].isin(["low priority", "possible overkill"])
    ]
    rows = en[en["kind"] == "priority"]
    assert len(rows) == len(low)
    for (_, q), (_, r) in zip(low.iterrows(), rows.iterrows()):
        assert r["value"] == q["importance"] and r["anchor"] == "importance"
        assert "Low priority" in r["sentence"] or "Possible overkill" in r["sentence"]


def test_pyramid_sentences_name_every_stage_below_target(tables, en):
    pyr, j = tables["pyramid"], tables["ev"].study.journey
    p = pyr[pyr["persona"].notna()]
    below = p[p["ci_high"] < p["target"]]
    rows = en[en["kind"] == "pyramid"]
    assert len(rows) == below["stage"].nunique()
    for stage, g in below.groupby("stage"):
        row = rows[rows["sentence"].str.contains(j.label(stage, "en"), regex=False)]
        assert len(row) == 1
        worst = g.sort_values("rate").iloc[0]
        assert row["value"].iloc[0] == worst["rate"] and row["ci_low"].iloc[0] == worst["ci_low"]
        for r in g.itertuples():
            assert fmt_percent(r.rate, "en") in row["sentence"].iloc[0]


def test_drivers_are_the_touchpoints_clearly_above_an_equal_share(tables, en):
    res = tables["drivers"]
    d = res.summary.sort_values("rank")
    strong = d[d["ci_low"] > res.r2 / len(d)].head(3)
    rows = en[en["kind"] == "driver"]
    assert len(rows) == max(len(strong), 1)
    np.testing.assert_array_equal(rows["value"].to_numpy(), strong["importance"].to_numpy())
    np.testing.assert_array_equal(rows["ci_low"].to_numpy(), strong["ci_low"].to_numpy())


def test_data_quality_reads_the_cleaning_log(tables, en):
    log = tables["ev"].traces.cleaning
    rows = en[en["kind"] == "data_quality"]
    trace = rows[rows["sentence"].str.startswith("Trace quality")].iloc[0]
    assert trace["value"] == log.bot_share
    assert f"{log.n_input:,}" in trace["sentence"] and f"{log.n_kept:,}" in trace["sentence"]
    bots = int(log.summary.loc[log.summary["reason"].str.startswith("bot"), "n"].sum())
    assert f"{bots:,}" in trace["sentence"]
    n_dev = tables["ev"].traces.conflicts["device_id"].nunique()
    assert rows["sentence"].str.contains(f"{n_dev} devices").any()


def test_no_confirmed_friction_is_said_plainly(tables):
    tri = tables["friction"]
    nothing = tri.summary.assign(confirmed=False)  # the same study with no friction confirmed
    for lang, words in (
        ("en", "No friction point is confirmed"),
        ("fr", "Aucun point de friction n'est confirmé"),
    ):
        f = _findings(tables, lang, friction=nothing)
        first = f.iloc[0]
        assert first["kind"] == "friction" and first["sentence"].startswith(words)
        assert first["value"] == 0 and pd.isna(first["ci_low"])
        assert (f["kind"] == "friction").sum() == 1
        assert not (f["kind"] == "priority").any()  # nothing to explain in a quadrant


def test_findings_needs_a_study(tables):
    with pytest.raises(AnalysisError, match="Study"):
        findings(tables["curves"], lang="en")
    with pytest.raises(ValueError, match="lang"):
        findings(tables["ev"], lang="de")


@pytest.mark.slow
def test_null_study_has_no_confirmed_friction(tmp_path):
    """A simulated study with no planted friction (``parcours sample --null``): ~35 s."""
    folder = pr.sample.make_sample(
        tmp_path / "null",
        seed=3,
        n_customers=400,
        n_prospects=200,
        n_respondents=300,
        n_participants=12,
        effects="null",
    )
    f = findings(pr.load_study(folder), lang="en", n_boot=N_BOOT)
    assert f.iloc[0]["sentence"].startswith("No friction point is confirmed")
    assert (f["kind"] == "friction").sum() == 1
