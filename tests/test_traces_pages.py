"""The trace pipeline's large arrays on ordinary pages (``traces._pages.fresh``).

The arrays are only allocated differently: the tests check that they behave as NumPy's own
(writable, contiguous, aligned, freed with their last view), and that the kernels that fill
them give what NumPy computes on its own arrays (the expected values come from NumPy's sorts
and cumulative sums, never from the code under test)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from parcours_research.traces import _clean_arrays, _kernels, _pages


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint64, np.float64])
def test_a_large_array_is_a_writable_mapping_of_its_own(dtype):
    n = _pages.MIN_BYTES // np.dtype(dtype).itemsize + 3
    a = _pages.fresh(n, dtype)
    assert a.shape == (n,) and a.dtype == np.dtype(dtype)
    assert a.flags.writeable and a.flags.c_contiguous and a.flags.aligned
    assert isinstance(a.base, memoryview)  # the mapping, not NumPy's allocator
    assert a.ctypes.data % 4096 == 0
    a[:] = 7
    a[-1] = 1
    assert a.sum() == 7 * (n - 1) + 1


def test_small_arrays_stay_with_numpy():
    a = _pages.fresh(_pages.MIN_BYTES // 8 - 1, np.int64)
    assert a.base is None and a.flags.owndata
    assert _pages.fresh(0, np.int32).shape == (0,)


def test_the_mapping_is_freed_with_its_last_view():
    a = _pages.fresh(_pages.MIN_BYTES, np.int8)
    ref = weakref.ref(a.base)
    view = a[10:20]
    del a
    gc.collect()
    assert ref() is not None  # the view keeps it
    del view
    gc.collect()
    assert ref() is None


def test_without_private_mappings_numpy_allocates(monkeypatch):
    monkeypatch.setattr(_pages, "MAPPED", False)
    a = _pages.fresh(_pages.MIN_BYTES, np.int8)
    assert a.base is None and a.shape == (_pages.MIN_BYTES,)


def test_the_kernels_allocate_there():
    out = _kernels.fresh(_pages.MIN_BYTES // 4, np.int32)
    assert isinstance(out.base, memoryview)


def test_sessions_in_mapped_arrays_match_numpy():
    """Sessions on 1.5 million rows (outputs mapped, filled in pieces side by side): a new
    session at each new person or after a gap over 30 minutes, as NumPy's cumulative sum of
    those breaks counts them."""
    rng = np.random.default_rng(20)
    n = 1_500_000
    person = np.sort(rng.integers(0, 40_000, n)).astype(np.int32)
    t = np.empty(n, np.int64)
    gaps = rng.choice([10, 60, 600, 1_900, 7_200], n) * 1_000_000
    t[:] = np.cumsum(gaps)
    gap_us = 30 * 60 * 1_000_000
    session, within = _kernels.sessions(person, t, gap_us)
    assert isinstance(session.base, memoryview) and isinstance(within.base, memoryview)
    new_person = np.r_[True, person[1:] != person[:-1]]
    new_session = new_person | np.r_[True, np.diff(t) > gap_us]
    expected = np.cumsum(new_session) - 1
    np.testing.assert_array_equal(session, expected)
    first_of_person = np.maximum.accumulate(np.where(new_person, np.arange(n), 0))
    expected_within = expected - expected[first_of_person] + 1
    np.testing.assert_array_equal(within, expected_within)


def test_time_order_in_a_mapped_array_matches_numpy():
    """Positions in (timestamp, row_id) order for 1.2 million rows in three runs in time order
    (three exports appended): NumPy's stable argsort of the timestamps gives the same."""
    rng = np.random.default_rng(21)
    n = 1_200_000
    t = np.concatenate([np.sort(rng.integers(0, 10**12, n // 3)) for _ in range(3)])
    row_id = np.arange(n, dtype=np.int32)
    rows = _clean_arrays.time_order(row_id, t)
    assert isinstance(rows.base, memoryview)
    np.testing.assert_array_equal(rows, np.argsort(t, kind="stable"))
