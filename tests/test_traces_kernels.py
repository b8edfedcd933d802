"""The compiled kernels of the DuckDB fast path (``traces._kernels``).

The fast path must give exactly what the SQL of every engine gives (``DuckDBEngine(fast=False)``
runs that SQL): here on the paths that the other trace tests do not reach on their small logs
-- kernels cut into pieces per core, logs in several time-ordered runs, a 64-bit hash shared by
two sequences, large groups of rows at one instant -- and kernel by kernel against plain
NumPy / pandas references written in the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_traces_clean import _same_cleaning
from traces_fixtures import awkward_log, engines, log_on

import parcours_research as pr
from parcours_research.traces import _clean_arrays as ca
from parcours_research.traces import _kernels as K

T0 = pd.Timestamp("2026-03-02 09:00", tz="Europe/Paris")


@pytest.fixture
def pieces(monkeypatch):
    """Every kernel that can run in pieces runs in three, even on a small log."""
    monkeypatch.setattr(K, "n_parts", lambda n: 3 if n >= 3 else 1)


def _shared_devices_log(seed: int) -> pd.DataFrame:
    df = awkward_log(seed, n_users=40)
    df["device_id"] = [f"d{int(u[1:]) % 25}" for u in df["user_id"]]  # devices in conflict
    df["user_id"] = df["user_id"].where(np.arange(len(df)) % 3 == 0, None)
    return pd.concat([df, df.iloc[:5]], ignore_index=True)  # exact duplicates


def _downstream(df: pd.DataFrame, identity_map) -> list[dict]:
    out = []
    for eng in engines():
        cleaned, log = pr.traces.clean(log_on(df, eng), period=False)
        stitched, conflicts = pr.traces.stitch(cleaned, identity_map=identity_map)
        sessions = pr.traces.sessionize(stitched, gap="5min")
        out.append(
            {
                "summary": log.summary,
                "removed": log.removed(),
                "conflicts": conflicts,
                "stitched": stitched.to_pandas(),
                "sessions": sessions.to_pandas(),
                "funnel": pr.traces.funnel(sessions, steps=["a", "b", "c"], window="10min"),
                "strict": pr.traces.funnel_users(
                    sessions, steps=["a", "b", "c"], window="10min", order="strict"
                ),
                "excluded": pr.traces.funnel_users(
                    sessions, steps=["a", "b", "c"], window="10min", exclude="x"
                ),
                "transitions": pr.traces.transitions(sessions),
                "variants": pr.traces.variants(sessions, top=None),
                "user_variants": pr.traces.variants(stitched, within="user", top=5),
            }
        )
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("with_map", [False, True])
def test_kernels_in_pieces_match_sql(pieces, seed, with_map):
    """Cleaning, stitching (with and without an identity map), sessions, funnels in every
    order, transitions and variants, each kernel cut into three pieces: the SQL's tables."""
    idmap = (
        pd.DataFrame({"device_id": ["d1", "d2", "d2"], "customer_id": ["u001", "X", "Y"]})
        if with_map
        else False
    )
    fast, sql = _downstream(_shared_devices_log(seed), idmap)
    assert len(fast["conflicts"]) > 0 and len(fast["transitions"]) > 3
    for key in fast:
        pd.testing.assert_frame_equal(fast[key], sql[key], obj=key)


def test_links_without_identity_map_count_each_devices_customers():
    """Stitching from the events alone: the conflicts table from a pandas count of the rows."""
    df = _shared_devices_log(1)
    eng = engines()[0]
    cleaned, _ = pr.traces.clean(log_on(df, eng), period=False)
    _, conflicts = pr.traces.stitch(cleaned, identity_map=False)
    rows = cleaned.to_pandas().dropna(subset=["device_id", "user_id"])
    pairs = rows.groupby(["device_id", "user_id"]).size().rename("n_events").reset_index()
    pairs["n_customers"] = pairs.groupby("device_id")["user_id"].transform("size")
    expected = pairs[pairs["n_customers"] > 1].reset_index(drop=True)
    assert len(expected) > 0
    got = conflicts[["device_id", "user_id", "n_events", "n_customers"]]
    pd.testing.assert_frame_equal(
        got.astype({"device_id": object, "user_id": object}),
        expected.astype({"device_id": object, "user_id": object}),
        check_dtype=False,
    )
    assert set(conflicts["source"]) == {"events"}


# -- time order -----------------------------------------------------------------------------------
def _reference_order(row_id, t):
    return np.lexsort((row_id, t))


