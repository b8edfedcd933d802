"""Compiled loops of the DuckDB fast path (numba): one pass per step instead of many NumPy ones.

Each kernel is a plain loop over integer arrays that NumPy would spell as a dozen whole-array
operations, each allocating a temporary of the log's length. They are compiled once (and cached
on disk by numba, so a new process only loads them) and release the GIL, so that two of them
can run side by side in threads.

Conventions: ``t`` is int64 microseconds (``NONE`` when missing); ids are codes into one
dictionary (``-1`` when missing); ``ev`` codes into the event names (``-1`` when missing);
positions (``rows``, ``o``) index those arrays. Together with their callers in ``_clean_arrays``
and ``_arrays`` they give exactly the result of the SQL of every engine, which the tests check
row by row (``DuckDBEngine(fast=False)`` runs that SQL).
"""

from __future__ import annotations

import os
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

# the arrays a kernel fills are allocated outside it: large ones on ordinary pages (``_pages``)
from ._pages import fresh

NONE = np.iinfo(np.int64).min
# reason codes, in clean.REASONS order
KEPT, UNPARSEABLE, OUTSIDE, BOT_UA, BOT_BEHAVIOUR, EXACT, NEAR = range(7)

_jit = njit(cache=True, nogil=True)


class _Later:
    """A kernel of the later steps (see :data:`LATER`), which a helper process may be compiling
    into numba's cache: if the helper has started on it, its first call waits until the helper
    is done, then loads it; if not, it is compiled here (and the helper skips it)."""

    __slots__ = ("disp", "ready")

    def __init__(self, disp):
        self.disp, self.ready = disp, False

    def __call__(self, *args):
        if not self.ready:
            name = self.disp.__name__
            if name in _STARTED:
                _HELPER[name].wait(timeout=300)
            elif _HELPER:
                _claim(name)
            self.ready = True
        return self.disp(*args)

    def __getattr__(self, name):
        return getattr(self.disp, name)


def _later(fn):
    """``@_jit``, for a kernel listed in :data:`LATER`."""
    return _Later(_jit(fn))


# -- running on every core ------------------------------------------------------------------------
#: below this many rows a kernel runs in one piece
PARALLEL_MIN = 1 << 20


def n_parts(n: int) -> int:
    """How many pieces to cut ``n`` rows into (one per core, at most 4)."""
    if n < PARALLEL_MIN:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def pool() -> ThreadPoolExecutor:
    """The threads that run kernels side by side (``_pool``: shared with the reading)."""
    from ._pool import pool as shared  # (never called in the helper process, see below)

    return shared()


def run_all(fn, calls):
    """``[fn(*args) for args in calls]``, side by side in threads (the kernels release the GIL)."""
    if len(calls) == 1:
        return [fn(*calls[0])]
    ex = pool()
    return [f.result() for f in [ex.submit(fn, *args) for args in calls]]


def cuts(n: int, parts: int, key=None) -> list[tuple[int, int]]:
    """``parts`` consecutive ranges covering ``range(n)``; with ``key`` (an array sorted into
    runs), no run of equal keys is split."""
    bounds = [0]
    for i in range(1, parts):
        b = max(bounds[-1], n * i // parts)
        if key is not None:
            while 0 < b < n and key[b] == key[b - 1]:
                b += 1
        bounds.append(min(b, n))
    bounds.append(n)
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a] or [(0, 0)]


def starts(counts: np.ndarray) -> np.ndarray:
    """Exclusive prefix sum: where each key's rows start in a counting sort."""
    out = np.zeros(len(counts), np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=out[1:])
    return out


# -- hashing ------------------------------------------------------------------------------------
def hash_table(keys, values):
    """An open-addressing table of distinct non-zero 64-bit ``keys`` -> int32 ``values``:
    ``(slot_keys, slot_vals)``. (Arrays are allocated by NumPy rather than inside the compiled
    loops: ``np.zeros`` or ``np.full`` in a kernel adds about 0.2 s to its first compilation.)"""
    cap = 16
    while cap < 2 * len(keys):
        cap *= 2
    slot_keys, slot_vals = np.zeros(cap, np.uint64), np.empty(cap, np.int32)
    _hash_table(keys, values, slot_keys, slot_vals)
    return slot_keys, slot_vals


@_jit
def _hash_table(keys, values, slot_keys, slot_vals):  # pragma: no cover - compiled
    mask = np.uint64(len(slot_keys) - 1)
    for i in range(len(keys)):
        h = keys[i]
        j = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask
        while slot_keys[j] != 0:
            j = (j + np.uint64(1)) & mask
        slot_keys[j] = h
        slot_vals[j] = values[i]


@_jit
def lookup_into(hashes, slot_keys, slot_vals, out, offset):  # pragma: no cover - compiled
    """``out[offset + i]`` = the value of ``hashes[i]`` in the table (-1 for the hash 0, a
    missing value). Returns the number of hashes not in the table (0 unless a value is missing
    from the dictionary)."""
    mask = np.uint64(len(slot_keys) - 1)
    missing = 0
    for i in range(len(hashes)):
        h = hashes[i]
        if h == 0:
            out[offset + i] = -1
            continue
        j = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask
        while True:
            k = slot_keys[j]
            if k == h:
                out[offset + i] = slot_vals[j]
                break
            if k == 0:
                out[offset + i] = -2
                missing += 1
                break
            j = (j + np.uint64(1)) & mask
    return missing


# -- time order ---------------------------------------------------------------------------------
@_jit
def increasing(a):  # pragma: no cover - compiled
    """True when ``a`` is strictly increasing."""
    for i in range(1, len(a)):
        if a[i] <= a[i - 1]:
            return False
    return True


def sorted_runs(t, max_runs):
    """Start positions of the maximal non-decreasing runs of ``t`` (and ``len(t)`` at the end),
    or an empty array when there are more than ``max_runs`` runs."""
    out = np.empty(max_runs + 1, np.int64)
    return out[: _sorted_runs(t, max_runs, out)]


@_jit
def _sorted_runs(t, max_runs, out):  # pragma: no cover - compiled
    n = len(t)
    k = 1
    for i in range(1, n):
        if t[i] < t[i - 1]:
            k += 1
            if k > max_runs:
                return 0
    out[0] = 0
    j = 1
    for i in range(1, n):
        if t[i] < t[i - 1]:
            out[j] = i
            j += 1
    out[k] = n
    return k + 1


def merge_runs(t, runs, out):
    """Stable merge of the sorted runs of ``t`` (``runs``: their starts, then ``len(t)``): the
    positions in (t, position) order, written into ``out``."""
    return _merge_runs(t, runs, runs[:-1].copy(), out)


@_jit
def _merge_runs(t, runs, head, out):  # pragma: no cover - compiled
    k = len(runs) - 1
    for j in range(len(out)):
        best = -1
        for r in range(k):  # the earliest run wins a tie: positions stay in order
            if head[r] < runs[r + 1] and (best < 0 or t[head[r]] < t[head[best]]):
                best = r
        out[j] = head[best]
        head[best] += 1
    return out


# -- cleaning -----------------------------------------------------------------------------------
def positions(counts: list[np.ndarray]) -> list[np.ndarray]:
    """Where each piece's rows of each key start in a stable counting sort cut into pieces
    (``counts[p][key]``: the rows of piece ``p`` with that key): a key's rows from piece 0
    come first, then piece 1's, and so on."""
    pos = [starts(np.sum(counts, axis=0))]
    for c in counts[:-1]:
        pos.append(pos[-1] + c)
    return pos


