"""The integer-id coder with direct windows codes exactly as 0.4.3's coder (issue 20, 0.4.4).

``IntCoder`` codes integer ids in order of first appearance. 0.4.4 looks ids up directly in two
windows (from the Parquet file's statistics: ``IntCoder.windows``, ``_direct._id_spans``) where
0.4.3 hashed every id outside ``0 .. SMALL - 1``. The reference below is 0.4.3's kernel and
coder, copied verbatim (``code_ints`` compiled here without numba's cache): codes and
``values()`` must be identical on awkward inputs (missing values with validity bitmaps at an
offset, negative ids, ids at the window and table boundaries, the table grown many times, many
batches, one row), whatever the windows, even windows that miss the ids. No timing here: see
``benchmarks/traces.py``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from parcours_research.traces import _clean_arrays as ca
from parcours_research.traces import _direct

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# -- 0.4.3's coder, the exact reference -----------------------------------------------------------
@njit(nogil=True)
def _old_code_ints(
    vals, bits, bit_off, small, slot_keys, slot_vals, seen, state, out, offset, i0
):  # pragma: no cover - compiled
    mask = np.uint64(len(slot_keys) - 1)
    limit = len(slot_keys) // 2
    n_small = len(small)
    n_seen, n_hashed = state[0], state[1]
    has_bits = len(bits) > 0
    i = i0
    stop = False
    while i < len(vals) and not stop:
        if has_bits:
            b = bit_off + i
            if (bits[b >> 3] >> (b & 7)) & 1 == 0:
                out[offset + i] = -1
                i += 1
                continue
        v = vals[i]
        if 0 <= v < n_small:
            c = small[v]
            if c < 0:
                if n_seen >= len(seen):
                    break
                c = small[v] = n_seen
                seen[n_seen] = v
                n_seen += 1
            out[offset + i] = c
            i += 1
            continue
        j = (np.uint64(v) * _GOLDEN) >> np.uint64(20) & mask
        while True:
            c = slot_vals[j]
            if c < 0:
                if n_seen >= len(seen) or n_hashed >= limit:
                    stop = True
                    break
                slot_keys[j] = v
                slot_vals[j] = n_seen
                seen[n_seen] = v
                out[offset + i] = n_seen
                n_seen += 1
                n_hashed += 1
                break
            if slot_keys[j] == v:
                out[offset + i] = c
                break
            j = (j + np.uint64(1)) & mask
        if not stop:
            i += 1
    state[0], state[1] = n_seen, n_hashed
    return i


class _OldIntCoder:
    SMALL = 1 << 20

    def __init__(self, cap: int = 1 << 16, small: int = SMALL):
        self.small = np.full(small, -1, np.int32)
        self.state = np.zeros(2, np.int64)
        self.seen = np.empty(cap, np.int64)
        self.keys = np.zeros(cap, np.int64)
        self.slots = np.full(cap, -1, np.int32)

    @property
    def n(self) -> int:
        return int(self.state[0])

    def code(self, col, out: np.ndarray, offset: int) -> None:
        vals, bits, bit_off = ca._int_buffers(col)
        i = 0
        while True:
            i = _old_code_ints(
                vals,
                bits,
                bit_off,
                self.small,
                self.keys,
                self.slots,
                self.seen,
                self.state,
                out,
                offset,
                i,
            )
            if i >= len(vals):
                return
            self._grow()

    def _grow(self) -> None:
        n, n_hashed = int(self.state[0]), int(self.state[1])
        if n >= len(self.seen):
            self.seen = np.concatenate([self.seen, np.empty(len(self.seen), np.int64)])
        if n_hashed < len(self.keys) // 2:
            return
        seen = self.seen[:n]
        codes = np.flatnonzero((seen < 0) | (seen >= len(self.small)))
        hashed = seen[codes]
        hashed.flags.writeable = False
        cap = 2 * len(self.keys)
        self.keys, self.slots = np.zeros(cap, np.int64), np.full(cap, -1, np.int32)
        state = np.zeros(2, np.int64)
        _old_code_ints(
            hashed,
            ca._NO_BITS,
            0,
            self.small[:0],
            self.keys,
            self.slots,
            np.empty(len(hashed), np.int64),
            state,
            np.empty(len(hashed), np.int32),
            0,
            0,
        )
        used = self.slots >= 0
        self.slots[used] = codes[self.slots[used]]

    def values(self) -> pa.Array:
        return pa.array(self.seen[: self.n]).cast(pa.string())


# -- inputs ---------------------------------------------------------------------------------------
SMALL = 16  # a small first window: many ids on either side of its boundary
_I64 = (-(2**63), 2**63 - 1)
_ids = st.one_of(
    st.integers(-3, SMALL + 3),  # around the first window's ends
    st.integers(10**12 - 3, 10**12 + 40),  # customer ids: a window of their own
    st.integers(-(10**6), 10**6),
    st.sampled_from([*_I64, _I64[0] + 1, _I64[1] - 1, ca.IntCoder.SMALL - 1, ca.IntCoder.SMALL]),
    st.integers(*_I64),
)
_column = st.lists(st.one_of(st.none(), _ids), min_size=1, max_size=60)
_batch = st.tuples(_column, _column, st.integers(0, 12))


def _arrow(values: list, head: int) -> pa.Array:
    """``values`` as an int64 array at an offset of ``head`` (a slice of a longer array)."""
    return pa.array([None, 7] * head + values, pa.int64()).slice(2 * head)


def _code(coder, batches: list) -> tuple:
    n = sum(max(len(u), len(d)) for u, d, _ in batches)
    user, device = np.full(n, -7, np.int32), np.full(n, -7, np.int32)
    off = 0
    for u, d, head in batches:
        m = max(len(u), len(d))
        u, d = (u + [None] * m)[:m], (d + [None] * m)[:m]
        coder.code(_arrow(u, head), user, off)
        coder.code(_arrow(d, head), device, off)
        off += m
    return user, device, coder.values().to_pylist()


def _spans(batches: list) -> list:
    """The (lowest, highest) id of each column, as Parquet statistics say."""
    spans = []
    for col in (0, 1):
        ids = [v for b in batches for v in b[col] if v is not None]
        if ids:
            spans.append((min(ids), max(ids)))
    return spans


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_batch, min_size=1, max_size=8),
    st.sampled_from([1, 2, 4, 64]),
    st.sampled_from(["spans", "none", "wrong", "wide"]),
    st.integers(0, 200),
)
def test_codes_equal_the_old_coder(batches, cap, windows, budget):
    old = _code(_OldIntCoder(cap=cap, small=SMALL), batches)
    coder = ca.IntCoder(cap=cap, small=SMALL)
    spans = _spans(batches)
    if windows == "spans":
        coder.windows(spans, budget)
    elif windows == "wrong":  # windows that miss ids: those are hashed, the codes stand
        coder.windows([(lo + 3, hi - 2) for lo, hi in spans if hi - lo > 5], budget)
    elif windows == "wide":
        coder.windows([(-(2**63), 2**63 - 1), (5, 9)], budget)
    new = _code(coder, batches)
    assert new[2] == old[2]
    assert (new[0] == old[0]).all() and (new[1] == old[1]).all()


def test_windows_are_set_before_any_id_only():
    coder = ca.IntCoder(small=SMALL)
    coder.code(pa.array([10**12, 3]), np.empty(2, np.int32), 0)
    coder.windows([(10**12, 10**12 + 10)], 100)  # too late: ignored, the codes stand
    assert coder.lo == [0, 0] and len(coder.small[0]) == SMALL
    out = np.empty(3, np.int32)
    coder.code(pa.array([3, 10**12, 10**12 + 1]), out, 0)
    assert out.tolist() == [1, 0, 2]


def test_windows_join_near_spans_and_leave_wide_ones_to_the_table():
    coder = ca.IntCoder()
    coder.windows([(10**12, 10**12 + 999), (0, 5_000_000)], 10_000_000)
    assert coder.lo == [0, 10**12]
    assert [len(s) for s in coder.small] == [5_000_001, 1000]
    joined = ca.IntCoder()
    joined.windows([(0, 10), (20, 30)], 0)
    assert joined.lo[0] == 0 and len(joined.small[0]) == 31 and len(joined.small[1]) == 0
    wide = ca.IntCoder()
    wide.windows([(10**12, 10**13), (-5, 9)], 1000)  # ids 0, 1, ... still looked up directly
    assert wide.lo == [0, -5] and [len(s) for s in wide.small] == [ca.IntCoder.SMALL, 15]
    upside_down = ca.IntCoder()
    upside_down.windows([(9, 3)], 1000)  # not a span: the first window stands
    assert upside_down.lo == [0, 0] and len(upside_down.small[0]) == ca.IntCoder.SMALL


def test_id_spans_from_the_row_groups_statistics(tmp_path):
    """Row groups without a value are skipped; a column without statistics has no span."""
    table = pa.table(
        {
            "u": pa.array([None, None, 10**12 + 5, None, -4, 10**12], pa.int64()),
            "d": pa.array([3, 1, 2, 9, 0, 4], pa.int32()),
            "n": pa.array([None] * 6, pa.int64()),
        }
    )
    path = tmp_path / "ids.parquet"
    pq.write_table(table, path, row_group_size=2)
    meta = pq.ParquetFile(path).metadata
    assert _direct._id_spans(meta, ["u", "d", "n"]) == [(-4, 10**12 + 5), (0, 9)]
    bare = tmp_path / "bare.parquet"
    pq.write_table(table, bare, row_group_size=2, write_statistics=["d"])
    assert _direct._id_spans(pq.ParquetFile(bare).metadata, ["u", "d"]) == [(0, 9)]


@pytest.mark.parametrize("cap", [4, 1 << 16])
def test_many_ids_in_windows_and_the_table(cap):
    """Ids from a wide range (hashed) and two dense ones (windows), in 40 batches."""
    rng = np.random.default_rng(5)
    distinct = np.r_[
        rng.integers(-(2**62), 2**62, 3000),
        10**12 + rng.integers(0, 20_000, 3000),
        rng.integers(0, 50_000, 3000),
    ]
    users = pa.array(distinct[rng.integers(0, 6000, 40_000)], mask=rng.random(40_000) < 0.3)
    devices = pa.array(distinct[rng.integers(3000, 9000, 40_000)])
    batches = [(users.slice(a, 1000), devices.slice(a, 1000)) for a in range(0, 40_000, 1000)]
    spans = [(10**12, 10**12 + 20_000), (0, 50_000)]

    def run(coder):
        out_u, out_d = np.empty(40_000, np.int32), np.empty(40_000, np.int32)
        for k, (u, d) in enumerate(batches):
            coder.code(u, out_u, 1000 * k)
            coder.code(d, out_d, 1000 * k)
        return out_u, out_d, coder.values()

    new = ca.IntCoder(cap=cap)
    new.windows(spans, 20_000)
    a, b = run(_OldIntCoder(cap=cap)), run(new)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all() and a[2].equals(b[2])