@pytest.mark.parametrize(
    "case", ["sorted", "two runs", "many runs", "ties", "rows out of order", "empty", "one"]
)
def test_time_order_is_timestamp_then_row_id(case):
    rng = np.random.default_rng(3)
    n = {"empty": 0, "one": 1}.get(case, 5000)
    t = np.sort(rng.integers(0, 10**6, n))
    row_id = np.arange(n, dtype=np.int32)
    if case == "two runs":  # two exports, each in time order
        t = np.r_[
            np.sort(rng.integers(0, 10**6, n // 2)), np.sort(rng.integers(0, 10**6, n - n // 2))
        ]
    elif case == "many runs":  # more runs than are merged: sorted instead
        t = rng.integers(0, 10**6, n)
    elif case == "ties":
        t = np.r_[np.sort(rng.integers(0, 50, n // 2)), np.sort(rng.integers(0, 50, n - n // 2))]
    elif case == "rows out of order":
        row_id = rng.permutation(n).astype(np.int32)
        t = rng.integers(0, 100, n)
    got = ca.time_order(row_id, t.astype(np.int64))
    np.testing.assert_array_equal(got, _reference_order(row_id, t))
    assert got.dtype == np.int32


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=30), min_size=1, max_size=70)
)
def test_hypothesis_runs_merge_like_a_stable_sort(runs):
    t = np.concatenate([np.sort(np.asarray(r, dtype=np.int64)) for r in runs])
    row_id = np.arange(len(t), dtype=np.int32)
    np.testing.assert_array_equal(ca.time_order(row_id, t), np.argsort(t, kind="stable"))


# -- pieces -----------------------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(
    keys=st.lists(st.integers(0, 4), min_size=0, max_size=60).map(sorted),
    parts=st.integers(1, 5),
)
def test_cuts_cover_the_rows_without_splitting_a_run(keys, parts):
    key = np.asarray(keys, dtype=np.int64)
    ranges = K.cuts(len(key), parts, key)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(key)
    for (a, b), (c, _) in zip(ranges[:-1], ranges[1:]):
        assert b == c and a < b
        assert key[b - 1] != key[b]  # a cut falls between two runs


def test_run_all_keeps_the_order_of_the_calls():
    assert K.run_all(lambda a, b: a * b, [(i, 2) for i in range(9)]) == [2 * i for i in range(9)]


# -- hashes ----------------------------------------------------------------------------------------
def test_lookup_codes_known_hashes_and_counts_the_others():
    keys = np.array([11, 2**63 + 5, 7], dtype=np.uint64)
    table = K.hash_table(keys, np.array([0, 1, 2], dtype=np.int32))
    out = np.full(6, 99, dtype=np.int32)
    hashes = np.array([7, 0, 2**63 + 5, 12345, 11], dtype=np.uint64)
    missing = K.lookup_into(hashes, *table, out, 1)
    assert missing == 1
    np.testing.assert_array_equal(out, [99, 2, -1, 1, -2, 0])


def test_variants_when_two_sequences_share_a_hash(monkeypatch):
    """A hash collision sends variants to the exact comparison of whole sequences."""
    df = awkward_log(4, n_users=50)
    eng = engines()[0]
    sessions = pr.traces.sessionize(log_on(df, eng), gap="5min")
    expected = pr.traces.variants(sessions, top=None)

    def collided(codes, start, length, h):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), False

    monkeypatch.setattr(K, "group_sequences", collided)
    got = pr.traces.variants(sessions, top=None)
    pd.testing.assert_frame_equal(got, expected)
    sql = pr.traces.variants(pr.traces.sessionize(log_on(df, engines()[1]), gap="5min"), top=None)
    pd.testing.assert_frame_equal(got, sql)


def test_group_sequences_checks_every_member():
    codes = np.array([1, 2, 1, 2, 3], dtype=np.int32)
    start = np.array([0, 2, 4], dtype=np.int64)
    length = np.array([2, 2, 1], dtype=np.int64)
    first, count, exact = K.group_sequences(codes, start, length, np.array([5, 5, 9], np.uint64))
    assert exact and first.tolist() == [0, 2] and count.tolist() == [2, 1]
    # the same hash for different sequences: not exact
    _, _, exact = K.group_sequences(codes, start, length, np.array([5, 5, 5], np.uint64))
    assert not exact


