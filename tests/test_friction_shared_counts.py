"""Trace step counts: counted once per prepared study, and the array path equals the SQL path.

The friction tests (``test_traces``, through ``triangulate``) and ``next_wave`` read the same
step counts (:func:`parcours_research.friction.trace_counts`): they are computed once per
prepared study and shared through the prepared evidence (``Evidence.derived``).

The reference for the in-memory counts (DuckDB's fast path, over the log's sorted arrays) is
the SQL written for every engine (``DuckDBEngine(fast=False)``, the query Spark runs): the two
must give the same table, censoring, period split and ``personas=`` included.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traces_fixtures import one_touchpoint_journey

import parcours_research as pr
from parcours_research.friction import counts as counts_module

T0 = pd.Timestamp("2026-01-01", tz="UTC")
STEPS = ["a", "b", "c"]
PERSONAS = ["p", "q"]


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    folder = pr.sample.make_sample(
        tmp_path_factory.mktemp("shared") / "s",
        seed=1,
        n_customers=200,
        n_prospects=60,
        n_respondents=120,
        n_participants=6,
        days=28,
    )
    return pr.load_study(folder)


def test_friction_and_next_wave_count_once(small_study, monkeypatch):
    from parcours_research.next_wave import DEFAULT_MDE, evidence_matrix

    ev = pr.prepare(small_study)
    ev.__dict__.pop("_derived", None)  # whatever an earlier test left
    calls = []
    original = counts_module._counts_in_memory

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(counts_module, "_counts_in_memory", counting)
    tests = pr.friction.test_traces(ev, family="source")  # what triangulate runs
    matrix = evidence_matrix(small_study, mde=dict(DEFAULT_MDE))
    assert len(calls) == 1
    assert len(tests) and (matrix["source"] == "traces").any()
    # next_wave's trace rows are those counts: n per touchpoint and persona
    c = pr.friction.trace_counts(small_study)
    assert len(calls) == 1
    c = c[c["persona"] != "all"]
    rows = matrix[matrix["source"] == "traces"]
    for r in rows.itertuples():
        sub = c[c["touchpoint"] == r.touchpoint]
        if (sub["kind"] == "touchpoint").any():
            sub = sub[sub["kind"] == "touchpoint"]
        assert r.n == int(sub.loc[sub["persona"] == r.persona, "n"].sum())


def test_the_shared_counts_are_not_changed_by_a_caller(small_study):
    first = pr.friction.trace_counts(small_study)
    kept = first.copy()
    first["n"] = -1
    first["extra"] = 1.0
    again = pr.friction.trace_counts(pr.prepare(small_study))
    pd.testing.assert_frame_equal(again, kept)
    # other options are other counts, kept beside the first
    split = pr.friction.trace_counts(small_study, period_split="half")
    assert "period" in split.columns and "period" not in again.columns


def test_a_table_option_is_counted_afresh(small_study):
    personas = small_study.customers[["customer_id", "persona"]]
    a = pr.friction.trace_counts(small_study, personas=personas)
    b = pr.friction.trace_counts(small_study, personas=personas)
    assert a is not b
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------- the array path = the SQL path
@st.composite
def logs(draw):
    """Small logs: a few users over a few days, repeats, ties, a persona per user (or none),
    a device-only visitor, rows without a time stamp."""
    n_users = draw(st.integers(1, 6))
    rows = []
    for u in range(n_users):
        persona = draw(st.sampled_from([*PERSONAS, None]))
        user = f"u{u}" if draw(st.booleans()) or u else None
        for _ in range(draw(st.integers(0, 8))):
            hours = draw(st.integers(0, 96))
            event = draw(st.sampled_from([*STEPS, "x"]))
            ts = None if draw(st.integers(0, 12)) == 0 else T0 + pd.Timedelta(hours=hours)
            rows.append((user, f"d{u}", ts, event, persona))
    df = pd.DataFrame(rows, columns=["user_id", "device_id", "timestamp", "event", "persona"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    window = f"{draw(st.integers(1, 30))}h"
    return df, window


def _journey():
    return one_touchpoint_journey(PERSONAS)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logs(),
    st.booleans(),
    st.sampled_from([None, "half", "2026-01-02T12:00:00Z"]),
    st.booleans(),
)
def test_arrays_count_as_the_sql(log_window, complete_window, period_split, own_personas):
    df, window = log_window
    options = {
        "funnel": STEPS,
        "window": window,
        "journey": _journey(),
        "complete_window": complete_window,
        "period_split": period_split,
    }
    if own_personas:  # personas= given as a table, for some users only
        users = sorted(df["user_id"].dropna().unique())
        options["personas"] = pd.DataFrame({"customer_id": users[::2], "persona": "q"})
    got = {}
    for fast in (True, False):
        engine = pr.traces.DuckDBEngine(fast=fast, threads=1)
        got[fast] = pr.friction.trace_counts(pr.traces.read_events(df, engine=engine), **options)
    pd.testing.assert_frame_equal(got[True], got[False], check_exact=True)
