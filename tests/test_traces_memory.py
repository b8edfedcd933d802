"""Events held in memory: the same results as the file path, and no copies of the columns.

References: the file path (the same events written to Parquet and read with
``pr.traces.read_events``) and the pure-SQL engine (``DuckDBEngine(fast=False)``, the SQL Spark
runs), which tests/test_traces_funnel.py and test_traces_paths.py check against ClickHouse's
windowFunnel, brute force and pm4py. No timing here: see benchmarks/funnel_memory.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from traces_fixtures import awkward_log

import parcours_research as pr
from parcours_research.traces import _frames
from parcours_research.traces.eventlog import as_log

STEPS = ["a", "b", "c", "d"]


def _frame(seed: int, order: str) -> pd.DataFrame:
    """An awkward log (ties, a DST change) with devices, missing persons, times and events, in
    the given row order."""
    df = awkward_log(seed, n_users=40)
    rng = np.random.default_rng(seed)
    n = len(df)
    df["device_id"] = pd.array([f"d{i % 13}" for i in range(n)], dtype="string")
    df["user_id"] = df["user_id"].astype("string").mask(rng.random(n) < 0.2)
    df.loc[rng.random(n) < 0.03, "timestamp"] = pd.NaT
    df["event"] = df["event"].astype("string").mask(rng.random(n) < 0.03)
    if order == "time":
        df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    elif order == "person":
        person = df["user_id"].fillna(df["device_id"])
        df = df.assign(_p=person).sort_values(["_p", "timestamp"], kind="stable")
        df = df.drop(columns="_p").reset_index(drop=True)
    return df


def _results(events) -> dict:
    """Every analysis that has an in-memory path, as plain data."""
    sess = pr.traces.sessionize(events, gap="10min")
    if isinstance(sess, pr.traces.EventLog):
        sess = sess.to_pandas()
    out = {"sessions": sess.sort_values("row_id")["session_id"].tolist()}
    for order in ("sequential", "strict", "any"):
        f = pr.traces.funnel(events, steps=STEPS, window="10min", order=order, exclude="x")
        out[f"funnel_{order}"] = f.to_dict("list")
    fu = pr.traces.funnel_users(events, steps=STEPS, window="10min", optional=[2])
    out["funnel_users"] = fu.to_dict("list")
    for within in ("session", "user"):
        tr = pr.traces.transitions(events, within=within, gap="10min")
        out[f"transitions_{within}"] = tr.to_dict("list")
        va = pr.traces.variants(events, top=None, within=within, gap="10min")
        out[f"variants_{within}"] = va.to_dict("list")
    return out


def _file_log(df: pd.DataFrame, tmp_path, engine):
    path = tmp_path / "events.parquet"
    df.to_parquet(path, index=False)  # row_id: the position in the file, as in the frame
    return pr.traces.read_events(path, engine=engine)


@pytest.mark.parametrize("order", ["random", "time", "person"])
def test_in_memory_equals_file_and_sql_paths(order, tmp_path):
    df = _frame(3, order)
    got = _results(df)
    assert got == _results(_file_log(df, tmp_path, pr.traces.DuckDBEngine(threads=1)))
    sql = pr.traces.DuckDBEngine(fast=False, threads=1)
    assert got == _results(as_log(df, sql)[0])


def test_frame_order_and_given_row_ids_do_not_change_results():
    df = _frame(5, "random")
    ref = _results(df)
    # rows shuffled with their row_id: ties are broken by row_id, not by position
    shuffled = df.assign(row_id=np.arange(len(df)) * 3 + 7).sample(frac=1, random_state=1)
    got = _results(shuffled)
    assert got["funnel_sequential"] == ref["funnel_sequential"]
    assert got["variants_session"] == ref["variants_session"]
    assert got["transitions_user"] == ref["transitions_user"]


def test_other_dtypes_give_the_same_results():
    df = _frame(7, "random").dropna(subset=["timestamp"])
    ref = _results(df)
    cat = df.assign(event=df["event"].astype("category"))
    assert _results(cat) == ref
    obj = df.assign(user_id=df["user_id"].astype(object), event=df["event"].astype(object))
    assert _results(obj) == ref
    ns = df.assign(timestamp=df["timestamp"].astype("datetime64[ns, America/New_York]"))
    assert _results(ns) == ref


def test_arrow_and_polars_tables_are_accepted():
    df = _frame(9, "time").dropna(subset=["timestamp"])
    ref = pr.traces.funnel(df, steps=STEPS, window="10min")
    table = pa.Table.from_pandas(df, preserve_index=False)
    pd.testing.assert_frame_equal(pr.traces.funnel(table, steps=STEPS, window="10min"), ref)
    pl = pytest.importorskip("polars")
    got = pr.traces.funnel(pl.from_arrow(table), steps=STEPS, window="10min")
    pd.testing.assert_frame_equal(got, ref)


def _data_address(s: pd.Series) -> int:
    """Address of the buffer holding a column's values (Arrow strings or numpy)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        arr = pa.array(s.array)
        chunk = arr.chunk(0) if isinstance(arr, pa.ChunkedArray) else arr
        return chunk.buffers()[2].address
    return s.array.asi8.ctypes.data if hasattr(s.array, "asi8") else s.to_numpy().ctypes.data


