"""The fast paths of issue 20 give exactly the SQL path's results.

Integer user and device ids (every integer width, 0, negative ids, missing ids) and every
Parquet/Arrow timestamp type (time-zone-aware s/ms/us/ns, naive local times across a clock
change) stay on the DuckDB array path: no per-row cast to text, the log is streamed. Each case
is compared, row by row, with the pure SQL of every engine (``DuckDBEngine(fast=False)``), which
casts ids to text row by row; the expected instants of the timestamp cases come from pandas.
The numba kernels rewritten to compile faster (a median by selection, duplicates in large tie
groups, device links) are compared with NumPy. No timing here: see ``benchmarks/traces.py``.
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

EVENTS = ["home", "search", " product ", "cart", "login"]


def _events(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Devices shared by customers, missing ids, exact duplicates, robots, ties."""
    rng = np.random.default_rng(seed)
    dev = rng.integers(0, 40, n)
    dev[:5] = 0  # the id 0 (DuckDB hashes the integer 0 to 0)
    dev[dev == 7] = 8
    dev[-40:] = 7  # a robot, below
    cust = (dev % 25) * 3 - 7  # negative ids too; devices 0 and 25 share customer -7
    cust[(dev == 3) & (np.arange(n) % 2 == 0)] = 99  # a device with two customers
    cust = np.where(rng.random(n) < 0.5, cust, -999)
    t = 1_767_225_600_000_000 + np.sort(rng.integers(0, 3 * 3_600, n)) * 1_000_000
    t[dev == 7] = 1_767_225_600_000_000 + np.arange((dev == 7).sum()) * 2_000_000  # a robot
    df = pd.DataFrame(
        {
            "device_id": dev,
            "customer_id": cust,
            "ts": t,
            "event_name": rng.choice(EVENTS, n),
            "user_agent": rng.choice(["Mozilla/5.0", "Googlebot/2.1", None], n, p=[0.8, 0.1, 0.1]),
        }
    )
    df = pd.concat([df, df.iloc[10:20]], ignore_index=True)  # exact duplicates
    df.loc[(df.index % 17 == 0) & (df["device_id"] != 7), "device_id"] = -999  # missing ids
    df.loc[df["device_id"] == 7, "user_agent"] = "Mozilla/5.0"
    return df


def _table(df: pd.DataFrame, id_type=None, unit="us", tz="UTC") -> pa.Table:
    id_type = id_type or pa.int64()

    def ids(col):
        v = df[col].to_numpy()
        return pa.array(v, mask=v == -999).cast(id_type)

    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[unit]
    t = df["ts"].to_numpy() * 1000 if scale is None else df["ts"].to_numpy() // scale
    return pa.table(
        {
            "device_id": ids("device_id"),
            "customer_id": ids("customer_id"),
            "ts": pa.array(t, pa.timestamp(unit, tz=tz)),
            "event_name": pa.array(df["event_name"]).dictionary_encode(),
            "user_agent": pa.array(df["user_agent"]),
        }
    )


def _write(tmp_path, table: pa.Table, name="events.parquet") -> str:
    path = tmp_path / name
    pq.write_table(table, path, row_group_size=256)
    return str(path)


def _outcome(path, eng, timezone="UTC", **kw):
    log = pr.traces.read_events(
        path,
        columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
        timezone=timezone,
        engine=eng,
    )
    cleaned, clog = pr.traces.clean(log, **kw)
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=False)
    sessions = pr.traces.sessionize(stitched, gap="30min")
    return (
        log,
        cleaned,
        {
            "summary": clog.summary,
            "removed": clog.removed(),
            "bots": clog.bots,
            "time": clog.time,
            "conflicts": conflicts,
            "sessions": sessions.to_pandas(),
            "funnel": pr.traces.funnel(sessions, steps=["home", "search", "cart"], window="1h"),
            "transitions": pr.traces.transitions(sessions),
            "variants": pr.traces.variants(sessions, top=None),
        },
    )


