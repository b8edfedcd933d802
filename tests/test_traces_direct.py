"""The fast path's readings of a log give exactly the SQL path's results (issue 20, 0.4.1).

One local Parquet file with integer ids, text events and user agents and time-zone-aware
timestamps is read by pyarrow (``_direct``: dictionary indices, ids coded while they stream);
the same file read through DuckDB's stream (``_direct.plan`` turned off) codes its integer ids
while they stream too (``IntCoder``). Both are compared, row by row, with the pure SQL of every
engine (``DuckDBEngine(fast=False)``), on a log with padded and blank event names, missing
values, several row groups with different dictionaries, and more distinct ids than the coder's
first table holds. The coder and the parallel merge of time-ordered runs are compared with
NumPy (``np.unique``, a stable ``argsort``). No timing here: see ``benchmarks/traces.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from traces_fixtures import engines

import parcours_research as pr
from parcours_research.traces import _clean_arrays as ca
from parcours_research.traces import _direct
from parcours_research.traces import _kernels as K

EVENTS = ["home", "search", " product ", "cart", "login", "  ", "checkout"]


def _table(n: int = 3000, seed: int = 11, n_devices: int = 300) -> pa.Table:
    """Devices shared by customers, missing values, duplicates, a robot, two time-ordered
    runs (two exports put end to end)."""
    rng = np.random.default_rng(seed)
    dev = rng.integers(0, n_devices, n)
    dev[-60:] = n_devices  # a robot: one event every 2 seconds
    cust = np.where(rng.random(n) < 0.5, (dev % 97) * 7 - 50, -999)
    t = 1_767_225_600_000_000 + rng.integers(0, 6 * 3_600, n) * 1_000_000
    t[-60:] = 1_767_225_600_000_000 + np.arange(60) * 2_000_000
    ev = rng.choice(np.array(EVENTS + [None], dtype=object), n)
    ua = rng.choice(np.array(["Mozilla/5.0", "Googlebot/2.1", None], dtype=object), n)
    ua[-60:], ev[-60:] = "Mozilla/5.0", "home"
    dev[:20], cust[:20], ev[:20], ua[:20] = 3, [5, -29] * 10, "login", None  # two customers
    df = pd.DataFrame({"dev": dev, "cust": cust, "t": t, "ev": ev, "ua": ua})
    half = rng.random(n) < 0.5  # two runs in time order
    df = pd.concat([df[half].sort_values("t"), df[~half].sort_values("t")], ignore_index=True)
    df = pd.concat([df, df.iloc[100:130]], ignore_index=True)  # exact duplicates
    df.loc[(df.index % 23 == 0) & (df["dev"] != n_devices), "dev"] = -999  # missing ids
    return pa.table(
        {
            "device_id": pa.array(df["dev"], mask=df["dev"].to_numpy() == -999),
            "customer_id": pa.array(df["cust"], pa.int32(), mask=df["cust"].to_numpy() == -999),
            "ts": pa.array(df["t"] * 1000, pa.timestamp("ns", tz="UTC")),
            "event_name": pa.array(df["ev"]),
            "user_agent": pa.array(df["ua"]).dictionary_encode(),
        }
    )


def _outcome(path, eng):
    log = pr.traces.read_events(
        path,
        columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
        engine=eng,
    )
    cleaned, clog = pr.traces.clean(log)
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=False)
    sessions = pr.traces.sessionize(stitched, gap="30min")
    out = {
        "summary": clog.summary,
        "removed": clog.removed(),
        "bots": clog.bots,
        "conflicts": conflicts,
        "sessions": sessions.to_pandas(),
        "funnel": pr.traces.funnel(sessions, steps=["home", "search", "cart"], window="1h"),
        "transitions": pr.traces.transitions(sessions),
        "variants": pr.traces.variants(sessions, top=None),
    }
    return cleaned, out


def _same_as_sql(path, monkeypatch, direct: bool) -> dict:
    """The fast engine's outcome (read by pyarrow or streamed by DuckDB) equals the SQL
    engine's; returns it."""
    used = []
    real_read, real_plan = _direct.read, _direct.plan

    def read(*args):
        used.append("direct")
        return real_read(*args)

    monkeypatch.setattr(_direct, "read", read)
    monkeypatch.setattr(_direct, "plan", real_plan if direct else lambda *a: None)
    fast_eng, sql_eng = engines()
    cleaned, fast = _outcome(path, fast_eng)
    _, sql = _outcome(path, sql_eng)
    for key in fast:
        pd.testing.assert_frame_equal(
            fast[key].reset_index(drop=True), sql[key].reset_index(drop=True), obj=key
        )
    assert isinstance(cleaned._arrays, ca.Encoded), "the fast engine fell back to SQL"
    assert used == (["direct"] if direct else [])
    return fast