# -- duplicates at one instant -------------------------------------------------------------------
def test_many_rows_at_one_instant():
    """An actor firing 90 rows at the same microsecond (some identical, some not), and another
    actor sharing the instant: exact duplicates as the SQL finds them."""
    n = 90
    df = pd.DataFrame(
        {
            "device_id": pd.Series(["d1"] * n + ["d2"] * 3, dtype="string"),
            "user_id": pd.Series(
                [None if i % 4 else f"c{i % 3}" for i in range(n + 3)], dtype="string"
            ),
            "timestamp": pd.Series([T0] * (n + 3), dtype="datetime64[us, Europe/Paris]"),
            "event": pd.Series([f"e{i % 5}" for i in range(n + 3)], dtype="string"),
            "user_agent": pd.Series(
                ["Mozilla/5.0", "Mozilla/5.0 (X11)"] * ((n + 4) // 2), dtype="string"
            )[: n + 3].reset_index(drop=True),
        }
    )
    fast, _ = _same_cleaning(df, period=False, bots_behaviour=False)
    assert 0 < len(fast.to_pandas()) < len(df)


# -- stitching kernel -----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-1, 5), st.integers(-1, 5), st.integers(0, 2)),
        min_size=0,
        max_size=80,
    ),
    login_only=st.booleans(),
)
def test_device_links_count_every_pair(rows, login_only):
    device = np.array([r[0] for r in rows], dtype=np.int32)
    user = np.array([r[1] for r in rows], dtype=np.int32)
    ev = np.array([r[2] for r in rows], dtype=np.int16)
    login = np.array([False, True, False]) if login_only else np.zeros(0, np.bool_)
    d, u, n = K.device_links(np.arange(len(rows), dtype=np.int32), user, device, ev, login, 6)
    ref: dict = {}
    for dv, us, e in rows:
        if dv >= 0 and us >= 0 and (not login_only or e == 1):
            ref[(dv, us)] = ref.get((dv, us), 0) + 1
    assert sorted(zip(d.tolist(), u.tolist(), n.tolist())) == sorted(
        (a, b, c) for (a, b), c in ref.items()
    )


# -- counting sorts in pieces --------------------------------------------------------------------
_sort_rows = st.lists(
    st.tuples(st.integers(-1, 6), st.integers(-1, 6), st.integers(0, 5), st.integers(-1, 3)),
    min_size=0,
    max_size=120,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_sort_rows, parts=st.integers(1, 4))
def test_hypothesis_counting_sorts_in_pieces_are_stable_sorts(monkeypatch, rows, parts):
    """The sorts by actor (cleaning) and by person (sessions) cut into pieces side by side give
    NumPy's stable sort of the rows in time order: by key, then by time, then by file position.
    Rows with no actor or person, no time or a missing event are left out as the kernels say."""
    monkeypatch.setattr(K, "n_parts", lambda n: min(parts, max(n, 1)))
    n = len(rows)
    device = np.array([r[0] for r in rows], dtype=np.int32)
    user = np.array([r[1] for r in rows], dtype=np.int32)
    t = np.array([r[2] if r[2] < 5 else K.NONE for r in rows], dtype=np.int64)  # 5: no time
    ev = np.array([r[3] for r in rows], dtype=np.int16)
    row_id = np.arange(n, dtype=np.int32)[::-1].copy()  # file positions, not the array order
    rows_t = np.lexsort((row_id, t)).astype(np.int32)  # (t, row_id) order
    none = np.zeros(0, np.int32)
    reason, o, a_o, t_o, ev_o = K.first_reasons(
        rows_t, t, ev, user, device, none, np.zeros(0, np.bool_), K.NONE, K.NONE, 7
    )
    actor = np.where(device >= 0, device, user)
    bad = (t == K.NONE) | (ev < 0) | (actor < 0)
    assert (reason[bad] == K.UNPARSEABLE).all() and (reason[~bad] == K.KEPT).all()
    good = rows_t[~bad[rows_t]]
    expect = good[np.argsort(actor[good], kind="stable")]
    assert o.tolist() == expect.tolist()
    assert a_o.tolist() == actor[expect].tolist() and t_o.tolist() == t[expect].tolist()
    assert ev_o.tolist() == ev[expect].tolist()

    ts, rid, evs, rank, codes = K.person_order(rows_t, t, user, device, row_id, ev, 7)
    person = np.where(user >= 0, user, device)
    keep = rows_t[(person[rows_t] >= 0) & (t[rows_t] != K.NONE)]
    expect = keep[np.argsort(person[keep], kind="stable")]
    assert rid.tolist() == row_id[expect].tolist() and ts.tolist() == t[expect].tolist()
    assert evs.tolist() == ev[expect].tolist()
    assert codes[rank].tolist() == person[expect].tolist()
    assert rank.tolist() == sorted(rank.tolist())  # ranks 0, 1, ... in person order


