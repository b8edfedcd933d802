"""Cleaning: every row gets exactly one outcome, by the documented precedence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research.errors import TraceDataError

HUMAN = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1)"
T0 = pd.Timestamp("2026-01-10 12:00", tz="Europe/Paris")


def _row(dev, cust, seconds, event, ua=HUMAN):
    return {
        "device_id": dev,
        "user_id": cust,
        "timestamp": T0 + pd.Timedelta(seconds=seconds),
        "event": event,
        "user_agent": ua,
    }


def handmade() -> tuple[pd.DataFrame, list[str]]:
    """A log where the expected outcome of every row is known by construction."""
    rows, why = [], []

    def add(r, reason):
        rows.append(r)
        why.append(reason)

    add(_row("d1", None, 0, "home"), "kept")
    add(_row("d1", None, 0, "home"), "exact_duplicate")  # same as row 0
    add(_row("d1", None, 0.4, "home"), "near_duplicate")  # 0.4 s after row 0
    add(_row("d1", None, 1.2, "home"), "near_duplicate")  # 0.8 s after row 2 (chain)
    add(_row("d1", None, 30, "home"), "kept")
    add(_row("d1", None, 30.5, "quote"), "kept")  # other event: not a duplicate
    add(_row("d2", "C1", -86400 * 30, "home"), "outside_period")
    add(_row("d2", "C1", 86400 * 60, "home"), "outside_period")
    add(_row("d3", None, 5, "home", BOT), "bot_user_agent")
    add(_row("d3", None, 5, "home", BOT), "bot_user_agent")  # a bot's duplicate is a bot row
    for i in range(25):  # metronome: one event every 4 s
        add(_row("d4", None, 100 + 4 * i, "product"), "bot_behaviour")
    add(_row("d4", None, 100, "product"), "bot_behaviour")  # its exact duplicate too
    for i in range(35):  # 35 irregular events within one calendar minute
        add(_row("d5", None, 1020 + 1.5 * i + (i % 2), f"e{i % 5}"), "bot_behaviour")
    add(_row("d6", "C2", 50, "home"), "kept")
    add(_row(None, None, 60, "home"), "unparseable")  # no identity
    add(_row("d6", "C2", 70, None), "unparseable")  # no event
    df = pd.DataFrame(rows)
    df["event"] = df["event"].astype("string")
    bad = df.index[df["event"].isna()]
    df = pd.concat([df, pd.DataFrame([_row("d6", "C2", 80, "home")])], ignore_index=True)
    why.append("unparseable")
    df.loc[len(df) - 1, "timestamp"] = pd.NaT
    del bad
    return df, why


PERIOD = ("2026-01-01", "2026-01-31")


def test_each_row_gets_the_expected_reason():
    df, why = handmade()
    # near duplicates are off by default since 0.x (issue 15): turned on here
    cleaned, log = pr.traces.clean(df, period=PERIOD, near_duplicates="1s")
    removed = log.removed().set_index("row_id")["reason"]
    got = [removed.get(i, "kept") for i in range(len(df))]
    assert got == why
    counts = pd.Series(why).value_counts()
    assert dict(zip(log.summary["reason"], log.summary["n"])) == {
        r: int(counts.get(r, 0)) for r in pr.traces.REASONS
    }
    assert len(cleaned) == counts["kept"]
    assert sorted(cleaned["row_id"]) == [i for i, w in enumerate(why) if w == "kept"]
    assert set(log.bots["actor"]) == {"d4", "d5"}
    assert dict(zip(log.bots["actor"], log.bots["rule"])) == {"d4": "regularity", "d5": "rate"}


def test_filters_can_be_turned_off():
    df, why = handmade()
    _, log = pr.traces.clean(
        df,
        period=False,
        bots_ua=False,
        bots_behaviour=False,
        duplicates=False,
        near_duplicates=None,
    )
    s = log.summary.set_index("reason")
    assert s.loc["kept", "n"] == len(df) - why.count("unparseable")
    assert not s.loc["bot_user_agent", "enabled"] and s.loc["unparseable", "enabled"]
    _, log = pr.traces.clean(df, period=PERIOD, duplicates=False, near_duplicates="1s")
    s = log.summary.set_index("reason")["n"]
    # the exact duplicate of row 0 is now a near duplicate (gap 0 <= 1 s)
    assert s["exact_duplicate"] == 0 and s["near_duplicate"] == why.count("near_duplicate") + 1


def test_custom_bot_patterns_and_rules():
    df, why = handmade()
    _, log = pr.traces.clean(
        df,
        period=PERIOD,
        bots_ua=["chrome"],
        bots_behaviour={"max_per_minute": 1000, "min_events": 1000},
    )
    s = log.summary.set_index("reason")["n"]
    assert s["bot_behaviour"] == 0
    earlier = pd.Series(why).isin(["unparseable", "outside_period"]).to_numpy()
    assert (
        s["bot_user_agent"]
        == (df["user_agent"].str.lower().str.contains("chrome").to_numpy() & ~earlier).sum()
    )
    with pytest.raises(TraceDataError, match="max_per_minute"):
        pr.traces.clean(df, bots_behaviour={"per_minute": 3})


def test_period_bounds():
    df, _ = handmade()
    # an end date covers its whole day: 2026-01-10 ends at midnight Paris time
    _, log = pr.traces.clean(
        df,
        period=("2026-01-10", "2026-01-10"),
        bots_ua=False,
        bots_behaviour=False,
        duplicates=False,
        near_duplicates=None,
    )
    inside = df["timestamp"].between(
        pd.Timestamp("2026-01-10", tz="Europe/Paris"),
        pd.Timestamp("2026-01-11", tz="Europe/Paris"),
        inclusive="left",
    )
    usable = (
        df["timestamp"].notna()
        & df["event"].notna()
        & (df["device_id"].notna() | df["user_id"].notna())
    )
    s = log.summary.set_index("reason")["n"]
    assert s["outside_period"] == (usable & ~inside).sum()
    with pytest.raises(TraceDataError, match="start is not before"):
        pr.traces.clean(df, period=("2026-02-01", "2026-01-01"))


log_rows = st.lists(
    st.tuples(
        st.sampled_from(["d1", "d2", "d3", None]),
        st.sampled_from(["C1", None]),
        st.integers(0, 200),
        st.sampled_from(["a", "b", None]),
        st.sampled_from([HUMAN, BOT, None]),
        st.booleans(),
    ),
    min_size=0,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=log_rows,
    near=st.sampled_from([None, "1s", "30s"]),
    dup=st.booleans(),
    beh=st.booleans(),
    ua=st.booleans(),
)
def test_hypothesis_counts_add_up(rows, near, dup, beh, ua):
    df = pd.DataFrame(
        {
            "device_id": pd.Series([r[0] for r in rows], dtype="string"),
            "user_id": pd.Series([r[1] for r in rows], dtype="string"),
            "timestamp": pd.Series(
                [
                    pd.NaT if r[5] and r[2] % 7 == 0 else T0 + pd.Timedelta(seconds=r[2] / 4)
                    for r in rows
                ],
                dtype="datetime64[us, Europe/Paris]",
            ),
            "event": pd.Series([r[3] for r in rows], dtype="string"),
            "user_agent": pd.Series([r[4] for r in rows], dtype="string"),
        }
    )
    cleaned, log = pr.traces.clean(
        df,
        near_duplicates=near,
        duplicates=dup,
        bots_behaviour=beh,
        bots_ua=ua,
        period=(T0, T0 + pd.Timedelta(seconds=40)),
    )
    assert log.n_input == len(df)
    assert log.summary["n"].sum() == len(df)
    assert log.n_kept == len(cleaned)
    removed = log.removed()
    assert removed["row_id"].is_unique
    assert len(removed) + len(cleaned) == len(df)
    assert set(removed["row_id"]).isdisjoint(set(cleaned["row_id"]))
    assert np.isclose(log.summary["share"].sum(), 1.0) or len(df) == 0


def test_sample_study_log_accounts_for_every_row_and_finds_the_bots():
    study = pr.load_study("data/sample")
    events = pr.traces.read_events(study)
    cleaned, log = pr.traces.clean(events)
    n_rows = events.count()
    assert log.n_input == n_rows == study.truth["events"]["n_rows"]
    assert log.n_kept == cleaned.count()
    assert abs(log.bot_share - study.truth["bot_share"]) < 0.005
    s = log.summary.set_index("reason")["n"]
    assert s["unparseable"] == study.truth["events"]["n_unparseable"]
    assert "CleaningLog(" in repr(log) and "<table" in log._repr_html_()


# -- the DuckDB array path gives exactly the SQL path's outcome, row by row ---------------------
def _both(df, **kw):
    from traces_fixtures import engines, log_on

    out = []
    for eng in engines():  # fast=True (arrays), fast=False (the SQL Spark also runs)
        cleaned, log = pr.traces.clean(log_on(df, eng), **kw)
        out.append((cleaned, log))
    return out


def _same_cleaning(df, **kw):
    (c_fast, l_fast), (c_sql, l_sql) = _both(df, **kw)
    pd.testing.assert_frame_equal(l_fast.summary, l_sql.summary)
    pd.testing.assert_frame_equal(l_fast.removed(), l_sql.removed())
    pd.testing.assert_frame_equal(l_fast.bots, l_sql.bots, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(c_fast.to_pandas(), c_sql.to_pandas())
    return c_fast, c_sql


def test_array_path_matches_sql_on_the_handmade_log():
    df, _ = handmade()
    _same_cleaning(df, period=PERIOD)
    _same_cleaning(df, period=PERIOD, duplicates=False)
    _same_cleaning(df.assign(page=[f"p{i % 3}" for i in range(len(df))]), period=PERIOD)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=log_rows,
    near=st.sampled_from([None, "1s", "30s"]),
    dup=st.booleans(),
    beh=st.sampled_from([False, True, {"max_per_minute": 3, "min_events": 3}]),
    ua=st.booleans(),
    extra=st.booleans(),
)
def test_hypothesis_array_path_matches_sql(rows, near, dup, beh, ua, extra):
    df = pd.DataFrame(
        {
            "device_id": pd.Series([r[0] for r in rows], dtype="string"),
            "user_id": pd.Series([r[1] for r in rows], dtype="string"),
            "timestamp": pd.Series(
                [
                    pd.NaT if r[5] and r[2] % 7 == 0 else T0 + pd.Timedelta(seconds=r[2] // 8)
                    for r in rows
                ],
                dtype="datetime64[us, Europe/Paris]",
            ),
            "event": pd.Series([r[3] for r in rows], dtype="string"),
            "user_agent": pd.Series([r[4] for r in rows], dtype="string"),
        }
    )
    if extra:  # a column the arrays do not hold: exact duplicates compare it in SQL
        df["page"] = pd.Series([str(r[2] % 2) for r in rows], dtype="string")
    _same_cleaning(
        df,
        near_duplicates=near,
        duplicates=dup,
        bots_behaviour=beh,
        bots_ua=ua,
        period=(T0, T0 + pd.Timedelta(seconds=20)),
    )


def test_array_path_matches_sql_downstream():
    """Clean, stitch, sessionize, funnel, transitions and variants: arrays against SQL."""
    from traces_fixtures import awkward_log

    df = awkward_log(5, n_users=40)
    df["device_id"] = [f"d{int(u[1:]) % 25}" for u in df["user_id"]]  # shared devices
    df["user_id"] = df["user_id"].where(np.arange(len(df)) % 3 == 0, None)
    df = pd.concat([df, df.iloc[:5]], ignore_index=True)  # exact duplicates
    idmap = pd.DataFrame({"device_id": ["d1", "d2", "d2"], "customer_id": ["u001", "X", "Y"]})
    results = []
    for cleaned, _ in _both(df, period=False):
        stitched, conflicts = pr.traces.stitch(cleaned, identity_map=idmap)
        sessions = pr.traces.sessionize(stitched, gap="5min")
        results.append(
            {
                "conflicts": conflicts,
                "sessions": sessions.to_pandas(),
                "funnel": pr.traces.funnel(sessions, steps=["a", "b", "c"], window="10min"),
                "per_user": pr.traces.funnel_users(
                    sessions, steps=["a", "b", "c"], window="10min"
                ),
                "transitions": pr.traces.transitions(sessions),
                "variants": pr.traces.variants(sessions, top=None),
                "user_transitions": pr.traces.transitions(cleaned, within="user"),
            }
        )
    fast, sql = results
    assert len(fast["conflicts"]) > 0 and len(fast["transitions"]) > 3
    for key in fast:
        pd.testing.assert_frame_equal(fast[key], sql[key], obj=key)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_array_path_reads_raw_columns_like_the_view(tmp_path, fmt):
    """Read from files, the array path canonicalises raw text (trim, blank as missing) on the
    distinct values only; padded and blank ids, events and user agents must give the SQL
    path's outcome."""
    from traces_fixtures import engines

    rng = np.random.default_rng(7)
    n = 400
    devs = np.array(["d1", " d1", "d1 ", "\u00a0d2", "d2", "\td3", "", "d4"], dtype=object)
    custs = np.array(["C1", " C1", "", "C2", None, "C3 "], dtype=object)
    evs = np.array(["a", " a", "b", "b ", "", "c"], dtype=object)
    uas = np.array([HUMAN, " " + HUMAN, BOT, "", None], dtype=object)
    secs = np.sort(rng.integers(0, 600, n)) // 3 * 3
    raw = pd.DataFrame(
        {
            "device": devs[rng.integers(0, len(devs), n)],
            "customer": custs[rng.integers(0, len(custs), n)],
            "ts": [
                (T0 + pd.Timedelta(seconds=int(s))).isoformat() if s % 97 else "garbage"
                for s in secs
            ],
            "name": evs[rng.integers(0, len(evs), n)],
            "ua": uas[rng.integers(0, len(uas), n)],
        }
    )
    raw = pd.concat([raw, raw.iloc[::17]], ignore_index=True)  # exact duplicates
    path = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        raw.to_csv(path, index=False)
    else:
        raw.astype("string").to_parquet(path)
    columns = {
        "user_id": "customer",
        "device_id": "device",
        "timestamp": "ts",
        "event": "name",
        "user_agent": "ua",
    }
    out = []
    for eng in engines():
        log = pr.traces.read_events(path, columns=columns, engine=eng, timezone="Europe/Paris")
        assert log._origin is not None
        cleaned, clog = pr.traces.clean(log, period=False, bots_behaviour={"max_per_minute": 5})
        assert (cleaned._arrays is not None) == eng.fast  # the fast engine took the array path
        stitched, conflicts = pr.traces.stitch(cleaned, identity_map=False)
        sessions = pr.traces.sessionize(stitched, gap="2min")
        out.append(
            {
                "summary": clog.summary,
                "removed": clog.removed(),
                "bots": clog.bots,
                "conflicts": conflicts,
                "sessions": sessions.to_pandas(),
                "variants": pr.traces.variants(sessions, top=None),
            }
        )
    fast, sql = out
    s = fast["summary"].set_index("reason")["n"]
    assert s["unparseable"] > 0 and s["exact_duplicate"] > 0 and s["bot_user_agent"] > 0
    for key in fast:
        pd.testing.assert_frame_equal(fast[key], sql[key], obj=key)