def _same_as_sql(path, monkeypatch, **kw):
    """The fast engine's outcome equals the SQL engine's; returns the fast log, its cleaned
    log and the SQL the fast path streamed."""
    streamed = []
    real = pr.traces.DuckDBEngine.arrow_batches

    def spy(self, sql, rows=1 << 17):
        streamed.append(sql)
        return real(self, sql, rows)

    monkeypatch.setattr(pr.traces.DuckDBEngine, "arrow_batches", spy)
    real_direct = _direct.read

    def spy_direct(eng, plan, *args):  # one local Parquet file: read by pyarrow, batch by batch
        streamed.append("pyarrow: " + ", ".join(map(str, plan.values())))
        return real_direct(eng, plan, *args)

    monkeypatch.setattr(_direct, "read", spy_direct)
    fast_eng, sql_eng = engines()
    log, c_fast, fast = _outcome(path, fast_eng, **kw)
    _, c_sql, sql = _outcome(path, sql_eng, **kw)
    for key in fast:
        pd.testing.assert_frame_equal(
            fast[key].reset_index(drop=True), sql[key].reset_index(drop=True), obj=key
        )
    assert isinstance(c_fast._arrays, ca.Encoded), "the fast engine fell back to SQL"
    return log, fast, streamed


@pytest.mark.parametrize(
    "id_type",
    [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32(), pa.uint64()],
    ids=str,
)
def test_integer_ids_stay_on_the_streamed_array_path(tmp_path, monkeypatch, id_type):
    df = _events()
    if pa.types.is_unsigned_integer(id_type):  # no negative ids in an unsigned column
        df.loc[(df["customer_id"] < 0) & (df["customer_id"] != -999), "customer_id"] += 1000
    path = _write(tmp_path, _table(df, id_type))
    log, fast, streamed = _same_as_sql(path, monkeypatch)
    assert ca._origin(log) is not None  # read from the raw columns
    assert streamed, "the Parquet log was not streamed"
    # the ids are hashed as integers: no cast to text, no trim, row by row
    assert "VARCHAR" not in streamed[0] and "trim(" not in streamed[0]
    assert fast["summary"].set_index("reason").loc["bot_behaviour", "n"] > 0
    assert fast["summary"].set_index("reason").loc["exact_duplicate", "n"] > 0
    assert len(fast["conflicts"]) > 0  # device 0 and others have several customers
    assert "0" in set(fast["sessions"]["device_id"])  # the id 0 is an id, not a missing value


def test_integer_customers_and_text_devices_share_one_dictionary(tmp_path, monkeypatch):
    """A customer id 5 and a device id "5" are the same id, as in the SQL (text) path."""
    df = _events(seed=8)
    table = _table(df)
    dev = pa.array([None if v is None else f" {v} " for v in table.column("device_id").to_pylist()])
    table = table.set_column(0, "device_id", dev)
    path = _write(tmp_path, table)
    log, fast, _ = _same_as_sql(path, monkeypatch)
    assert ca._origin(log) is not None


def test_text_ids_blank_and_padded(tmp_path, monkeypatch):
    df = _events(seed=4)
    table = _table(df)
    cust = [
        None if v is None else ("  " if v % 5 == 0 else f"C{v} ")
        for v in table.column("customer_id").to_pylist()
    ]
    table = table.set_column(1, "customer_id", pa.array(cust))
    _same_as_sql(_write(tmp_path, table), monkeypatch)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_tz_aware_timestamps_of_every_unit(tmp_path, monkeypatch, unit, tz):
    df = _events(seed=5)
    df.loc[3, "ts"] = 315_532_800_000_000  # 1980-01-01: outside the plausible window
    table = _table(df, unit=unit, tz=tz)
    path = _write(tmp_path, table)
    log, fast, streamed = _same_as_sql(path, monkeypatch)
    # the instants are streamed as stored: no cast, no expression per row
    assert "VARCHAR" not in streamed[0] and "epoch" not in streamed[0]
    assert fast["summary"].set_index("reason").loc["unparseable", "n"] >= 1
    assert fast["time"].set_index("rule").loc["out_of_range", "n"] == 1
    # the instants, from pandas (truncated to the microsecond as every reading is)
    expect = pd.Series(table.column("ts").to_pandas()).dt.tz_convert("UTC").dt.floor("us")
    got = log.to_pandas()["timestamp"].dt.tz_convert("UTC")
    ok = expect.dt.year >= 1990
    assert (got[ok].to_numpy() == expect[ok].to_numpy()).all()