def counting_sort(rows, n_keys, count, count_args, scatter, scatter_args, sizes, every=None):
    """A stable counting sort of ``rows`` by a key in ``range(n_keys)``, in pieces side by side.

    ``count(rows_piece, start, stop, *count_args, counts)`` adds the piece's rows per key to
    ``counts`` (zeros) and returns how many rows it selected; ``scatter(rows_piece, start,
    stop, *scatter_args, backward, pos, *outs)`` writes each row it keeps at ``pos[key]``
    (advancing it; going backward, at ``pos[key] - 1``, moving it back) into the output
    arrays, one per ``(dtype, wanted)`` of ``sizes`` (an array not wanted is empty). Returns
    the outputs and the rows per key.

    Counting does not need the rows' order: when ``every`` (the arrays' length) is given, the
    rows are all the positions the count kernel selects, and in one or two pieces it reads
    the positions ``start:stop`` in order (``rows_piece`` empty) rather than all over the
    arrays. The scatter then needs no count per piece: its first piece fills each key's range
    forward from its start, the second backward from its end, and they meet."""
    small = _count_type(len(rows))
    parts = cuts(len(rows), n_parts(len(rows)))
    if every is not None and len(parts) <= 2:
        pieces = cuts(every, len(parts))
        counts = [np.zeros(n_keys, small) for _ in pieces]
        calls = [(rows[:0], a, b, *count_args, c) for (a, b), c in zip(pieces, counts)]
        if sum(run_all(count, calls)) == len(rows):
            total = counts[0] if len(counts) == 1 else np.sum(counts, axis=0, dtype=small)
            start = starts(total)
            pos = [start, start + total][: len(parts)]
            outs = _scatter(rows, parts, scatter, scatter_args, pos, total, sizes, meet=True)
            return outs, total
    counts = [np.zeros(n_keys, small) for _ in parts]
    run_all(count, [(rows[a:b], 0, 0, *count_args, c) for (a, b), c in zip(parts, counts)])
    total = counts[0] if len(counts) == 1 else np.sum(counts, axis=0, dtype=small)
    return _scatter(rows, parts, scatter, scatter_args, positions(counts), total, sizes), total


def _count_type(n: int):
    """Counts per key that stay in the cache: int32 when ``n`` rows fit."""
    return np.int32 if n < 2**31 - 1 else np.int64


def _scatter(rows, parts, scatter, scatter_args, pos, total, sizes, meet=False):
    """The scatter of :func:`counting_sort`: piece ``p`` of ``rows`` from ``pos[p]``, forward;
    with ``meet``, the second of two pieces from the keys' ends, backward."""
    m = int(total.sum())
    outs = [fresh(m if wanted else 0, d) for d, wanted in sizes]
    calls = [
        (rows[a:b], 0, 0, *scatter_args, meet and i == 1, p, *outs)
        for i, ((a, b), p) in enumerate(zip(parts, pos))
    ]
    run_all(scatter, calls)
    return outs


def sort_by_position(
    rows, every, n_keys, count, count_args, scatter, scatter_args, sizes, by, ranks=False
):
    """:func:`counting_sort` of ``rows``, which are the positions that the count kernel selects
    among ``range(every)``, taken in position order (every array read in order, not all over),
    then put in (key, t, tie) order: ``by(outs)`` gives the outputs' ``(t, tie, others)``.
    Returns the outputs, the key of each output row (see :func:`keys_of`) and the rows per key.

    A stable sort by key of rows in (t, tie) order puts each key's rows in (t, tie) order;
    exports mostly list each actor's or person's events in that order already, so only the
    keys whose rows are not are sorted here (:func:`keys_of`, by NumPy). Returns None
    (nothing sorted) when the count kernel does not select ``len(rows)`` positions, or when
    too many keys are out of order (the caller then sorts the rows in time order)."""
    n_rows, none = len(rows), rows[:0]
    small = _count_type(n_rows)
    pieces = cuts(every, n_parts(every))
    counts = [np.zeros(n_keys, small) for _ in pieces]
    calls = [(none, a, b, *count_args, c) for (a, b), c in zip(pieces, counts)]
    if sum(run_all(count, calls)) != n_rows:
        return None
    total = counts[0] if len(counts) == 1 else np.sum(counts, axis=0, dtype=small)
    m = int(total.sum())
    outs = [fresh(m if wanted else 0, d) for d, wanted in sizes]
    calls = [
        (none, a, b, *scatter_args, False, p, *outs) for (a, b), p in zip(pieces, positions(counts))
    ]
    run_all(scatter, calls)
    t, tie, others = by(outs)
    key = keys_of(total, ranks, t, tie, others)
    return None if key is None else (outs, key, total)


#: :func:`keys_of` sorts again at most ``MIN_BREAKS + rows // ROWS_PER_BREAK`` keys
MIN_BREAKS, ROWS_PER_BREAK = 16, 4096


def keys_of(total, ranks: bool, t, tie, others=None):
    """The key of each row of a counting sort with ``total[key]`` rows per key (int32): the key
    itself, or with ``ranks`` its rank among the keys that have rows. In pieces of keys side
    by side.

    With ``others`` (a list of arrays aligned with ``t`` and ``tie``; empty ones are skipped),
    the rows of each key are also put in ``(t, tie)`` order where they are not (``tie``
    distinct within a key), ``others`` moved with them; None (nothing moved) when more keys
    than :data:`MIN_BREAKS` and one per :data:`ROWS_PER_BREAK` rows are out of order."""
    m = int(total.sum())
    out = fresh(m, np.int32)
    check = others is not None
    limit = MIN_BREAKS + m // ROWS_PER_BREAK if check else 0
    calls = [
        (total, lo, hi, j, rank, ranks, t, tie, check, out, np.empty(2 * limit, np.int64))
        for lo, hi, j, rank in _key_pieces(total, m)
    ]
    found = run_all(_fill_keys, calls)
    if not check:
        return out
    if min(found) < 0 or sum(found) > 2 * limit:
        return None
    for (*_, breaks), f in zip(calls, found):
        for a, b in breaks[:f].reshape(-1, 2):
            perm = np.lexsort((tie[a:b], t[a:b]))
            for arr in (t, tie, *others):
                if len(arr):
                    arr[a:b] = arr[a:b][perm]
    return out