def test_array_path_with_many_user_agents():
    """Hundreds of distinct user agents (and missing ones): each row's hash finds its code."""
    df, _ = handmade()
    many = df["user_agent"].astype(object) + pd.Series([f" v{i % 300}" for i in range(len(df))])
    _same_cleaning(df, period=PERIOD)
    _same_cleaning(df.assign(user_agent=many.astype("string")), period=PERIOD)
    _same_cleaning(df.assign(user_agent=df["user_agent"].where(df.index % 4 > 0)), period=False)


def _edge_logs():
    s = "string"
    return {
        "empty": pd.DataFrame(
            {
                "user_id": pd.Series([], dtype=s),
                "timestamp": pd.Series([], dtype="datetime64[us, UTC]"),
                "event": pd.Series([], dtype=s),
            }
        ),
        "all_unparseable": pd.DataFrame(
            {
                "user_id": pd.Series([None, "u1"], dtype=s),
                "timestamp": [T0, pd.NaT],
                "event": pd.Series(["a", "a"], dtype=s),
            }
        ),
        "no_device_no_agent": pd.DataFrame(
            {
                "user_id": pd.Series(["u1", "u1", "u2"], dtype=s),
                "timestamp": [T0, T0, T0 + pd.Timedelta("1s")],
                "event": pd.Series(["a", "a", "b"], dtype=s),
            }
        ),
    }


@pytest.mark.parametrize("name", sorted(_edge_logs()))
def test_array_path_matches_sql_on_edge_logs(name):
    from traces_fixtures import engines, log_on

    df = _edge_logs()[name]
    outs = []
    for eng in engines():
        cleaned, log = pr.traces.clean(log_on(df, eng), period=False)
        stitched, _ = pr.traces.stitch(cleaned, identity_map=False)
        sessions = pr.traces.sessionize(stitched)
        outs.append(
            [
                log.summary,
                log.removed(),
                log.bots,
                sessions.to_pandas(),
                pr.traces.funnel(sessions, steps=["a", "b"], window="1D"),
                pr.traces.transitions(sessions),
                pr.traces.variants(sessions),
            ]
        )
    assert outs[0][0]["n"].sum() == len(df)
    for a, b in zip(*outs):
        pd.testing.assert_frame_equal(a, b)