def test_naive_local_timestamps_across_the_clock_change(tmp_path, monkeypatch):
    """Naive times are local times in the study's zone (fold=0 at the clock changes), counted
    in ``log.time`` alike by both paths."""
    df = _events(seed=6)
    start = pd.Timestamp("2026-03-29 01:30").value // 1000  # the gap: 02:00 -> 03:00, Paris
    df["ts"] = start + np.sort(np.random.default_rng(6).integers(0, 2 * 3600, len(df))) * 10**6
    path = _write(tmp_path, _table(df, unit="us", tz=None))
    log, fast, _ = _same_as_sql(path, monkeypatch, timezone="Europe/Paris")
    assert fast["time"].set_index("rule").loc["dst_gap", "n"] > 0
    walls = pd.to_datetime(df["ts"], unit="us")
    expect = walls.dt.tz_localize("Europe/Paris", nonexistent="shift_forward", ambiguous=True)
    gap = (walls >= "2026-03-29 02:00") & (walls < "2026-03-29 03:00")
    expect = expect.where(
        ~gap, (walls + pd.Timedelta("1h")).dt.tz_localize("Europe/Paris", nonexistent="NaT")
    )
    got = log.to_pandas()["timestamp"]
    assert (got.dt.tz_convert("UTC").to_numpy() == expect.dt.tz_convert("UTC").to_numpy()).all()


# -- kernels rewritten to compile faster --------------------------------------------------------
def test_medians_by_selection_equal_numpy():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        d = rng.integers(-5, int(rng.integers(1, 12)), n).astype(np.int64)
        cuts = (
            np.sort(rng.choice(np.arange(1, n), size=min(n - 1, 4), replace=False)) if n > 1 else []
        )
        start = np.r_[0, cuts].astype(np.int64)
        stop = np.r_[cuts, n].astype(np.int64)
        out = np.empty(len(start))
        K._medians(d.copy(), start, stop, out)
        assert out.tolist() == [np.median(d[a:b]) for a, b in zip(start, stop)]


@pytest.mark.parametrize("size", [5, 33, 200])
def test_duplicates_in_large_tie_groups(size):
    """Rows at one instant of one actor: small groups are compared in the loop, large ones by
    NumPy; a row is a duplicate when an earlier row (smaller row_id) is identical."""
    rng = np.random.default_rng(size)
    o = np.arange(size, dtype=np.int64)
    a_o, t_o = np.zeros(size, np.int32), np.zeros(size, np.int64)
    ev = rng.integers(0, 3, size).astype(np.int16)
    user = rng.integers(-1, 2, size).astype(np.int32)
    device = np.zeros(size, np.int32)
    ua = rng.integers(0, 2, size).astype(np.int16)
    ci = K.tie_candidates(a_o, t_o)
    dup = K.narrow_duplicates(o, ci, a_o, t_o, ev, user, device, ua)
    seen, expect = set(), []
    for r in range(size):
        key = (ev[r], user[r], ua[r])
        expect.append(key in seen)
        seen.add(key)
    assert dup.tolist() == expect


def test_device_links_sorted_by_device_then_customer():
    rng = np.random.default_rng(2)
    n = 500
    user = rng.integers(-1, 30, n).astype(np.int32)
    device = rng.integers(-1, 60, n).astype(np.int32)
    ev = rng.integers(0, 3, n).astype(np.int16)
    rows = np.arange(n, dtype=np.int64)
    d, u, c = K.device_links(rows, user, device, ev, np.zeros(0, np.bool_), 60)
    ok = (user >= 0) & (device >= 0)
    pairs = pd.Series(list(zip(device[ok], user[ok]))).value_counts().sort_index()
    assert list(zip(d, u)) == list(pairs.index) and c.tolist() == pairs.tolist()