def test_registration_does_not_copy_columns_that_fit():
    n = 1000
    df = pd.DataFrame(
        {
            "row_id": np.arange(n, dtype="int64"),
            "user_id": pd.array([f"u{i % 17}" for i in range(n)], dtype="string[pyarrow]"),
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC").astype(
                "datetime64[us, UTC]"
            ),
            "event": pd.array([STEPS[i % 4] for i in range(n)], dtype="string[pyarrow]"),
        }
    )
    eng = pr.traces.DuckDBEngine(threads=1)
    log, _ = as_log(df, eng)
    registered = log._frame
    assert any(v is registered for v in eng._keep.values())  # the frame DuckDB scans
    for col in ("row_id", "user_id", "timestamp", "event"):
        assert _data_address(registered[col]) == _data_address(df[col]), col
    # the analyses' arrays read the same buffers: no second copy of the text
    assert _frames._arrow(registered["event"]).buffers()[2].address == _data_address(df["event"])
    # changing the caller's frame later does not change the log (copy on write)
    df.loc[0, "event"] = "z"
    assert log.to_pandas()["event"].iloc[0] == "a"


def test_sorted_arrays_match_the_query_path():
    df = _frame(11, "random")
    frame_log, _ = as_log(df, pr.traces.DuckDBEngine(threads=1))
    ours = _frames.sorted_arrays(frame_log._frame)
    from parcours_research.traces import _arrays

    query_log, _ = as_log(df, pr.traces.DuckDBEngine(threads=1))
    query_log._frame = None  # the previous path: DuckDB sorts by hash of the person key
    theirs = _arrays.get_sorted(query_log)

    def rows(s):
        persons = s.persons.to_pylist()
        return sorted(
            (persons[p], int(t), int(r), s.events[e] if e >= 0 else None)
            for p, t, r, e in zip(s.person, s.t, s.row_id, s.ev)
        )

    assert rows(ours) == rows(theirs)
    assert np.all(np.diff(ours.person) >= 0)


def test_a_frame_in_person_order_is_not_sorted_again(monkeypatch):
    df = _frame(13, "person")
    from parcours_research.traces import _clean_arrays

    ref = _frames.sorted_arrays(as_log(df)[0]._frame)

    def no_sort(*args):  # pragma: no cover - the test fails if called
        raise AssertionError("a frame in person order was sorted by time")

    monkeypatch.setattr(_clean_arrays, "time_order", no_sort)
    got = _frames.sorted_arrays(as_log(df)[0]._frame)
    assert np.array_equal(got.t, ref.t) and np.array_equal(got.row_id, ref.row_id)
