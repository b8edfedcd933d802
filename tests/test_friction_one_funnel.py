"""One funnel: the friction step counts are pr.traces.funnel's, and a study is prepared once.

The reference is pr.traces.funnel itself (ClickHouse windowFunnel semantics; tested against a
transcription of ClickHouse's windowFunnel and a brute-force search over chains in
tests/test_traces_funnel.py): trace_counts' n and k must be its ``entered`` and
``converted``, for every step, window and persona.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traces_fixtures import one_touchpoint_journey

import parcours_research as pr

T0 = pd.Timestamp("2026-01-01", tz="UTC")
STEPS = ["a", "b", "c"]
PERSONAS = ["p", "q"]


def test_a_later_start_converts_as_in_the_traces_funnel():
    # home_view on 1 Jan, home_view on 10 Feb, product_view on 11 Feb, window 30 days: the
    # chain that starts on 10 Feb converts (windowFunnel's best chain), so the step is reached
    ev = pd.DataFrame(
        {
            "user_id": ["u", "u", "u"],
            "timestamp": pd.to_datetime(["2026-01-01", "2026-02-10", "2026-02-11"], utc=True),
            "event": ["home_view", "home_view", "product_view"],
        }
    )
    steps = ["home_view", "product_view"]
    f = pr.traces.funnel(ev, steps=steps, window="30D")
    assert f["converted"].tolist() == [1, 1]
    c = pr.friction.trace_counts(ev, funnel=steps, window="30D", complete_window=False)
    assert c[["step", "persona", "n", "k"]].values.tolist() == [
        ["home_view→product_view", "all", 1, 1]
    ]
    # censoring by entry (the first home_view, 1 Jan): the window was observed in full
    c = pr.friction.trace_counts(ev, funnel=steps, window="30D", observed_until="2026-04-01")
    assert c[["n", "k"]].values.tolist() == [[1, 1]]


# ------------------------------------------------------------------------- generated logs
@st.composite
def logs(draw):
    """Small logs: a few users, events among a few names with repeats and tied time stamps,
    a persona per user (or none)."""
    n_users = draw(st.integers(1, 6))
    rows = []
    for u in range(n_users):
        persona = draw(st.sampled_from([*PERSONAS, None]))
        for _ in range(draw(st.integers(0, 8))):
            minute = draw(st.integers(0, 60))  # a narrow range: ties are common
            event = draw(st.sampled_from([*STEPS, "x"]))
            rows.append((f"u{u}", T0 + pd.Timedelta(minutes=minute), event, persona))
    df = pd.DataFrame(rows, columns=["user_id", "timestamp", "event", "persona"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    window = f"{draw(st.integers(1, 40))}min"
    return df, window


def _journey():
    return one_touchpoint_journey(PERSONAS)


def _as_input(df, kind):
    if kind == "frame":
        return df
    engine = pr.traces.DuckDBEngine(fast=kind == "duckdb_fast", threads=1)
    return pr.traces.read_events(df, engine=engine)


def _expected(data, steps, window):
    """``{(step label, persona): (entered, converted)}`` from pr.traces.funnel."""
    out = {}
    overall = pr.traces.funnel(data, steps=steps, window=window)
    by = pr.traces.funnel(data, steps=steps, window=window, by="persona")
    for persona, table in [("all", overall), *by.groupby("persona", sort=False)]:
        for r in table[table["step_index"] >= 2].itertuples():
            label = f"{steps[r.step_index - 2]}→{r.step}"
            out[(label, persona)] = (r.entered, r.converted)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), st.sampled_from(["frame", "duckdb_fast", "duckdb_sql"]))
def test_counts_are_the_traces_funnel(log_window, kind):
    df, window = log_window
    data = _as_input(df, kind)
    c = pr.friction.trace_counts(
        data, funnel=STEPS, window=window, journey=_journey(), complete_window=False
    )
    got = {(r.step, r.persona): (r.n, r.k) for r in c.itertuples()}
    expected = _expected(data, STEPS, window)  # the funnel steps
    expected.update(_expected(data, ["a", "c"], window))  # the touchpoint step a → c
    # trace_counts lists a persona at a step when someone of it entered the step
    assert got == {key: v for key, v in expected.items() if key[1] == "all" or v[0] > 0}
    assert set(c["kind"]) <= {"funnel", "touchpoint"}
    assert c["target"].isna().all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), st.booleans())
def test_counts_never_grow_along_the_funnel(log_window, complete_window):
    df, window = log_window
    c = pr.friction.trace_counts(df, funnel=STEPS, window=window, complete_window=complete_window)
    assert (c["k"] <= c["n"]).all()
    if not complete_window:  # censoring is by each step's own entry: only k <= n then
        for _, g in c.groupby("persona", sort=False):
            n, k = g["n"].tolist(), g["k"].tolist()
            assert n[1:] == k[:-1]


# ---------------------------------------------------------------------- a study, once
def test_a_study_is_read_and_cleaned_once(tmp_path, monkeypatch):
    folder = pr.sample.make_sample(
        tmp_path / "s",
        seed=0,
        n_customers=200,
        n_prospects=60,
        n_respondents=120,
        n_participants=6,
        days=28,
    )
    study = pr.load_study(folder)
    calls = {"read_events": 0, "clean": 0}

    def counting(name):
        original = getattr(pr.traces, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in calls:
        monkeypatch.setattr(pr.traces, name, counting(name))
    counts = pr.friction.trace_counts(study)
    tests = pr.friction.test_traces(study)
    paths = pr.friction.customer_paths(study)
    assert calls == {"read_events": 1, "clean": 1}
    assert len(counts) and len(tests) and len(paths)
    # and they counted the study's prepared log
    log = pr.prepare(study).traces.log
    f = pr.traces.funnel(log, by="persona")
    c = pr.friction.trace_counts(study, complete_window=False, touchpoint_steps=False)
    kyc = c[(c["step"] == "signup_done→kyc_done") & (c["persona"] != "all")]
    ref = f[f["step"] == "kyc_done"].set_index("persona")
    for r in kyc.itertuples():
        assert (r.n, r.k) == (ref.loc[r.persona, "entered"], ref.loc[r.persona, "converted"])
    # the prepared evidence counts the same (and is the same object: nothing read again)
    same = pr.friction.trace_counts(pr.prepare(study))
    pd.testing.assert_frame_equal(same, counts)
    assert calls == {"read_events": 1, "clean": 1}


def test_reach_is_removed():
    with pytest.raises(AttributeError, match="trace_counts"):
        pr.friction.reach  # noqa: B018
    assert "reach" not in pr.friction.__all__


@pytest.mark.slow
@pytest.mark.spark
def test_spark_counts_like_duckdb(spark):
    # the counts run on the engine: Spark (local mode) gives DuckDB's table, censoring and
    # period split included
    from traces_fixtures import awkward_log

    df = awkward_log(3)
    df["persona"] = df["user_id"].map(
        {u: PERSONAS[i % 2] for i, u in enumerate(df["user_id"].dropna().unique())}
    )
    options = {"funnel": STEPS, "window": "10min", "journey": _journey(), "period_split": "half"}
    duck = pr.friction.trace_counts(
        pr.traces.read_events(df, engine=pr.traces.DuckDBEngine()), **options
    )
    on_spark = pr.friction.trace_counts(
        pr.traces.read_events(df, engine=pr.traces.SparkEngine(spark)), **options
    )
    pd.testing.assert_frame_equal(on_spark, duck)
    assert duck["n"].sum() > 0