# -- streaming a Parquet log ------------------------------------------------------------------------
def _parquet_parts(tmp_path, seed: int = 11, n_files: int = 3):
    df = awkward_log(seed, n_users=250)
    df["device_id"] = [f"d{int(u[1:]) % 150}" for u in df["user_id"]]  # devices in conflict
    df["user_id"] = df["user_id"].where(np.arange(len(df)) % 3 == 0, None)
    df = pd.concat([df, df.iloc[:9]], ignore_index=True)  # exact duplicates
    df["timestamp"] = df["timestamp"].dt.tz_convert("UTC")
    paths = []
    bounds = np.linspace(0, len(df), n_files + 1).astype(int)
    for i in range(n_files):
        part = df.iloc[bounds[i] : bounds[i + 1]]
        path = tmp_path / f"part{i}.parquet"
        part.astype({"user_id": "string", "device_id": "string", "event": "string"}).to_parquet(
            path, index=False
        )
        paths.append(str(path))
    return df, paths


def _outcome(paths, eng):
    log = pr.traces.read_events(paths, engine=eng)
    cleaned, clog = pr.traces.clean(log, period=False, bots_behaviour={"max_per_minute": 4})
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=False)
    sessions = pr.traces.sessionize(stitched, gap="5min")
    return cleaned, {
        "summary": clog.summary,
        "removed": clog.removed(),
        "conflicts": conflicts,
        "sessions": sessions.to_pandas(),
        "variants": pr.traces.variants(sessions, top=None),
    }


def test_parquet_log_streamed_in_small_batches_from_several_files(tmp_path, monkeypatch):
    """A Parquet log is counted from its metadata, then streamed from DuckDB in batches that
    worker threads decode side by side: in three files and batches of 64 rows, the array path
    gives exactly the SQL path's outcome."""
    df, paths = _parquet_parts(tmp_path)
    assert len(df) > 5 * 64  # several batches per file
    monkeypatch.setattr(ca, "BATCH_ROWS", 64)
    seen = []
    real = pr.traces.DuckDBEngine.arrow_batches

    def counted(self, sql, rows=1 << 17):
        for b in real(self, sql, rows):
            seen.append(b.num_rows)
            yield b

    monkeypatch.setattr(pr.traces.DuckDBEngine, "arrow_batches", counted)
    (c_fast, fast), (c_sql, sql) = (_outcome(paths, eng) for eng in engines())
    assert c_fast._arrays is not None and c_sql._arrays is None
    assert len(seen) > 5 and sum(seen) == len(df)
    for key in fast:
        pd.testing.assert_frame_equal(fast[key], sql[key], obj=key)


def test_parquet_stream_shorter_than_its_count_falls_back_to_sql(tmp_path, monkeypatch):
    """When the stream does not hold the rows counted (a file replaced while it is read), the
    arrays are not trusted: cleaning runs the SQL path and its outcome is whole."""
    df, paths = _parquet_parts(tmp_path, seed=5, n_files=2)
    monkeypatch.setattr(ca, "BATCH_ROWS", 64)
    real = pr.traces.DuckDBEngine.arrow_batches

    def short(self, sql, rows=1 << 17):
        batches = list(real(self, sql, rows))
        return iter(batches[:-1])

    monkeypatch.setattr(pr.traces.DuckDBEngine, "arrow_batches", short)
    fast_eng, sql_eng = engines()
    c_fast, fast = _outcome(paths, fast_eng)
    assert c_fast._arrays is None  # the fast engine fell back to SQL
    monkeypatch.undo()
    _, sql = _outcome(paths, sql_eng)
    assert int(fast["summary"]["n"].sum()) == len(df)
    for key in fast:
        pd.testing.assert_frame_equal(fast[key], sql[key], obj=key)


def test_numba_starts_without_importing_scipy_linalg():
    """Warming numba up skips the scipy.linalg import that numba's BLAS check makes (0.4 s), in
    a fresh interpreter; numba's own ``np.dot`` still compiles and runs afterwards, and the
    check is restored."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from parcours_research.traces import _kernels as K\n"
        "import numba.np.linalg as L\n"
        "real = L.ensure_blas\n"
        "K._start()\n"
        "assert 'scipy.linalg' not in sys.modules, 'scipy.linalg was imported'\n"
        "assert L.ensure_blas is real\n"
        "import numpy as np\n"
        "from numba import njit\n"
        "f = njit(lambda a, b: np.dot(a, b))\n"
        "print(f(np.arange(3.0), np.arange(3.0)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "5.0"  # 0*0 + 1*1 + 2*2