def _key_pieces(total, m: int) -> list[tuple[int, int, int, int]]:
    """Ranges of keys ``lo:hi`` with about as many rows each, one per core, with the row their
    first row goes to and their rank among the keys that have rows."""
    parts = n_parts(m)
    if parts == 1 or len(total) == 0:
        return [(0, len(total), 0, 0)]
    ends = np.cumsum(total, dtype=_count_type(m))
    cut = [0, *np.searchsorted(ends, [m * i // parts for i in range(1, parts)]).tolist()]
    cut = [min(c, len(total)) for c in cut] + [len(total)]
    return [
        (lo, hi, int(ends[lo - 1]) if lo else 0, int(np.count_nonzero(total[:lo])))
        for lo, hi in zip(cut[:-1], cut[1:])
        if hi > lo
    ]


@_jit
def _fill_keys(
    total, lo, hi, j, rank, ranks, t, tie, check, out, breaks
):  # pragma: no cover - compiled
    """The keys ``lo:hi`` of :func:`keys_of` (``rank``: that of key ``lo``), from row ``j``; with
    ``check``, the ``(start, end)`` rows of the keys whose ``(t, tie)`` do not strictly
    increase into ``breaks`` (flattened). Returns how many entries, or -1 when they do not fit."""
    nb = 0
    for key in range(lo, hi):
        c = total[key]
        if c == 0:
            continue
        v = rank if ranks else key
        bad = False
        out[j] = v
        for q in range(j + 1, j + c):
            out[q] = v
            if check and (t[q] < t[q - 1] or (t[q] == t[q - 1] and tie[q] <= tie[q - 1])):
                bad = True
        if bad:
            if nb + 2 > len(breaks):
                return -1
            breaks[nb] = j
            breaks[nb + 1] = j + c
            nb += 2
        j += c
        rank += 1
    return nb


def first_reasons(
    rows, t, ev, user, device, ua, ua_bot, lo, hi, n_ids, want_ev=True, by_position=False
):
    """Reasons 1-3 of every row, and the rows that pass them ordered by (actor, t, row_id):
    ``(reason, o, actor, t, ev)``, the last three aligned with ``o`` (contiguous, so that the
    later passes read them in order rather than all over the log; ``ev`` empty unless
    ``want_ev``: only near duplicates need it).

    ``rows`` lists positions in (timestamp, row_id) order; ``ua`` may be empty (no user agent),
    ``ua_bot`` flags the robot user agents (empty: the filter is off); ``lo``/``hi`` are the
    period bounds (``NONE`` for an open end). The actor is the device, else the user. A stable
    counting sort by actor, in pieces of ``rows`` side by side (see :func:`positions`). With
    ``by_position`` (``rows`` are every position, and row ids increase with the position) the
    positions are sorted in their own order (see :func:`sort_by_position`).
    """
    reason = np.zeros(len(t), np.int8)
    count_args = (t, ev, user, device, ua, ua_bot, lo, hi, reason)
    scatter_args = (t, ev, user, device, reason)
    sizes = [(rows.dtype, True), (np.int64, True), (ev.dtype, want_ev)]
    done = None
    if by_position and len(rows) == len(t):
        done = sort_by_position(
            rows,
            len(t),
            n_ids,
            _reasons_count,
            count_args,
            _reasons_scatter,
            scatter_args,
            sizes,
            lambda outs: (outs[1], outs[0], [outs[2]]),
        )
    if done is None:
        every = len(t) if len(rows) == len(t) else None  # every position (distinct rows)
        outs, total = counting_sort(
            rows, n_ids, _reasons_count, count_args, _reasons_scatter, scatter_args, sizes, every
        )
        done = outs, keys_of(total, False, outs[1], outs[0]), total
    (o, t_o, ev_o), a_o, _ = done
    return reason, o, a_o, t_o, ev_o


@_jit
def _reasons_count(
    rows, start, stop, t, ev, user, device, ua, ua_bot, lo, hi, reason, count
):  # pragma: no cover - compiled
    """Reasons 1-3 of ``rows`` (or, ``rows`` empty, of the positions ``start:stop``) into
    ``reason``; the rows passing them counted by actor."""
    n = len(t)
    has_ua = len(ua) == n and len(ua_bot) > 0
    every = len(rows) == 0
    for i in range(start if every else 0, stop if every else len(rows)):
        r = i if every else rows[i]
        tr = t[r]
        if tr == NONE or ev[r] < 0 or (user[r] < 0 and device[r] < 0):
            reason[r] = UNPARSEABLE
        elif (lo != NONE and tr < lo) or (hi != NONE and tr >= hi):
            reason[r] = OUTSIDE
        elif has_ua and ua[r] >= 0 and ua_bot[ua[r]]:
            reason[r] = BOT_UA
        else:
            count[device[r] if device[r] >= 0 else user[r]] += 1
    return stop - start if every else len(rows)


@_jit
def _reasons_scatter(
    rows, start, stop, t, ev, user, device, reason, backward, pos, o, t_o, ev_o
):  # pragma: no cover - compiled
    """The rows of ``rows`` (or, ``rows`` empty, the positions ``start:stop``) still kept,
    written at ``pos[actor]`` (advanced as it goes; going ``backward``, from the last row, at
    ``pos[actor] - 1``); their event too when ``ev_o`` is not empty. (The actors are written
    afterwards, in order: see :func:`keys_of`.)"""
    with_ev = len(ev_o) > 0
    every = len(rows) == 0
    m = stop - start if every else len(rows)
    for i in range(m):
        k = m - 1 - i if backward else i
        r = start + k if every else rows[k]
        if reason[r] == KEPT:
            a = device[r] if device[r] >= 0 else user[r]
            j = pos[a] - 1 if backward else pos[a]
            o[j] = r
            t_o[j] = t[r]
            if with_ev:
                ev_o[j] = ev[r]
            pos[a] = j if backward else j + 1


def tie_candidates(a_o, t_o):
    """Positions of rows sharing actor and instant with a neighbour (the only rows that can be
    exact duplicates), given actor and time aligned with the (actor, t, row_id) order."""
    out = fresh(len(a_o), np.int64)  # only the candidates' pages are touched
    return out[: _tie_candidates(a_o, t_o, out)]


@_later
def _tie_candidates(a_o, t_o, out):  # pragma: no cover - compiled
    m = len(a_o)
    j = 0
    for i in range(1, m):
        if a_o[i] == a_o[i - 1] and t_o[i] == t_o[i - 1]:
            if not (i >= 2 and a_o[i - 1] == a_o[i - 2] and t_o[i - 1] == t_o[i - 2]):
                out[j] = i - 1
                j += 1
            out[j] = i
            j += 1
    return j


@_jit
def _same_row(r, p, ev, user, device, ua, has_ua):  # pragma: no cover - compiled
    return (
        ev[r] == ev[p]
        and user[r] == user[p]
        and device[r] == device[p]
        and (not has_ua or ua[r] == ua[p])
    )


def narrow_duplicates(o, ci, a_o, t_o, ev, user, device, ua):
    """Exact duplicates among the candidates ``ci`` (positions in ``o``): a row identical in
    actor, instant, event, user, device and user agent to a row with a smaller ``row_id``.

    Tie groups of up to 32 rows are compared pair by pair in a loop; larger ones (a robot
    firing at one instant) by NumPy (a sort compiled inside the loop would cost seconds of
    compilation after an install)."""
    dup = np.zeros(len(o), np.bool_)
    big = np.empty(2 * (len(ci) // 33 + 1), np.int64)
    big = big[: _narrow_duplicates(o, ci, a_o, t_o, ev, user, device, ua, dup, big)]
    has_ua = len(ua) == len(ev)
    for i, j in big.reshape(-1, 2):
        pos = ci[i:j]  # in (t, row_id) order: the first of identical rows comes first
        rows = o[pos]
        cols = [ev[rows], user[rows], device[rows]] + ([ua[rows]] if has_ua else [])
        keys = np.stack([np.asarray(c, np.int64) for c in cols], axis=1)
        first = np.unique(keys, axis=0, return_index=True)[1]
        mask = np.ones(len(pos), bool)
        mask[first] = False
        dup[pos[mask]] = True
    return dup


@_jit
def _narrow_duplicates(
    o, ci, a_o, t_o, ev, user, device, ua, dup, big
):  # pragma: no cover - compiled
    """:func:`narrow_duplicates` for tie groups of up to 32 rows: flags in ``dup``, and the
    ``(start, end)`` positions in ``ci`` of the larger groups in ``big`` (flattened; returns
    how many of its entries are used)."""
    has_ua = len(ua) == len(ev)
    k = len(ci)
    n_big = 0
    i = 0
    while i < k:
        # a tie group: consecutive candidates with the same actor and instant
        j = i + 1
        p0 = ci[i]
        while j < k and ci[j] == ci[j - 1] + 1:
            if a_o[ci[j]] != a_o[p0] or t_o[ci[j]] != t_o[p0]:
                break
            j += 1
        if j - i <= 32:
            for b in range(i + 1, j):
                rb = o[ci[b]]
                for c in range(i, b):
                    if _same_row(rb, o[ci[c]], ev, user, device, ua, has_ua):
                        dup[ci[b]] = True
                        break
        else:
            big[n_big] = i
            big[n_big + 1] = j
            n_big += 2
        i = j
    return n_big


@_later
def _robots_and_near(
    o,
    a_o,
    t_o,
    ev_o,
    dup,
    reason,
    n_events,
    use_rules,
    max_per_minute,
    min_events,
    max_cv,
    duplicates,
    use_tol,
    tol,
    last,
    touched,
    b_actor,
    b_n,
    b_mpm,
    b_cv,
    b_rule,
):  # pragma: no cover - compiled
    """Reasons 4-6 of the rows in ``o`` (ordered by actor, t, row_id; ``a_o, t_o, ev_o`` are
    their actor, time and event), written into ``reason``.

    Robot behaviour is measured per actor on the rows that are not exact duplicates: number of
    events, coefficient of variation of the gaps (population standard deviation over mean, 0
    when the mean gap is 0, NaN with a single event) and the largest count in one calendar
    minute. The flagged actors go to ``b_actor, b_n, b_mpm, b_cv, b_rule`` (actor code,
    n_events, max_per_minute, cv, rule 0 = regularity, 1 = rate, 2 = both; room for one per
    actor); returns how many. ``last`` (``NONE`` in every slot, and left so) and ``touched``
    hold one slot per event code.
    """
    m = len(o)
    n_bots = 0
    s = 0
    while s < m:
        a0 = a_o[s]
        e = s + 1
        while e < m and a_o[e] == a0:
            e += 1
        flagged = False
        if use_rules:
            n_ev = 0
            sum_gap = 0
            prev_t = NONE
            mpm = 0
            run = 0
            cur_min = NONE
            for i in range(s, e):
                if dup[i]:
                    continue
                tr = t_o[i]
                if n_ev > 0:
                    sum_gap += tr - prev_t
                prev_t = tr
                n_ev += 1
                mi = tr // 60_000_000
                if n_ev > 1 and mi == cur_min:
                    run += 1
                else:
                    cur_min = mi
                    run = 1
                if run > mpm:
                    mpm = run
            cnt = n_ev - 1
            if cnt == 0:
                cv = np.nan
            else:
                mean = np.float64(sum_gap) / cnt
                ss = 0.0
                first = True
                prev_t = NONE
                for i in range(s, e):
                    if dup[i]:
                        continue
                    tr = t_o[i]
                    if not first:
                        d = np.float64(tr - prev_t) - mean
                        ss += d * d
                    first = False
                    prev_t = tr
                std = np.sqrt(ss / cnt)
                cv = 0.0 if mean == 0 else std / mean
            regular = n_ev >= min_events and cv < max_cv  # NaN compares false
            rate = mpm > max_per_minute
            if regular or rate:
                flagged = True
                b_actor[n_bots] = a0
                b_n[n_bots] = n_ev
                b_mpm[n_bots] = mpm
                b_cv[n_bots] = cv
                b_rule[n_bots] = 2 if (rate and regular) else (1 if rate else 0)
                n_bots += 1
        if flagged:
            for i in range(s, e):
                reason[o[i]] = BOT_BEHAVIOUR
        else:
            if duplicates:
                for i in range(s, e):
                    if dup[i]:
                        reason[o[i]] = EXACT
            if use_tol:
                n_t = 0
                for i in range(s, e):
                    if duplicates and dup[i]:
                        continue
                    x = ev_o[i]
                    tr = t_o[i]
                    if last[x] == NONE:
                        touched[n_t] = x
                        n_t += 1
                    elif tr - last[x] <= tol:
                        reason[o[i]] = NEAR
                    last[x] = tr
                for j in range(n_t):
                    last[touched[j]] = NONE
        s = e
    return n_bots


def robots_and_near(o, a_o, t_o, ev_o, dup, reason, *params):
    """Reasons 4-6 (see :func:`_robots_and_near`), one piece of actors per core."""
    parts = cuts(len(o), n_parts(len(o)), a_o)
    n_events, use_rules = params[0], params[1]
    calls, found = [], []
    for a, b in parts:
        room = b - a if use_rules else 0  # at most one robot per actor: pages touched as found
        bots = [fresh(room, d) for d in (np.int64, np.int64, np.int64, np.float64, np.int8)]
        scratch = (np.full(max(n_events, 1), NONE, np.int64), fresh(max(n_events, 1), np.int64))
        found.append(bots)
        calls.append((o[a:b], a_o[a:b], t_o[a:b], ev_o[a:b], dup[a:b], reason, *params))
        calls[-1] += (*scratch, *bots)
    n_bots = run_all(_robots_and_near, calls)
    return tuple(np.concatenate([f[i][:n] for f, n in zip(found, n_bots)]) for i in range(5))


def kept_rows(rows, reason):
    """The positions of ``rows`` whose reason is ``kept``, in the same order."""
    out = fresh(len(rows), rows.dtype)
    return out[: _kept_rows(rows, reason, out)]


@_later
def _kept_rows(rows, reason, out):  # pragma: no cover - compiled
    j = 0
    for i in range(len(rows)):
        if reason[rows[i]] == KEPT:
            out[j] = rows[i]
            j += 1
    return j


# -- stitching ----------------------------------------------------------------------------------
def device_links(rows, user, device, ev, login, n_ids, keep=None):
    """(device, customer, n) for every pair seen on one row of ``rows``, counting only events
    flagged in ``login`` when it is not empty; ordered by device, then customer. (The pairs of
    devices in conflict are sorted by NumPy between two loops: a sort compiled inside a loop
    costs seconds of compilation after an install.) The pairs do not depend on the rows'
    order: with ``keep`` (0 at exactly the positions of ``rows``, see ``person_order``) the
    positions are read in order rather than all over the arrays."""
    found = None
    if keep is not None:
        found = _links_of(rows[:0], keep, user, device, ev, login, n_ids)
        found = found if found[1] == len(rows) else None  # an outcome not matching the rows
    if found is None:
        found = _links_of(rows, np.zeros(0, np.int8), user, device, ev, login, n_ids)
    n_keys, _, first, n_first, multi, keys = found
    keys = np.sort(keys[:n_keys])
    out = [fresh(n_ids + n_keys, np.int64) for _ in range(2)] + [np.zeros(n_ids + n_keys, np.int64)]
    n_pairs = _device_pairs(first, n_first, multi, keys, n_ids, *out)
    return tuple(x[:n_pairs] for x in out)


def _links_of(rows, keep, user, device, ev, login, n_ids):
    """:func:`_device_keys` on fresh arrays: ``(n_keys, rows seen, first, n_first, multi,
    keys)``."""
    first = np.full(n_ids, -1, np.int32)  # the device's first customer
    n_first = np.zeros(n_ids, np.int64)
    multi = np.zeros(n_ids, np.bool_)  # the device has several customers
    keys = fresh(len(user), np.int64)  # pages touched only for the devices in conflict
    n_keys, seen = _device_keys(rows, keep, user, device, ev, login, first, n_first, multi, keys)
    return n_keys, seen, first, n_first, multi, keys


@_later
def _device_keys(
    rows, keep, user, device, ev, login, first, n_first, multi, keys
):  # pragma: no cover - compiled
    """Each device's first customer and its count, whether it has several (into ``first``,
    ``n_first``, ``multi``), and the keys ``device * n_ids + customer`` of the rows of devices
    in conflict (unsorted, into ``keys``). The rows are ``rows``, or (``rows`` empty and
    ``keep`` not) the positions whose ``keep`` is 0. Returns how many keys, and how many rows
    it looked at."""
    only_login = len(login) > 0
    n_ids = len(first)
    every = len(rows) == 0 and len(keep) > 0
    n_rows = len(keep) if every else len(rows)
    seen = 0
    for i in range(n_rows):
        r = i if every else rows[i]
        if every and keep[r] != 0:
            continue
        seen += 1
        d, u = device[r], user[r]
        if d < 0 or u < 0 or (only_login and not login[ev[r]]):
            continue
        if first[d] < 0:
            first[d] = u
            n_first[d] = 1
        elif first[d] == u:
            n_first[d] += 1
        else:
            multi[d] = True
    any_multi = False
    for d in range(n_ids):
        if multi[d]:
            any_multi = True
            break
    j = 0  # the rows of devices in conflict, again: their keys
    if any_multi:
        for i in range(n_rows):
            r = i if every else rows[i]
            if every and keep[r] != 0:
                continue
            d, u = device[r], user[r]
            if d >= 0 and u >= 0 and multi[d] and (not only_login or login[ev[r]]):
                keys[j] = np.int64(d) * n_ids + u
                j += 1
    return j, seen


@_later
def _device_pairs(
    first, n_first, multi, keys, n_ids, out_d, out_u, out_n
):  # pragma: no cover - compiled
    """The pairs and their counts from :func:`_device_keys` (``keys`` sorted) into ``out_d,
    out_u, out_n`` (``out_n`` zeros); returns how many."""
    k = 0
    q = 0
    for d in range(n_ids):
        if first[d] < 0:
            continue
        if not multi[d]:
            out_d[k], out_u[k], out_n[k] = d, first[d], n_first[d]
            k += 1
            continue
        while q < len(keys) and keys[q] // n_ids == d:
            if q == 0 or keys[q] != keys[q - 1]:
                out_d[k], out_u[k] = d, keys[q] % n_ids
                k += 1
            out_n[k - 1] += 1
            q += 1
    return k


def stitch_users(user, device, dev_map):
    """coalesce(user, dev_map[device], device) on every row, as int32 (in pieces side by
    side)."""
    out = fresh(len(user), np.int32)
    parts = cuts(len(user), n_parts(len(user)))
    run_all(_stitch_users, [(user[a:b], device[a:b], dev_map, out[a:b]) for a, b in parts])
    return out


@_later
def _stitch_users(user, device, dev_map, out):  # pragma: no cover - compiled
    n = len(user)
    for r in range(n):
        u = user[r]
        if u < 0:
            d = device[r]
            if d >= 0:
                u = dev_map[d]
                if u < 0:
                    u = d
        out[r] = u


# -- sorted by person ---------------------------------------------------------------------------
@_later
def _person_count(rows, start, stop, keep, t, user, device, count):  # pragma: no cover - compiled
    """The rows of ``rows`` (or, ``rows`` and not ``keep`` empty, the positions ``start:stop``
    whose ``keep`` is 0) with a person and a time, counted by person; returns how many rows
    it looked at."""
    every = len(rows) == 0 and len(keep) > 0
    seen = 0
    for i in range(start if every else 0, stop if every else len(rows)):
        r = i if every else rows[i]
        if every and keep[r] != 0:
            continue
        seen += 1
        p = user[r] if user[r] >= 0 else device[r]
        if p >= 0 and t[r] != NONE:
            count[p] += 1
    return seen


@_later
def _person_scatter(
    rows, start, stop, keep, t, user, device, row_id, ev, backward, pos, ts, rid, evs
):  # pragma: no cover - compiled
    """The rows of :func:`_person_count` written at ``pos[person]`` (advanced as it goes;
    going ``backward``, from the last row, at ``pos[person] - 1``)."""
    every = len(rows) == 0 and len(keep) > 0
    m = stop - start if every else len(rows)
    for i in range(m):
        k = m - 1 - i if backward else i
        r = start + k if every else rows[k]
        if every and keep[r] != 0:
            continue
        p = user[r] if user[r] >= 0 else device[r]
        if p >= 0 and t[r] != NONE:
            j = pos[p] - 1 if backward else pos[p]
            ts[j] = t[r]
            rid[j] = row_id[r]
            evs[j] = ev[r]
            pos[p] = j if backward else j + 1


def person_order(rows, t, user, device, row_id, ev, n_ids, keep=None):
    """The rows with a person (user, else device) and a time, ordered by (person, t, row_id):
    their times, row ids, event codes, person rank, and the person code of each rank (a stable
    counting sort of ``rows``, which are in time order, by person, in pieces side by side).
    With ``keep`` (0 at exactly the positions of ``rows``) the positions are sorted in their
    own order (see :func:`sort_by_position`)."""
    sizes = [(np.int64, True), (row_id.dtype, True), (ev.dtype, True)]
    done = None
    if keep is not None:
        done = sort_by_position(
            rows,
            len(t),
            n_ids,
            _person_count,
            (keep, t, user, device),
            _person_scatter,
            (keep, t, user, device, row_id, ev),
            sizes,
            lambda outs: (outs[0], outs[1], [outs[2]]),
            True,
        )
    if done is None:
        none = np.zeros(0, np.int8)
        count_args, scatter_args = (none, t, user, device), (none, t, user, device, row_id, ev)
        outs, total = counting_sort(
            rows, n_ids, _person_count, count_args, _person_scatter, scatter_args, sizes
        )
        done = outs, keys_of(total, True, outs[0], outs[1]), total
    (ts, rid, evs), rank, total = done
    # persons as ranks, written from the counts; the code of each rank
    return ts, rid, evs, rank, np.flatnonzero(total)


@_later
def _sessions(person, t, gap_us, session, within):  # pragma: no cover - compiled
    """Sessions numbered from 0 within these rows (whole persons); returns how many."""
    n = len(t)
    s = -1
    w = 0
    for i in range(n):
        if i == 0 or person[i] != person[i - 1]:
            s += 1
            w = 1
        elif t[i] - t[i - 1] > gap_us:
            s += 1
            w += 1
        session[i] = s
        within[i] = w
    return s + 1


def _shift(a, by):
    a += by


def sessions(person, t, gap_us):
    """Global session number (non-decreasing) and its number within the person (1, 2, ...),
    int32 when they fit. In pieces of whole persons side by side: each piece numbers its
    sessions from 0, then moves them after the sessions of the pieces before it."""
    dtype = np.int32 if len(t) < 2**31 - 1 else np.int64
    session, within = fresh(len(t), dtype), fresh(len(t), dtype)
    parts = cuts(len(t), n_parts(len(t)), person)
    calls = [(person[a:b], t[a:b], gap_us, session[a:b], within[a:b]) for a, b in parts]
    found = run_all(_sessions, calls)
    before = np.cumsum([0, *found[:-1]])
    shifts = [(session[a:b], dtype(by)) for (a, b), by in zip(parts, before) if by]
    if shifts:
        run_all(_shift, shifts)
    return session, within


@_jit
def _ready(x):  # pragma: no cover - compiled
    return x


def _start(*modules, ready=None) -> None:
    """Load numba's compiler and the kernels (of this module and of ``modules``).

    On a warm cache the kernels load from numba's cache without its registries (see
    :func:`_cache_only_loads`); ``ready()`` is then called, and the kernels of the later steps
    are loaded ahead of their first call (:func:`_preload`). On a cold cache, first starts the
    helper process of :func:`compile_later_soon` and loads the registries for the compiler
    (:func:`_load_registries`)."""
    from numba import types as nt

    compile_later_soon()
    _cache_only_loads(sys.modules[__name__], *modules)
    try:
        warm = _index_has(_ready, (nt.int64,))
    except Exception:  # noqa: BLE001 - another numba layout: load as it comes
        warm = False
    if not warm:
        _load_registries()
        return
    _ready(0)
    if ready is not None:
        ready()
    if not _HELPER:
        _preload()


def _load_registries() -> None:
    """Load numba's compiler (its first use: LLVM and its registries of NumPy functions).

    Those registries ask whether BLAS is there by importing ``scipy.linalg`` (0.4 s), which no
    kernel here needs: while they load, the check only looks for scipy; numba's own linear
    algebra still imports it when it compiles ``np.dot`` and friends."""
    import importlib.util

    try:
        import numba.np.linalg as linalg
    except ImportError:  # pragma: no cover - another numba layout: load as it comes
        _ready(0)
        return
    real = getattr(linalg, "ensure_blas", None)
    if real is None or "numba.np.arraymath" in sys.modules:
        _ready(0)
        return

    def scipy_there():
        if importlib.util.find_spec("scipy") is None:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    from numba.core.compiler_lock import global_compiler_lock

    # numba's compiler lock (re-entrant) keeps any other compilation out of this window
    with global_compiler_lock:
        linalg.ensure_blas = scipy_there
        try:
            _ready(0)
        finally:
            linalg.ensure_blas = real


def _preload() -> None:
    """Load the kernels of the later steps (:data:`LATER`) from numba's cache for their usual
    types, ahead of their first call (about 3 ms each, partly without the GIL), while the
    caller reads and cleans; a kernel not in the cache is left to be compiled where it is
    needed. Two threads loading one kernel take turns (numba's compiler lock)."""
    for name, spec in LATER.items():
        disp = globals()[name].disp
        try:
            sig = later_types(spec)
            if _index_has(disp, sig):
                disp.compile(sig)
        except Exception:  # noqa: BLE001,S112 - loaded (or compiled) at its first call instead
            continue


def _cache_only_loads(*modules) -> None:
    """Kernels of ``modules`` found in numba's cache load without numba's registries.

    numba refreshes its typing and lowering registries before it loads a cached kernel
    (``Cache.load_overload``): on their first use that imports and registers every NumPy,
    typed-container and random-generator implementation it has, about 0.2 s holding the GIL
    (0.4 s of a 1e6-event pipeline's 1.1 s of CPU went to numba's start-up). A cached kernel
    needs none of them: it is machine code, linked against numba's runtime (NRT, initialized
    here as numba's refresh would). A kernel not in the cache still compiles as usual, and
    numba's compiler refreshes the registries itself first. Applied to these dispatchers only,
    not to other numba code of the process; any other numba layout keeps numba's own load."""
    try:
        from numba.core.caching import Cache
        from numba.core.runtime import rtsys
    except ImportError:  # pragma: no cover - another numba layout
        return
    if not hasattr(Cache, "_load_overload") or not hasattr(
        Cache, "_guard_against_spurious_io_errors"
    ):  # pragma: no cover - another numba layout
        return

    def load_overload(cache, sig, target_context):
        rtsys.initialize(target_context)
        with cache._guard_against_spurious_io_errors():
            return cache._load_overload(sig, target_context)
        return None  # pragma: no cover - an I/O error swallowed, as numba's own load does

    for module in modules:
        for obj in list(vars(module).values()):
            cache = getattr(getattr(obj, "disp", obj), "_cache", None)
            if isinstance(cache, Cache):
                cache.load_overload = types.MethodType(load_overload, cache)


def warm_up() -> None:
    """Start numba (a few tenths of a second: loading LLVM and the cached kernels) in a
    background thread, beside the first DuckDB queries."""
    import threading

    threading.Thread(target=_start, daemon=True).start()


# -- paths --------------------------------------------------------------------------------------
@_later
def _pair_count(x, c, k, counts):  # pragma: no cover - compiled
    prev = -1
    for i in range(len(x)):
        if x[i] < 0 or c[i] < 0:
            continue
        if prev >= 0 and c[prev] == c[i]:
            counts[x[prev] * k + x[i]] += 1
        prev = i


@_later
def _pair_scatter(x, c, t, k, g_lo, g_hi, offs, d):  # pragma: no cover - compiled
    prev = -1
    for i in range(len(x)):
        if x[i] < 0 or c[i] < 0:
            continue
        if prev >= 0 and c[prev] == c[i]:
            g = x[prev] * k + x[i]
            if g >= g_lo and g < g_hi:
                d[offs[g]] = t[i] - t[prev]
                offs[g] += 1
        prev = i


@_jit
def _select(a, lo, hi, k):  # pragma: no cover - compiled
    """Partially order ``a[lo:hi]`` in place so that ``a[k]`` is its value of rank ``k - lo``
    and nothing after it is smaller (Hoare's selection, middle pivot)."""
    while hi - lo > 1:
        pivot = a[(lo + hi) // 2]
        i, j = lo, hi - 1
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j + 1
        elif k >= i:
            lo = i
        else:
            return


@_later
def _medians(d, start, stop, out):  # pragma: no cover - compiled
    """The median of each ``d[start:stop]`` (the mean of the two middle values for an even
    count), as ``np.median``; ``d`` is reordered within each range. A selection written out
    rather than ``np.median``, whose compilation takes seconds after an install."""
    for j in range(len(start)):
        lo, hi = start[j], stop[j]
        n = hi - lo
        mid = lo + n // 2
        _select(d, lo, hi, mid)
        upper = np.float64(d[mid])
        if n % 2 == 1:
            out[j] = upper
        else:
            lower = d[lo]
            for q in range(lo + 1, mid):  # the largest value before the middle
                if d[q] > lower:
                    lower = d[q]
            out[j] = (np.float64(lower) + upper) / 2


def transition_pairs(x, c, t, k):
    """Directly-follows pairs within cases: rows with a code (``x >= 0``) and a case (``c >= 0``),
    consecutive in that subsequence and in the same case. Returns the pair codes
    (``source * k + target``) that occur, their counts and median durations (microseconds).
    One piece of cases per core."""
    parts = cuts(len(x), n_parts(len(x)), c)
    counts = [np.zeros(k * k, np.int64) for _ in parts]
    run_all(_pair_count, [(x[a:b], c[a:b], k, n) for (a, b), n in zip(parts, counts)])
    total = np.sum(counts, axis=0)
    d = np.empty(int(total.sum()), np.int64)
    calls = [
        (x[a:b], c[a:b], t[a:b], k, 0, len(total), offs, d)
        for (a, b), offs in zip(parts, positions(counts))
    ]
    run_all(_pair_scatter, calls)  # each piece's pairs after those of the pieces before it
    u = np.flatnonzero(total)
    stop = np.cumsum(total)[u]
    start = stop - total[u]
    med = np.empty(len(u), np.float64)
    pieces = cuts(len(u), n_parts(len(d)))
    run_all(_medians, [(d, start[a:b], stop[a:b], med[a:b]) for a, b in pieces])
    return u, total[u], med


def case_runs(x, c):
    """Cases as runs of the rows with a code and a case: start (into the compacted codes),
    length and a 64-bit hash of the sequence of codes; and the compacted codes."""
    n = len(x)
    codes, start, length, h = (
        fresh(n, x.dtype),  # the codes' own width (int16 for a usual log)
        fresh(n, np.int64),
        fresh(n, np.int64),
        fresh(n, np.uint64),
    )
    m, n_cases = _case_runs(x, c, codes, start, length, h)
    return codes[:m], start[:n_cases], length[:n_cases], h[:n_cases]


@_later
def _case_runs(x, c, codes, start, length, h):  # pragma: no cover - compiled
    n = len(x)
    j = -1
    m = 0
    prev_c = -1
    x0 = np.uint64(1469598103934665603)
    prime = np.uint64(1099511628211)
    for i in range(n):
        if x[i] < 0 or c[i] < 0:
            continue
        if m == 0 or c[i] != prev_c:
            j += 1
            start[j] = m
            length[j] = 0
            h[j] = x0
        prev_c = c[i]
        codes[m] = x[i]
        h[j] = (h[j] ^ np.uint64(x[i] + 1)) * prime
        length[j] += 1
        m += 1
    n_cases = j + 1
    for j in range(n_cases):
        h[j] = (h[j] ^ np.uint64(length[j])) * prime
    return m, n_cases


def group_sequences(codes, start, length, h):
    """Cases grouped by sequence: ``(first case of each group, count, exact)``, groups in order
    of first appearance. Cases are grouped by their hash and each is checked to have exactly
    its group's sequence; ``exact`` is False when two different sequences share a hash (the
    caller then compares whole sequences)."""
    n = len(h)
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slot_h = np.zeros(cap, np.uint64)
    slot_g = np.full(cap, -1, np.int32 if n < 2**31 - 1 else np.int64)
    first, count = fresh(n, np.int64), np.zeros(n, np.int64)
    n_g, exact = _group_sequences(codes, start, length, h, slot_h, slot_g, first, count)
    if not exact:
        return first[:0], count[:0], False
    return first[:n_g], count[:n_g], True


@_later
def _group_sequences(
    codes, start, length, h, slot_h, slot_g, first, count
):  # pragma: no cover - compiled
    n = len(h)
    mask = np.uint64(len(slot_h) - 1)
    n_g = 0
    for i in range(n):
        x = h[i]
        j = (x * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask
        while slot_g[j] >= 0 and slot_h[j] != x:
            j = (j + np.uint64(1)) & mask
        g = slot_g[j]
        if g < 0:
            slot_h[j] = x
            slot_g[j] = n_g
            first[n_g] = i
            g = n_g
            n_g += 1
        else:
            f = first[g]
            if length[f] != length[i]:
                return 0, False
            s0, s1 = start[f], start[i]
            for q in range(length[i]):
                if codes[s0 + q] != codes[s1 + q]:
                    return 0, False
        count[g] += 1
    return n_g, True


# -- funnels ------------------------------------------------------------------------------------
@_later
def _funnel_chains(
    person, t, row_id, x, step_of, excl_of, reached, preds, n_preds, window, strict, best, tie
):  # pragma: no cover - compiled
    """Steps reached by each person, ``sequential`` or ``strict`` (see ``funnel``).

    Rows are ordered by (person, t, row_id); ``x`` codes the event (or touchpoint), whose step
    is ``step_of[x]`` (0 for none) and ``excl_of[x]`` whether it ends an attempt. Within equal
    timestamps rows are taken by step number, then row_id. ``preds[k, :n_preds[k]]`` are the
    steps a chain may come from to reach step ``k``. Per person and attempt, ``best[q]`` is the
    latest start of a valid chain reaching step ``q`` so far: a step-``k`` row extends the best
    of its predecessors when it happens at most ``window`` after that start. In strict mode
    (no exclusions) the first row after the first step-1 row that is no step, or a step no
    chain reaches yet, ends the person's search. ``best`` (``n_steps + 1``) and ``tie`` (as long
    as the rows) are room to work in.
    """
    m = len(t)
    i = 0
    while i < m:
        p = person[i]
        e = i + 1
        while e < m and person[e] == p:
            e += 1
        for q in range(len(best)):
            best[q] = NONE
        seen_first = False
        cut = False
        j = i
        while j < e and not cut:
            k = j + 1
            while k < e and t[k] == t[j]:
                k += 1
            size = k - j
            for q in range(size):  # insertion sort of the tie by (step, row_id)
                r = j + q
                sr = step_of[x[r]] if x[r] >= 0 else 0
                b = q
                while b > 0:
                    o = tie[b - 1]
                    so = step_of[x[o]] if x[o] >= 0 else 0
                    if so < sr or (so == sr and row_id[o] < row_id[r]):
                        break
                    tie[b] = o
                    b -= 1
                tie[b] = r
            for q in range(size):
                r = tie[q]
                s = step_of[x[r]] if x[r] >= 0 else 0
                if not strict:
                    if x[r] >= 0 and excl_of[x[r]]:
                        for c in range(len(best)):  # a new attempt starts here
                            best[c] = NONE
                        continue
                    if s == 0:
                        continue
                mm = NONE
                if s >= 2:
                    for c in range(n_preds[s]):
                        v = best[preds[s, c]]
                        if v > mm:
                            mm = v
                if strict and seen_first and (s == 0 or (s >= 2 and mm == NONE)):
                    cut = True
                    break
                f = NONE
                if s == 1:
                    f = t[r]
                    seen_first = True
                elif s >= 2 and mm != NONE and t[r] <= mm + window:
                    f = mm
                if f != NONE:
                    reached[s - 1, p] = 1
                    if f > best[s]:
                        best[s] = f
            j = k
        i = e


def funnel_chains(
    person, t, row_id, x, step_of, excl_of, n_persons, n_steps, preds, n_preds, window, strict
):
    """Steps reached by each person (``n_steps x n_persons``), see :func:`_funnel_chains`; one
    piece of persons per core."""
    reached = np.zeros((n_steps, n_persons), np.int64)
    run_all(
        _funnel_chains,
        [
            (
                person[a:b],
                t[a:b],
                row_id[a:b],
                x[a:b],
                step_of,
                excl_of,
                reached,
                preds,
                n_preds,
                window,
                strict,
                np.empty(n_steps + 1, np.int64),
                fresh(b - a, np.int64),  # pages touched as far as the longest tie
            )
            for a, b in cuts(len(t), n_parts(len(t)), person)
        ],
    )
    return reached


# -- compiling ahead, in a helper process -------------------------------------------------------
#: The kernels of the later passes of cleaning and of the steps after it (stitch, sessionize,
#: funnel, transitions, variants), in the order a pipeline needs them, with the argument types
#: of a usual log: int32 rows, person codes and row ids, int16 event codes (``i4``: a
#: C-contiguous int32 array, ``i8/2``: a 2-D one, ``n``: an integer, ``f``: a float, ``?``: a
#: boolean). On a cold cache a helper process compiles them, last needed first, while this one
#: compiles the first ones (see :func:`compile_later_soon`); a log of other types just compiles
#: its own versions where they are needed. ``tests/test_traces_compile`` checks that these are
#: the types the sample study's pipeline uses.
LATER = {
    "_tie_candidates": "i4 i8 i8",
    "_robots_and_near": "i4 i4 i8 i2 b1 i1 n ? n n f ? ? n i8 i8 i8 i8 i8 f8 i1",
    "_kept_rows": "i4 i1 i4",
    "_device_keys": "i4 i1 i4 i4 i2 b1 i4 i8 b1 i8",
    "_device_pairs": "i4 i8 b1 i8 n i8 i8 i8",
    "_stitch_users": "i4 i4 i4 i4",
    "_person_count": "i4 n n i1 i8 i4 i4 i4",
    "_person_scatter": "i4 n n i1 i8 i4 i4 i4 i2 ? i8 i8 i4 i2",
    "_sessions": "i4 i8 n i4 i4",
    "_funnel_chains": "i4 i8 i4 i2 i8 b1 i8/2 i8/2 i8 n ? i8 i8",
    "_pair_count": "i2 i4 n i8",
    "_pair_scatter": "i2 i4 i8 n n n i8 i8",
    "_medians": "i8 i8 i8 f8",
    "_case_runs": "i2 i4 i2 i8 i8 u8",
    "_group_sequences": "i2 i8 i8 u8 u8 i4 i8 i8",
}
#: kernel name -> set when the helper process is done with it (or gone); None -> the process
_HELPER: dict = {}
#: the kernels the helper has started on
_STARTED: set = set()
_CLAIM_LOCK = threading.Lock()


def later_types(spec: str) -> tuple:
    """The numba argument types of a :data:`LATER` spec."""
    from numba import types as nt

    dtypes = {"i1": nt.int8, "i2": nt.int16, "i4": nt.int32, "i8": nt.int64, "u8": nt.uint64}
    dtypes |= {"b1": nt.boolean, "f8": nt.float64}
    scalars = {"n": nt.int64, "f": nt.float64, "?": nt.boolean}
    out = []
    for word in spec.split():
        if word in scalars:
            out.append(scalars[word])
        else:
            code, _, ndim = word.partition("/")
            out.append(nt.Array(dtypes[code], int(ndim or 1), "C"))
    return tuple(out)


def _index_has(disp, sig: tuple) -> bool:
    """Whether numba's cache index of the dispatcher ``disp`` lists the argument types
    ``sig`` (raises on another numba layout)."""
    index = disp._cache._cache_file._load_index()
    return any(key[0] == sig for key in index)


def _cached(name: str) -> bool:
    """Whether numba's cache holds the kernel ``name`` of :data:`LATER` for its usual types."""
    try:
        return _index_has(globals()[name].disp, later_types(LATER[name]))
    except Exception:  # pragma: no cover - another numba layout: no helper
        return True


def _cold() -> bool:
    """Whether numba's cache lacks the last of :data:`LATER` (for its usual types)."""
    return not _cached(list(LATER)[-1])


def compile_later_soon() -> None:
    """On a cold cache (a first run after an install or an upgrade), start a helper process that
    compiles the kernels of the later steps (:data:`LATER`) into numba's cache, on another core,
    while this process reads the log and compiles the cleaning kernels: numba compiles one
    function at a time and holds the GIL while it does, so a thread would not help. The helper
    takes them last-needed first; a kernel's first call here waits for the helper if it has
    started on that kernel (then loads it from the cache), else compiles it here (and the
    helper skips it): the two meet in the middle. Numba's cache files are written whole and
    renamed into place, so two processes can share them. ``PARCOURS_COMPILE_HELPER=0`` turns
    the helper off."""
    import subprocess

    off = os.environ.get("PARCOURS_COMPILE_HELPER") == "0"
    if _HELPER or off or (os.cpu_count() or 1) < 2 or not sys.executable:
        return
    if not _cold():
        return
    # this module alone, under its own name (the cache entries name it), without the package
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location(sys.argv[1], sys.argv[2])\n"
        "k = sys.modules[sys.argv[1]] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(k)\n"
        "k._compile_later()\n"
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, __name__, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, PARCOURS_COMPILE_HELPER="0"),
            text=True,
        )
    except OSError:  # pragma: no cover - no process to spare: compile here
        return
    _HELPER[None] = proc  # kept until it ends
    _HELPER.update({name: threading.Event() for name in LATER})
    threading.Thread(target=_follow, args=(proc,), name="parcours-compile", daemon=True).start()


def _claim(name: str) -> None:
    """Tell the helper that this process compiles ``name`` itself (the helper then skips it)."""
    try:
        with _CLAIM_LOCK:
            _HELPER[None].stdin.write(name + "\n")
            _HELPER[None].stdin.flush()
    except (OSError, ValueError):  # the helper is gone
        pass


def _follow(proc) -> None:
    """Note what the helper reports (``start NAME``, ``done NAME``); once it is gone, every
    kernel counts as done (those it could not compile are compiled where they are needed)."""
    for line in proc.stdout:
        what, _, name = line.strip().partition(" ")
        if name in LATER:
            if what == "start":
                _STARTED.add(name)
            else:
                _HELPER[name].set()
    proc.wait()
    for name in LATER:
        _HELPER[name].set()


def _compile_later() -> None:
    """In the helper process: compile each of :data:`LATER` for its usual types (cached by
    numba), the last needed first, skipping those already cached (the main process compiles
    the first ones itself while the helper starts: the two meet in the middle)."""
    claimed: set = set()  # the kernels the main process compiles itself

    def listen():
        for line in sys.stdin:
            claimed.add(line.strip())

    threading.Thread(target=listen, daemon=True).start()
    _start()
    heard = True
    for name in reversed(LATER):
        if name in claimed or _cached(name):
            continue
        heard = heard and _say(f"start {name}")
        try:
            globals()[name].disp.compile(later_types(LATER[name]))
        except Exception:  # pragma: no cover - compiled where it is needed instead
            pass
        heard = heard and _say(f"done {name}")


def _say(line: str) -> bool:
    """In the helper process: tell the main process; False once it is gone (the helper then
    goes on caching the rest for the next run)."""
    try:
        print(line, flush=True)
    except OSError:
        return False
    return True
