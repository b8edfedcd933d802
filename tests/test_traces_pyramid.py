"""The conversion pyramid (pr.traces.pyramid) and its figure (pr.plot.pyramid).

Where the expected numbers come from:
- counts: a hand-made log whose entered/reached are worked out by hand below, person by
  person; on generated logs, ``pr.traces.funnel(..., on="touchpoint")`` for the same steps
  (the one funnel definition, itself tested against ClickHouse's windowFunnel);
- intervals: statsmodels ``proportion_confint(method="beta")`` (Clopper–Pearson), used only in
  the tests, and R's ``?binom.test`` example (682 of 925 against 3/4: p-value 0.3825, 95 % CI
  0.7076683 to 0.7654066);
- p-values: the exact two-sided binomial test written out with ``math.comb`` (the sum of the
  probabilities of outcomes no likelier than the observed one, R's ``binom.test`` rule with
  its relative tolerance 1 + 1e-7).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint
from traces_fixtures import engines, log_on

import parcours_research as pr
from parcours_research.errors import AnalysisError
from parcours_research.journey import JourneyMap, Label, Persona, Stage, Touchpoint
from parcours_research.traces.pyramid import clopper_pearson

matplotlib.use("Agg")

T0 = pd.Timestamp("2026-02-02 09:00", tz="Europe/Paris")
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)


def _journey(targets=(0.9, 0.5, 0.7, 0.4)) -> JourneyMap:
    """Four stages; s3 is in-store only (no trace events); s2 has two touchpoints."""

    def lab(x):
        return Label(x.upper(), x.upper() + " (en)")

    stages = tuple(Stage(f"s{i}", lab(f"s{i}"), i, t) for i, t in enumerate(targets, 1))
    tps = (
        Touchpoint("t1", lab("t1"), "s1", "web", events=("e1",), order=1),
        Touchpoint("t2a", lab("t2a"), "s2", "web", events=("e2a",), order=2),
        Touchpoint("t2b", lab("t2b"), "s2", "app", events=("e2b",), order=3),
        Touchpoint("t3", lab("t3"), "s3", "store", nature="tangible", order=4),
        Touchpoint("t4", lab("t4"), "s4", "web", events=("e4",), order=5),
    )
    personas = (Persona("p1", lab("p1")), Persona("p2", lab("p2")))
    return JourneyMap("test", stages, tps, personas)


TP_OF = {"e1": "t1", "e2a": "t2a", "e2b": "t2b", "e4": "t4"}


def _events(rows) -> pd.DataFrame:
    """``rows``: (user, persona, time, event); ``touchpoint`` mapped as map_touchpoints would."""
    df = pd.DataFrame(rows, columns=["user_id", "persona", "timestamp", "event"])
    df["touchpoint"] = df["event"].map(TP_OF).astype("string")
    return df


def hand_log() -> pd.DataFrame:
    return _events(
        [
            # p1
            ("u1", "p1", T0, "e1"),  # s1, s2, s4 within the day
            ("u1", "p1", T0 + H, "e2a"),
            ("u1", "p1", T0 + 2 * H, "e4"),
            ("u2", "p1", T0, "e1"),  # s1; its s2 event comes 2 days later: out of the window
            ("u2", "p1", T0 + 2 * D, "e2b"),
            ("u3", "p1", T0, "e2a"),  # never reaches s1 (but is in the group)
            # p2
            ("u4", "p2", T0, "e1"),  # a first try, then a full chain from the second s1 event
            ("u4", "p2", T0 + 5 * D, "e1"),
            ("u4", "p2", T0 + 5 * D + H, "e2b"),
            ("u4", "p2", T0 + 5 * D + 3 * H, "e4"),
            ("u5", "p2", T0, "e4"),  # s4 before s1 does not count
            ("u5", "p2", T0 + H, "e1"),
            ("u5", "p2", T0 + 2 * H, "e2a"),
            ("u6", "p2", T0, "login"),  # an event of no touchpoint: in the group, reaches nothing
        ]
    )


# Worked out by hand from the rows above, window 1 day. (entered, reached) per stage;
# s3 is not traced, so s4's entered is s2's reached.
EXPECTED = {
    "p1": {"s1": (3, 2), "s2": (2, 1), "s4": (1, 1)},  # s1: u1 u2 of u1-u3; s2: u1; s4: u1
    "p2": {"s1": (3, 2), "s2": (2, 2), "s4": (2, 1)},  # s1: u4 u5 of u4-u6; s2: u4 u5; s4: u4
}


# -- (1) counts on a hand-made log ----------------------------------------------------------
@pytest.mark.parametrize("engine", engines(), ids=["fast", "sql"])
def test_hand_made_log_counts(engine):
    table = pr.traces.pyramid(log_on(hand_log(), engine), journey=_journey(), window="1D")
    assert list(table.columns[:9]) == [
        "persona",
        "stage",
        "entered",
        "reached",
        "rate",
        "ci_low",
        "ci_high",
        "target",
        "p_value",
    ]
    assert table["persona"].tolist() == ["p1"] * 4 + ["p2"] * 4
    assert table["stage"].tolist() == ["s1", "s2", "s3", "s4"] * 2
    for (persona, stage), row in table.set_index(["persona", "stage"]).iterrows():
        if stage == "s3":
            continue
        assert (row["entered"], row["reached"]) == EXPECTED[persona][stage], (persona, stage)
        assert row["rate"] == pytest.approx(row["reached"] / row["entered"])
    t = table.set_index(["persona", "stage"])
    assert t.loc[("p1", "s4"), "from_stage"] == "s2"
    assert t.loc[("p2", "s4"), "rate_from_first"] == pytest.approx(1 / 2)
    assert t["target"].tolist() == [0.9, 0.5, 0.7, 0.4] * 2
    assert (t["window"] == "1D").all() and (t["confidence"] == 0.95).all()


def test_dataframe_and_no_groups():
    table = pr.traces.pyramid(hand_log(), by=None, journey=_journey(), window="1D")
    assert "persona" not in table.columns and table.columns[0] == "stage"
    t = table.set_index("stage")
    # both personas together: s1 4 of 6, s2 3 of 4, s4 2 of 3
    assert [(t.loc[s, "entered"], t.loc[s, "reached"]) for s in ("s1", "s2", "s4")] == [
        (6, 4),
        (4, 3),
        (3, 2),
    ]


def test_window_changes_reach():
    # with a 3-day window u2's s2 event (2 days after s1) counts
    t = pr.traces.pyramid(hand_log(), journey=_journey(), window="3D").set_index(
        ["persona", "stage"]
    )
    assert (t.loc[("p1", "s2"), "entered"], t.loc[("p1", "s2"), "reached"]) == (2, 2)


def test_persons_without_a_group_are_a_group_last():
    df = hand_log()
    df.loc[df["user_id"] == "u6", "persona"] = None
    t = pr.traces.pyramid(df, journey=_journey(), window="1D")
    assert t["persona"].iloc[:8].tolist() == ["p1"] * 4 + ["p2"] * 4
    assert t["persona"].iloc[8:].isna().all()
    assert t["entered"].iloc[8] == 1 and t["reached"].iloc[8] == 0


# -- (2) intervals and p-values against independent references ------------------------------
def _binom_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value, written out: sum of P(X = i) over the outcomes i no
    likelier than k (R's binom.test, relative tolerance 1 + 1e-7)."""
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7)))


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_ci_and_p_value_against_references(confidence):
    rng = np.random.default_rng(3)
    rows = []
    for u in range(60):
        persona = "p1" if u % 2 else "p2"
        t = T0 + u * H
        rows.append((f"u{u}", persona, t, "e1"))
        if rng.random() < 0.7:
            rows.append((f"u{u}", persona, t + H, "e2a" if rng.random() < 0.5 else "e2b"))
            if rng.random() < 0.4:
                rows.append((f"u{u}", persona, t + 2 * H, "e4"))
    targets = {"s1": 0.97, "s2": 0.5, "s4": 0.2}
    table = pr.traces.pyramid(
        _events(rows), journey=_journey(), targets=targets, window="1D", confidence=confidence
    )
    traced = table[table["traced"]]
    assert len(traced) == 6
    for _, r in traced.iterrows():
        k, n = int(r["reached"]), int(r["entered"])
        lo, hi = proportion_confint(k, n, alpha=1 - confidence, method="beta")
        assert r["ci_low"] == pytest.approx(lo, abs=1e-10)
        assert r["ci_high"] == pytest.approx(hi, abs=1e-10)
        assert r["target"] == targets[r["stage"]]
        assert r["p_value"] == pytest.approx(_binom_two_sided(k, n, targets[r["stage"]]), rel=1e-9)
    assert table.loc[~table["traced"], "target"].tolist() == [0.7, 0.7]  # s3 keeps its target


