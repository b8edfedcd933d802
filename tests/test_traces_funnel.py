"""Funnels against plain-Python references.

References (written in tests/traces_fixtures.py, independent of the package):
- a line-by-line transcription of ClickHouse's windowFunnel (src/AggregateFunctions/
  AggregateFunctionWindowFunnel.cpp, default and strict_order modes);
- an exhaustive search over chains (the definition in the funnel docstring), which also covers
  optional and excluded steps, and the any-order definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traces_fixtures import (
    awkward_log,
    brute_force_any,
    brute_force_reached,
    clickhouse_window_funnel,
    engines,
    log_on,
    person_rows,
)

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError

MIN = 60_000_000
STEPS = ["a", "b", "c", "d"]
STEP_OF = {e: i for i, e in enumerate(STEPS, 1)}


def _ours(df, engine, **kw):
    out = pr.traces.funnel_users(log_on(df, engine), **kw)
    return dict(zip(out["user_id"], out["furthest_step"]))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("order", ["sequential", "strict"])
def test_furthest_step_matches_clickhouse(seed, order):
    df = awkward_log(seed)
    rows = person_rows(df)
    expected = {
        p: clickhouse_window_funnel(r, STEP_OF, 4, 10 * MIN, strict_order=order == "strict")
        for p, r in rows.items()
    }
    for eng in engines():
        got = _ours(df, eng, steps=STEPS, window="10min", order=order)
        assert got == expected, (eng, order)


@pytest.mark.parametrize("seed", range(4))
def test_sequential_matches_brute_force_with_optional_and_exclusion(seed):
    df = awkward_log(seed + 10)
    rows = person_rows(df)
    for optional, exclude in [((), ()), ((2,), ()), ((2, 3), ()), ((), ("x",)), ((3,), ("x",))]:
        expected = {}
        for p, r in rows.items():
            reach = brute_force_reached(r, STEP_OF, 4, 10 * MIN, optional, exclude)
            expected[p] = max(reach) if reach else 0
        for eng in engines():
            got = _ours(
                df,
                eng,
                steps=STEPS,
                window="10min",
                optional=list(optional) or None,
                exclude=list(exclude) or None,
            )
            assert got == expected, (optional, exclude, eng)


@pytest.mark.parametrize("seed", range(4))
def test_any_order_matches_brute_force(seed):
    df = awkward_log(seed + 20)
    rows = person_rows(df)
    for optional, exclude in [((), ()), ((2,), ("x",))]:
        expected = {}
        for p, r in rows.items():
            reach = brute_force_any(r, STEP_OF, 4, 10 * MIN, optional, exclude)
            expected[p] = max(reach) if reach else 0
        for eng in engines():
            got = _ours(
                df,
                eng,
                steps=STEPS,
                window="10min",
                order="any",
                optional=list(optional) or None,
                exclude=list(exclude) or None,
            )
            assert got == expected


events_st = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 25), st.sampled_from(["a", "b", "c", "d", "x"])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events_st, window=st.integers(0, 15), strict=st.booleans())
def test_hypothesis_clickhouse_and_monotone(events, window, strict):
    df = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u, _, _ in events],
            "timestamp": [
                pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=m) for _, m, _ in events
            ],
            "event": [e for _, _, e in events],
        }
    )
    rows = person_rows(df)
    order = "strict" if strict else "sequential"
    expected = {
        p: clickhouse_window_funnel(r, STEP_OF, 4, window * MIN, strict_order=strict)
        for p, r in rows.items()
    }
    for eng in engines():
        assert (
            _ours(df, eng, steps=STEPS, window=pd.Timedelta(minutes=window), order=order)
            == expected
        )
        table = pr.traces.funnel(
            log_on(df, eng), steps=STEPS, window=pd.Timedelta(minutes=window), order=order
        )
        conv = table["converted"].to_numpy()
        assert (np.diff(conv) <= 0).all()
        assert (np.diff(table["entered"].to_numpy()) <= 0).all()


def test_table_definitions_from_per_user_reference():
    df = awkward_log(3, n_users=60)
    rows = person_rows(df)
    furthest = np.array([clickhouse_window_funnel(r, STEP_OF, 4, 10 * MIN) for r in rows.values()])
    for eng in engines():
        table = pr.traces.funnel(log_on(df, eng), steps=STEPS, window="10min")
        conv = [int((furthest >= k).sum()) for k in range(1, 5)]
        assert table["converted"].tolist() == conv
        assert table["entered"].tolist() == [len(rows), *conv[:-1]]
        assert table["drop_off"].tolist() == [e - c for e, c in zip(table["entered"], conv)]
        np.testing.assert_allclose(table["rate_from_first"], np.array(conv) / conv[0])
        np.testing.assert_allclose(
            table["rate_from_previous"], np.array(conv) / np.array([len(rows), *conv[:-1]])
        )
        assert list(table.columns) == [
            "step",
            "step_index",
            "optional",
            "entered",
            "converted",
            "rate_from_first",
            "rate_from_previous",
            "drop_off",
        ]


def test_breakdown_by_group_uses_earliest_event_value():
    df = awkward_log(4, n_users=40)
    df["persona"] = np.where(df["user_id"].str[-1].isin(list("02468")), "p_even", "p_odd")
    rows = person_rows(df)
    for eng in engines():
        table = pr.traces.funnel(log_on(df, eng), steps=STEPS, window="10min", by="persona")
        for persona, g in table.groupby("persona"):
            users = [p for p in rows if (p[-1] in "02468") == (persona == "p_even")]
            furthest = np.array(
                [clickhouse_window_funnel(rows[p], STEP_OF, 4, 10 * MIN) for p in users]
            )
            assert g["converted"].tolist() == [int((furthest >= k).sum()) for k in range(1, 5)]
            assert g["entered"].iloc[0] == len(users)


def test_time_zone_does_not_change_the_funnel():
    df = awkward_log(5)
    other = df.assign(timestamp=df["timestamp"].dt.tz_convert("America/New_York"))
    for eng in engines():
        a = pr.traces.funnel_users(log_on(df, eng), steps=STEPS, window="10min")
        b = pr.traces.funnel_users(log_on(other, eng), steps=STEPS, window="10min")
        pd.testing.assert_frame_equal(a, b)


def test_ties_count_in_step_order_and_window_is_inclusive():
    t0 = pd.Timestamp("2026-01-01 10:00", tz="UTC")
    df = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
            # u1: b written before a at the same instant: ClickHouse orders ties by step -> 2 steps
            # u2: b exactly one window after a -> inside (inclusive); u3: one microsecond later -> out
            "timestamp": [
                t0,
                t0,
                t0,
                t0 + pd.Timedelta("10min"),
                t0,
                t0 + pd.Timedelta("10min") + pd.Timedelta(microseconds=1),
            ],
            "event": ["b", "a", "a", "b", "a", "b"],
        }
    )
    for eng in engines():
        got = _ours(df, eng, steps=["a", "b"], window="10min")
        assert got == {"u1": 2, "u2": 2, "u3": 1}


def test_step_as_list_and_touchpoints():
    df = pd.DataFrame(
        {
            "user_id": ["u1"] * 3,
            "event": ["home", "quote_a", "buy"],
            "timestamp": pd.date_range("2026-01-01", periods=3, freq="min", tz="UTC"),
        }
    )
    for eng in engines():
        got = _ours(df, eng, steps=["home", ["quote_a", "quote_b"], "buy"], window="1D")
        assert got == {"u1": 3}
        log = pr.traces.map_touchpoints(log_on(df, eng), {"web": ["home"], "quote": ["quote_a"]})
        got = pr.traces.funnel_users(log, steps=["web", "quote"], on="touchpoint")
        assert got["furthest_step"].tolist() == [2]


@pytest.mark.parametrize("optional", [(), (2,), (2, 3)])
def test_funnel_users_add_up_to_the_funnel(optional):
    # one definition, two tables: a person counts as converted at a mandatory step k exactly
    # when their furthest step is k or beyond (the counts are the funnel's own)
    df = awkward_log(7, n_users=40)
    df["persona"] = np.where(df["user_id"].str[-1].isin(list("02468")), "p_even", "p_odd")
    kw = dict(steps=STEPS, window="10min", by="persona", optional=list(optional) or None)
    for eng in engines():
        table = pr.traces.funnel(log_on(df, eng), **kw)
        users = pr.traces.funnel_users(log_on(df, eng), **kw)
        assert list(users.columns) == ["user_id", "persona", "furthest_step"]
        assert users["user_id"].is_monotonic_increasing and users["user_id"].is_unique
        for persona, g in table.groupby("persona"):
            u = users[users["persona"] == persona]
            assert g["entered"].iloc[0] == len(u)
            for k, converted in zip(g["step_index"], g["converted"]):
                if k not in optional:
                    assert converted == int((u["furthest_step"] >= k).sum()), (eng, persona, k)


def test_bad_definitions_are_reported():
    df = awkward_log(0, n_users=3)
    with pytest.raises(AnalysisError, match="steps 1 and 2"):
        pr.traces.funnel(df, steps=["a", "a"])
    with pytest.raises(AnalysisError, match="first step cannot be optional"):
        pr.traces.funnel(df, steps=["a", "b"], optional=[1])
    with pytest.raises(AnalysisError, match="are funnel steps"):
        pr.traces.funnel(df, steps=["a", "b"], exclude=["b"])
    with pytest.raises(StudyError, match="order="):
        pr.traces.funnel(df, steps=["a", "b"], order="loose")
    with pytest.raises(AnalysisError, match="no column"):
        pr.traces.funnel(df, steps=["a", "b"], by="persona")
