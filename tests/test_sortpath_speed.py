"""Counting sorts of the DuckDB fast path taken in position order (``traces._kernels``).

Cleaning sorts the rows by actor and sessions by person: a stable counting sort of the rows in
(timestamp, row_id) order. 0.4.4 sorts the positions in their own order instead (the arrays are
read in order, not all over) and then sorts by (t, row_id) only the keys whose rows were not in
that order already (``sort_by_position``, ``keys_of``). The result must be
the same to the last bit: the kernels of 0.4.3 are kept below, as plain Python, as the exact
reference (``_old_first_reasons``, ``_old_person_order``), and compared with the new code on
awkward inputs (ties, one actor, empty logs, missing values, rows out of order, row ids not
following the positions, pieces side by side, times near the int64 limits).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours_research.traces import _kernels as K

NONE = np.iinfo(np.int64).min
KEPT, UNPARSEABLE, OUTSIDE, BOT_UA = 0, 1, 2, 3


# -- the kernels of 0.4.3, as plain Python (the exact reference) ---------------------------------
def _old_reasons_count(rows, t, ev, user, device, ua, ua_bot, lo, hi, reason, count):
    n = len(t)
    has_ua = len(ua) == n and len(ua_bot) > 0
    for i in range(len(rows)):
        r = rows[i]
        tr = t[r]
        if tr == NONE or ev[r] < 0 or (user[r] < 0 and device[r] < 0):
            reason[r] = UNPARSEABLE
        elif (lo != NONE and tr < lo) or (hi != NONE and tr >= hi):
            reason[r] = OUTSIDE
        elif has_ua and ua[r] >= 0 and ua_bot[ua[r]]:
            reason[r] = BOT_UA
        else:
            count[device[r] if device[r] >= 0 else user[r]] += 1


def _old_reasons_scatter(rows, t, ev, user, device, reason, pos, o, a_o, t_o, ev_o):
    with_ev = len(ev_o) > 0
    for i in range(len(rows)):
        r = rows[i]
        if reason[r] == KEPT:
            a = device[r] if device[r] >= 0 else user[r]
            j = pos[a]
            o[j] = r
            a_o[j] = a
            t_o[j] = t[r]
            if with_ev:
                ev_o[j] = ev[r]
            pos[a] = j + 1


def _starts(counts):
    out = np.zeros(len(counts), np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=out[1:])
    return out


def _old_first_reasons(rows, t, ev, user, device, ua, ua_bot, lo, hi, n_ids, want_ev):
    reason = np.zeros(len(t), np.int8)
    count = np.zeros(n_ids, np.int64)
    _old_reasons_count(rows, t, ev, user, device, ua, ua_bot, lo, hi, reason, count)
    m = int(count.sum())
    o, a_o, t_o = np.empty(m, rows.dtype), np.empty(m, np.int32), np.empty(m, np.int64)
    ev_o = np.empty(m if want_ev else 0, ev.dtype)
    _old_reasons_scatter(rows, t, ev, user, device, reason, _starts(count), o, a_o, t_o, ev_o)
    return reason, o, a_o, t_o, ev_o


def _old_person_order(rows, t, user, device, row_id, ev, n_ids):
    count = np.zeros(n_ids, np.int64)
    for r in rows:
        p = user[r] if user[r] >= 0 else device[r]
        if p >= 0 and t[r] != NONE:
            count[p] += 1
    m = int(count.sum())
    pos = _starts(count)
    ts, rid = np.empty(m, np.int64), np.empty(m, row_id.dtype)
    evs, pcode = np.empty(m, ev.dtype), np.empty(m, np.int32)
    for r in rows:
        p = user[r] if user[r] >= 0 else device[r]
        if p >= 0 and t[r] != NONE:
            j = pos[p]
            ts[j], rid[j], evs[j], pcode[j] = t[r], row_id[r], ev[r], p
            pos[p] = j + 1
    codes = np.empty(m, np.int64)
    j, prev = -1, -1
    for i in range(m):
        if pcode[i] != prev:
            prev = pcode[i]
            j += 1
            codes[j] = prev
        pcode[i] = j
    return ts, rid, evs, pcode, codes[: j + 1]


# -- awkward inputs -------------------------------------------------------------------------------
_row = st.tuples(
    st.integers(-1, 6),  # device
    st.integers(-1, 6),  # user
    st.integers(0, 6),  # time step (6: missing)
    st.integers(-1, 3),  # event
    st.integers(-1, 2),  # user agent
)


@st.composite
def _logs(draw):
    rows = draw(st.lists(_row, min_size=0, max_size=90))
    n = len(rows)
    # file order: by time (an export), by time but for a few swaps, or any order
    order = draw(st.sampled_from(["time", "swaps", "any"]))
    if order != "any":
        rows.sort(key=lambda r: r[2])
    if order == "swaps" and n > 1:
        for _ in range(draw(st.integers(1, 4))):
            i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            rows[i], rows[j] = rows[j], rows[i]
    base = draw(st.sampled_from([0, 1_767_225_600_000_000, 2**62, -(2**62)]))
    step = draw(st.sampled_from([1, 10**6, 2**40]))
    t = np.array([NONE if r[2] == 6 else base + r[2] * step for r in rows], np.int64)
    row_kind = draw(st.sampled_from(["position", "offset", "reversed", "shuffled"]))
    ids = np.arange(n, dtype=np.int64)
    if row_kind == "offset":
        ids = ids + (2**31 - 1 - n)  # up to the int32 limit
    elif row_kind == "reversed":
        ids = ids[::-1].copy()
    elif row_kind == "shuffled":
        ids = np.array(draw(st.permutations(list(range(n)))), np.int64)
    wide = draw(st.booleans())
    return {
        "device": np.array([r[0] for r in rows], np.int32),
        "user": np.array([r[1] for r in rows], np.int32),
        "t": t,
        "ev": np.array([r[3] for r in rows], np.int16),
        "ua": np.array([r[4] for r in rows], np.int16),
        "row_id": ids.astype(np.int64 if wide else np.int32),
        "wide": wide,
    }


def _time_order(row_id, t):
    """(t, row_id) order, as ``_clean_arrays.time_order`` gives it."""
    dtype = np.int64 if len(t) and row_id.dtype == np.int64 else np.int32
    return np.lexsort((row_id, t)).astype(dtype)


def _same(new, old):
    assert len(new) == len(old)
    for a, b in zip(new, old):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)


_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(
    log=_logs(),
    parts=st.integers(1, 4),
    bounds=st.sampled_from([(NONE, NONE), (1, NONE), (NONE, 4), (2, 3)]),
    ua_on=st.booleans(),
    want_ev=st.booleans(),
    breaks=st.sampled_from(["usual", "none allowed"]),
)
def test_hypothesis_first_reasons_match_0_4_3(
    monkeypatch, log, parts, bounds, ua_on, want_ev, breaks
):
    """Reasons 1-3 and the rows in (actor, t, row_id) order, by position or in time order, in
    pieces or not, when the keys out of order are sorted again or (none allowed) the rows are
    sorted in time order instead."""
    with monkeypatch.context() as mp:
        mp.setattr(K, "n_parts", lambda n: min(parts, max(n, 1)))
        if breaks == "none allowed":
            mp.setattr(K, "MIN_BREAKS", 0)
            mp.setattr(K, "ROWS_PER_BREAK", 10**9)
        _check_first_reasons(log, bounds, ua_on, want_ev)


def _check_first_reasons(log, bounds, ua_on, want_ev):
    t = log["t"]
    lo, hi = (b if b == NONE else int(t[t != NONE].min(initial=0)) + b for b in bounds)
    ua = log["ua"] if ua_on else np.zeros(0, np.int16)
    ua_bot = np.array([False, True, False]) if ua_on else np.zeros(0, np.bool_)
    rows = _time_order(log["row_id"], t)
    args = (rows, t, log["ev"], log["user"], log["device"], ua, ua_bot, lo, hi, 7, want_ev)
    old = _old_first_reasons(*args)
    by_position = len(rows) == len(t) and bool(K.increasing(log["row_id"]))
    _same(K.first_reasons(*args, by_position), old)
    _same(K.first_reasons(*args), old)


@_SETTINGS
@given(
    log=_logs(),
    parts=st.integers(1, 4),
    breaks=st.sampled_from(["usual", "none allowed"]),
    with_keep=st.booleans(),
)
def test_hypothesis_person_order_matches_0_4_3(monkeypatch, log, parts, breaks, with_keep):
    """Rows in (person, t, row_id) order from the rows cleaning kept: by position (``keep``) or
    in time order."""
    with monkeypatch.context() as mp:
        mp.setattr(K, "n_parts", lambda n: min(parts, max(n, 1)))
        if breaks == "none allowed":
            mp.setattr(K, "MIN_BREAKS", 0)
            mp.setattr(K, "ROWS_PER_BREAK", 10**9)
        _check_person_order(log, with_keep)


def _check_person_order(log, with_keep):
    t, user, device, ev, row_id = log["t"], log["user"], log["device"], log["ev"], log["row_id"]
    every = _time_order(row_id, t)
    none = np.zeros(0, np.int16)
    reason = _old_first_reasons(
        every, t, ev, user, device, none, np.zeros(0, np.bool_), NONE, NONE, 7, False
    )[0]
    rows = every[reason[every] == KEPT]
    old = _old_person_order(rows, t, user, device, row_id, ev, 7)
    keep = reason if with_keep else None
    _same(K.person_order(rows, t, user, device, row_id, ev, 7, keep), old)


@pytest.mark.parametrize("late", [0, 1, 9])
def test_position_sort_is_taken_for_a_log_in_time_order(monkeypatch, late):
    """A log exported in time order (each actor's rows in order, but for ``late`` rows written
    after later ones): sorted by position, the keys out of order sorted again, and the same as
    0.4.3."""
    rng = np.random.default_rng(3 + late)
    n = 5000
    t = np.sort(rng.integers(0, 10**9, n)).astype(np.int64)
    device = rng.integers(0, 300, n).astype(np.int32)
    for _ in range(late):  # a row of the same device moved after a later one
        i = int(rng.integers(0, n // 2))
        j = i + 1 + int(np.flatnonzero(device[i + 1 :] == device[i])[0])
        t[i], t[j] = t[j], t[i]
    breaks = []
    real_fill = K._fill_keys

    def fill(*a):
        found = real_fill(*a)
        breaks.append(found // 2)  # keys sorted again
        return found

    monkeypatch.setattr(K, "_fill_keys", fill)
    user = np.where(rng.random(n) < 0.4, -1, device // 3).astype(np.int32)
    ev = rng.integers(0, 5, n).astype(np.int16)
    row_id = np.arange(n, dtype=np.int32)
    rows = _time_order(row_id, t)
    taken = []
    real = K.sort_by_position

    def spy(*a):
        out = real(*a)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(K, "sort_by_position", spy)
    none = np.zeros(0, np.int16)
    args = (rows, t, ev, user, device, none, np.zeros(0, np.bool_), NONE, NONE, 300, True)
    got = K.first_reasons(*args, True)
    _same(got, _old_first_reasons(*args))
    reason = got[0]
    kept = rows[reason[rows] == KEPT]
    _same(
        K.person_order(kept, t, user, device, row_id, ev, 300, reason),
        _old_person_order(kept, t, user, device, row_id, ev, 300),
    )
    assert taken == [True, True]
    assert 0 < sum(breaks[: len(breaks) // 2]) <= late if late else sum(breaks) == 0


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_keys_of_sorts_the_keys_out_of_order_again(monkeypatch, parts):
    """The keys (or ranks) of each row from the counts, whichever piece holds them; the keys
    whose (t, tie) do not strictly increase sorted again, with the other arrays; None beyond
    the limit, nothing moved."""
    monkeypatch.setattr(K, "n_parts", lambda n: parts)
    total = np.array([2, 0, 3, 1, 2, 2], np.int32)
    key = [0, 0, 2, 2, 2, 3, 4, 4, 5, 5]
    t = np.array([1, 2, 5, 4, 6, 0, 3, 3, 7, 7], np.int64)
    tie = np.array([0, 1, 2, 3, 4, 5, 7, 6, 8, 9], np.int32)
    assert K.keys_of(total, False, t, tie).tolist() == key
    assert K.keys_of(total, True, t, tie).tolist() == [0, 0, 1, 1, 1, 2, 3, 3, 4, 4]
    monkeypatch.setattr(K, "MIN_BREAKS", 1)
    assert K.keys_of(total, False, t, tie, []) is None
    assert t.tolist() == [1, 2, 5, 4, 6, 0, 3, 3, 7, 7]
    monkeypatch.setattr(K, "MIN_BREAKS", 2)
    others = [np.arange(10, dtype=np.int16), np.zeros(0, np.int16)]
    assert K.keys_of(total, False, t, tie, others).tolist() == key
    assert t.tolist() == [1, 2, 4, 5, 6, 0, 3, 3, 7, 7]
    assert tie.tolist() == [0, 1, 3, 2, 4, 5, 6, 7, 8, 9]
    assert others[0].tolist() == [0, 1, 3, 2, 4, 5, 7, 6, 8, 9]
    empty = np.zeros(0, np.int32)
    assert K.keys_of(empty, True, t[:0], tie[:0], []).tolist() == []