def test_r_binom_test_published_example():
    # R, ?binom.test: binom.test(c(682, 243), p = 3/4) -> p-value = 0.3825,
    # 95 percent confidence interval 0.7076683 0.7654066
    lo, hi = clopper_pearson(682, 925, 0.95)
    assert (lo, hi) == pytest.approx((0.7076683, 0.7654066), abs=5e-8)
    assert _binom_two_sided(682, 925, 0.75) == pytest.approx(0.3825, abs=5e-5)


def test_edges_of_the_interval():
    assert clopper_pearson(0, 10)[0] == 0.0 and clopper_pearson(10, 10)[1] == 1.0
    assert all(np.isnan(clopper_pearson(0, 0)))
    table = pr.traces.pyramid(hand_log(), journey=_journey(), targets={"s2": None}, window="1D")
    assert table.loc[table["stage"] == "s2", "p_value"].isna().all()
    assert table.loc[table["stage"] == "s2", "target"].isna().all()


# -- (3) properties on generated logs -------------------------------------------------------
EVENTS = ["e1", "e2a", "e2b", "e4", "login"]
rows_st = st.lists(
    st.tuples(
        st.integers(0, 7),  # person
        st.integers(0, 30),  # hours after T0
        st.sampled_from(EVENTS),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_st, window_h=st.integers(0, 30))
def test_properties_and_agreement_with_the_funnel(rows, window_h):
    df = _events(
        [(f"u{p}", f"p{1 + p % 2}", T0 + h * H, e) for p, h, e in rows]
    )  # persona fixed per person
    window = pd.Timedelta(hours=window_h)
    table = pr.traces.pyramid(df, journey=_journey(), window=window)
    ref = pr.traces.funnel(
        df, steps=[["t1"], ["t2a", "t2b"], ["t4"]], on="touchpoint", window=window, by="persona"
    )
    traced = table[table["traced"]].reset_index(drop=True)
    assert (traced["reached"] <= traced["entered"]).all()
    for persona, g in traced.groupby("persona"):
        g = g.sort_values("stage_order")
        assert g["entered"].iloc[0] == df.loc[df["persona"] == persona, "user_id"].nunique()
        assert (g["entered"].to_numpy()[1:] == g["reached"].to_numpy()[:-1]).all()
        f = ref[ref["persona"] == persona].sort_values("step_index")
        assert g["entered"].tolist() == f["entered"].tolist()
        assert g["reached"].tolist() == f["converted"].tolist()


# -- (4) a stage the traces cannot see ------------------------------------------------------
def test_stage_without_trace_touchpoints_is_a_documented_row():
    table = pr.traces.pyramid(hand_log(), journey=_journey(), window="1D")
    s3 = table[table["stage"] == "s3"]
    assert len(s3) == 2 and not s3["traced"].any()
    assert s3["entered"].isna().all() and s3["reached"].isna().all()
    assert s3[["rate", "ci_low", "ci_high", "p_value"]].isna().all().all()
    assert s3["note"].str.contains("not in the traces").all()
    assert (s3["n_touchpoints"] == 0).all()
    assert table.loc[table["traced"], "note"].isna().all()
    assert str(table["entered"].dtype) == "Int64"


def test_touchpoints_mapped_but_never_seen_reach_zero():
    df = hand_log()
    df = df[df["event"] != "e4"]
    t = pr.traces.pyramid(df, journey=_journey(), window="1D")
    s4 = t[t["stage"] == "s4"]
    assert s4["traced"].all() and (s4["reached"] == 0).all()


def test_no_traced_stage_at_all_is_an_error():
    j = _journey()
    j = JourneyMap(
        j.name,
        j.stages,
        tuple(Touchpoint(t.id, t.label, t.stage, t.channel, order=t.order) for t in j.touchpoints),
        j.personas,
    )
    with pytest.raises(AnalysisError, match="no stage can be reached in traces"):
        pr.traces.pyramid(hand_log(), journey=j)


# -- (5) bad input --------------------------------------------------------------------------
def test_bad_input_lists_every_problem_with_a_fix():
    df = hand_log().drop(columns=["touchpoint"])
    with pytest.raises(AnalysisError) as exc:
        pr.traces.pyramid(
            df, journey=_journey(), by="segment", confidence=1.5, targets={"nope": 0.2}
        )
    msg = str(exc.value)
    assert "4 problems" in msg
    assert "map_touchpoints" in msg
    assert "'segment'" in msg
    assert "confidence=1.5" in msg
    assert "unknown stage 'nope'" in msg
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({}, "no journey"),
        ({"journey": _journey(), "window": "soon"}, "not a duration"),
        ({"journey": _journey(), "targets": {"s1": 1.2}}, "not a share between 0 and 1"),
        ({"journey": "lifecycle6"}, "not a JourneyMap"),
        ({"journey": _journey(), "by": "stage"}, "clash"),
    ],
)
def test_bad_arguments(kwargs, text):
    with pytest.raises(AnalysisError, match=text):
        pr.traces.pyramid(hand_log(), **kwargs)