@pytest.mark.parametrize("direct", [True, False], ids=["pyarrow", "duckdb-stream"])
def test_one_parquet_file_read_either_way_equals_sql(tmp_path, monkeypatch, direct):
    path = tmp_path / "events.parquet"
    pq.write_table(_table(), path, row_group_size=500)  # six row groups, six dictionaries
    fast = _same_as_sql(str(path), monkeypatch, direct)
    reasons = fast["summary"].set_index("reason")["n"]
    assert reasons["bot_behaviour"] > 0 and reasons["exact_duplicate"] > 0
    assert reasons["bot_user_agent"] > 0 and reasons["unparseable"] > 0
    assert len(fast["conflicts"]) > 0
    events = set(fast["sessions"]["event"].dropna())
    assert "product" in events and "" not in events  # trimmed; blank is missing


@pytest.mark.parametrize("direct", [True, False], ids=["pyarrow", "duckdb-stream"])
def test_more_ids_than_the_first_table_holds(tmp_path, monkeypatch, direct):
    path = tmp_path / "events.parquet"
    pq.write_table(_table(n=70_000, n_devices=40_000), path, row_group_size=20_000)
    _same_as_sql(str(path), monkeypatch, direct)


def test_plan_leaves_other_files_to_duckdb(tmp_path):
    """Several files, text ids or naive timestamps are streamed by DuckDB."""
    table = _table(n=200)
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    pq.write_table(table, one)
    pq.write_table(table, two)
    text = tmp_path / "text.parquet"
    pq.write_table(table.set_column(0, "device_id", table.column(0).cast(pa.string())), text)
    naive = tmp_path / "naive.parquet"
    pq.write_table(table.set_column(2, "ts", table.column(2).cast(pa.timestamp("ns"))), naive)
    eng = pr.traces.DuckDBEngine()

    def plan(paths):
        log = pr.traces.read_events(
            paths,
            columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
            engine=eng,
        )
        origin = log._origin
        refs = {c: origin["raw"].get(c) for c in ("user_id", "device_id", "event", "user_agent")}
        native = pr.traces._time.native_instant(log)
        return _direct.plan(origin, native, refs, True)

    assert plan(str(one)) is not None
    assert plan([str(one), str(two)]) is None
    assert plan(str(naive)) is None
    assert plan(str(text)) is None


def test_int_coder_codes_in_order_of_first_appearance():
    rng = np.random.default_rng(2)
    distinct = np.r_[rng.integers(-(2**62), 2**62, 25_000), rng.integers(0, 2**20 + 9, 25_000)]
    values = distinct[rng.integers(0, 50_000, 200_000)]  # large ids hashed, small ones not
    values[:5] = [0, -1, 2**63 - 1, 2**20 - 1, 2**20]
    missing = rng.random(len(values)) < 0.2
    arr = pa.array(values, mask=missing)
    coder = ca.IntCoder(cap=16)  # grows many times: the list of ids and the hash table
    out = np.empty(len(values), np.int32)
    for a, b in [(0, 7), (7, 70_001), (70_001, len(values))]:  # slices: bitmaps at an offset
        coder.code(arr.slice(a, b - a), out, a)
    seen = values[~missing]
    first = np.sort(np.unique(seen, return_index=True)[1])
    expect_values = seen[first]
    assert coder.values().to_pylist() == [str(v) for v in expect_values]
    assert (out[missing] == -1).all()
    assert (expect_values[out[~missing]] == seen).all()


@pytest.mark.parametrize("runs", [1, 2, 3, 9])
def test_merge_in_parts_equals_a_stable_sort(runs):
    rng = np.random.default_rng(runs)
    n = 3 * K.PARALLEL_MIN // 2  # cut into pieces on a machine with several cores
    t = np.concatenate(
        [np.sort(rng.integers(0, 1000, n // runs)) for _ in range(runs)]  # many ties
    ).astype(np.int64)
    bounds = K.sorted_runs(t, 64)
    got = ca.merge_in_parts(t, bounds, np.empty(len(t), np.int32))
    assert (got == np.argsort(t, kind="stable")).all()