def test_not_events():
    with pytest.raises(AnalysisError, match="not list"):
        pr.traces.pyramid([1, 2, 3], journey=_journey())
    with pytest.raises(AnalysisError, match="cannot be analysed"):
        pr.traces.pyramid(hand_log().drop(columns=["timestamp"]), journey=_journey())


def test_missing_persona_column_says_how_to_attach():
    with pytest.raises(AnalysisError, match="pr.traces.attach"):
        pr.traces.pyramid(hand_log().drop(columns=["persona"]), journey=_journey())


# -- (6) the figure -------------------------------------------------------------------------
def _gids(fig, prefix):
    return [
        a.get_gid()
        for ax in fig.axes
        for a in ax.get_children()
        if isinstance(a.get_gid(), str) and a.get_gid().startswith(prefix)
    ]


def test_figure_marks_one_target_per_stage_with_a_target():
    import matplotlib.pyplot as plt

    table = pr.traces.pyramid(hand_log(), journey=_journey(), targets={"s2": None}, window="1D")
    fig = pr.plot.pyramid(table, journey=_journey(), lang="en")
    assert sorted(_gids(fig, "pyramid_target:")) == [
        "pyramid_target:s1",
        "pyramid_target:s3",
        "pyramid_target:s4",
    ]
    (line,) = [a for a in fig.axes[0].get_children() if a.get_gid() == "pyramid_target:s4"]
    assert line.get_segments()[0][0][1] == pytest.approx(0.4)
    assert _gids(fig, "pyramid_untraced:") == ["pyramid_untraced:s3"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "S1 (en)",
        "S2 (en)",
        "S3 (en)",
        "S4 (en)",
    ]
    bars = [p for p in ax.patches if p.get_gid() == "pyramid:p1"]
    assert [b.get_height() for b in bars] == pytest.approx([2 / 3, 1 / 2, 1.0])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Stage conversion target" in legend and "95% CI (Clopper–Pearson)" in legend
    plt.close(fig)


def test_figure_rejects_other_tables():
    with pytest.raises(AnalysisError, match="pr.traces.pyramid"):
        pr.plot.pyramid(pd.DataFrame({"step": ["a"], "converted": [1]}))


# -- the study path -------------------------------------------------------------------------
def test_study_uses_the_prepared_traces(sample_study):
    """On the sample study, the pyramid of the study equals the pyramid of the event log
    prepared by hand (read, clean, stitch, sessionize, map touchpoints, attach personas) with
    the study's funnel window."""
    st_ = sample_study
    tr = pr.traces
    log, _ = tr.clean(tr.read_events(st_))
    log, _ = tr.stitch(log)
    log = tr.map_touchpoints(tr.sessionize(log))
    log = tr.attach(log, st_.customers[["customer_id", "persona"]], on="user_id", key="customer_id")
    by_hand = tr.pyramid(log, journey=st_.journey, window=st_.traces.funnel_window)
    table = tr.pyramid(st_, by="persona")
    pd.testing.assert_frame_equal(table, by_hand)
    assert (table["window"] == st_.traces.funnel_window).all()
    assert table["persona"].dropna().unique().tolist() == st_.journey.persona_ids
