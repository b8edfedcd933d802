"""The DuckDB fast path of :func:`~.clean.clean` and :func:`~.identity.stitch`: array code.

DuckDB reads the narrow columns once, in file order (``row_id``, timestamp in microseconds,
user, device and event as strings that Arrow dictionary-encodes batch by batch, and a 64-bit
hash of the user agent). From then on every row is a handful of integers:

- user and device ids share one dictionary (``ids``), so that ``coalesce(device_id, user_id)``
  (the actor) and ``coalesce(user_id, device_id)`` (the person) are integer choices;
- robot user agents are found on the dictionary of distinct user agents (the same regular
  expression, run by DuckDB), never row by row;
- one time sort (nearly free on logs exported in time order), then a stable counting sort by
  any integer key gives the rows in (key, timestamp, row_id) order: per actor for cleaning, per
  person for sessions, funnels and paths. No second time sort, no window function.

The results are exactly those of the SQL written for every engine (``clean.clean`` with
``fast=False`` and Spark); the tests compare the two, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .eventlog import EventLog

NONE = np.iinfo(np.int64).min
_BATCH = 1 << 20
# reason codes, in clean.REASONS order
KEPT, UNPARSEABLE, OUTSIDE, BOT_UA, BOT_BEHAVIOUR, EXACT, NEAR = range(7)
#: columns the arrays hold; a log with other columns compares them in SQL for exact duplicates
NARROW = {"row_id", "user_id", "device_id", "timestamp", "event", "user_agent"}


class Fallback(Exception):
    """The arrays cannot answer exactly (a hash collision): use the SQL path."""


@dataclass
class Encoded:
    """Rows as aligned integer arrays (in the order read), and which of them are the log's.

    ``user`` and ``device`` are codes into ``ids`` (-1 when missing), ``ev`` codes into
    ``events`` (-1 when missing), ``t`` microseconds (``NONE`` when missing). ``rows`` lists the
    positions that belong to the log, in (timestamp, row_id) order: cleaning and stitching
    narrow it or recode ``user`` without copying the other arrays.
    """

    row_id: np.ndarray
    t: np.ndarray
    user: np.ndarray
    device: np.ndarray
    ev: np.ndarray
    ids: pa.Array
    events: list
    rows: np.ndarray


# -- primitives ---------------------------------------------------------------------------------
def group_order(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Stable order of ``codes`` (non-negative ints below ``n_groups``): a counting sort."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.intp)
    try:
        from pandas._libs.algos import groupsort_indexer

        return groupsort_indexer(np.asarray(codes, dtype=np.intp), int(n_groups))[0]
    except (ImportError, TypeError, ValueError):  # pragma: no cover - a future pandas
        return np.argsort(codes, kind="stable")


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean: the row starts a run of equal ``keys`` (arrays of the same length)."""
    n = len(keys[0])
    new = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for k in keys:
            same &= k[1:] == k[:-1]
        new[1:] = ~same
    return new


def _codes(chunked) -> tuple[np.ndarray, pa.Array]:
    """int32 codes (-1 for missing) and dictionary of a (chunked) string column."""
    enc = pc.dictionary_encode(chunked)
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    if not chunks:
        return np.zeros(0, np.int32), pa.array([], pa.string())
    parts = [
        np.asarray(pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        for c in chunks
    ]
    dictionary = chunks[0].dictionary
    return (np.concatenate(parts) if len(parts) > 1 else parts[0]), dictionary


def _index_in(values, dictionary) -> np.ndarray:
    """int64 position of each value in ``dictionary`` (-1 when absent)."""
    out = pc.fill_null(pc.index_in(values, dictionary), -1)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks() if out.num_chunks else pa.array([], pa.int32())
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=np.int64)


def _merge_ids(user_dict: pa.Array, dev_dict: pa.Array):
    """One dictionary for user and device ids, and the maps of each old code to it."""
    ids = pc.unique(pa.concat_arrays([user_dict.cast(pa.string()), dev_dict.cast(pa.string())]))
    u_map = _index_in(user_dict, ids).astype(np.int32)
    d_map = _index_in(dev_dict, ids).astype(np.int32)
    return ids, np.r_[u_map, np.int32(-1)], np.r_[d_map, np.int32(-1)]


# -- reading ------------------------------------------------------------------------------------
def fetch(log: EventLog, ua_table: str | None):
    """Read the narrow columns of ``log`` once.

    Returns ``(Encoded in file order, ua_code)``: ``ua_code`` indexes the rows of ``ua_table``
    (-1 for a missing user agent), or is None when the log has no user agent.
    """
    eng = log.engine
    has = set(log.columns)
    q = eng.q
    parts = [
        "row_id",
        f"coalesce({eng.us('timestamp')}, {NONE}) AS _t",
        "user_id" if "user_id" in has else "CAST(NULL AS VARCHAR) AS user_id",
        "device_id" if "device_id" in has else "CAST(NULL AS VARCHAR) AS device_id",
        "event",
    ]
    if ua_table is not None:
        parts.append("CASE WHEN user_agent IS NULL THEN 0 ELSE hash(user_agent) END AS _ah")
    reader = eng.con.sql(f"SELECT {', '.join(parts)} FROM {log.ref}").to_arrow_reader(_BATCH)
    cols: dict[str, list] = {k: [] for k in ("row_id", "_t", "user_id", "device_id", "event")}
    hashes = []
    for batch in reader:
        for k in cols:
            cols[k].append(batch.column(k))
        if ua_table is not None:
            hashes.append(batch.column("_ah").to_numpy())
    del reader

    def ints(name, dtype):
        if not cols[name]:
            return np.zeros(0, dtype)
        return np.concatenate([np.asarray(c.to_numpy(), dtype=dtype) for c in cols.pop(name)])

    from concurrent.futures import ThreadPoolExecutor

    # Arrow's hash kernels release the GIL: encode the three text columns side by side
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [
            pool.submit(_codes, pa.chunked_array(cols.pop(k), pa.string()))
            for k in ("user_id", "device_id", "event")
        ]
        row_id = ints("row_id", np.int64)
        t = ints("_t", np.int64)
        (user, user_dict), (dev, dev_dict), (ev, ev_dict) = (j.result() for j in jobs)
    ids, u_map, d_map = _merge_ids(user_dict, dev_dict)
    user = u_map[user]
    dev = d_map[dev]
    ua = None
    if ua_table is not None:
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        del hashes
        tab = eng.fetch(f"SELECT hash(user_agent) AS h FROM {q(ua_table)} ORDER BY _code")
        known = tab["h"].to_numpy(dtype=np.uint64)
        if len(np.unique(known)) != len(known) or (known == 0).any():
            raise Fallback("two user agents share a hash")
        by_hash = np.argsort(known)
        sorted_h = known[by_hash]
        pos = np.minimum(np.searchsorted(sorted_h, h), max(len(known) - 1, 0))
        if len(known):
            found = sorted_h[pos] == h
            ua = np.where(found, by_hash[pos], -1).astype(np.int32)  # -1: a missing agent
        else:
            found = np.zeros(len(h), dtype=bool)
            ua = np.full(len(h), -1, dtype=np.int32)
        if (~found & (h != 0)).any():  # pragma: no cover - defensive
            raise Fallback("a user agent is missing from its dictionary")
        del h, pos, found
    if len(row_id) > 1 and not (row_id[1:] > row_id[:-1]).all():
        by_row = np.argsort(row_id, kind="stable")
        rows = by_row[np.argsort(t[by_row], kind="stable")]
    else:  # timsort: nearly free on logs exported in time order
        rows = np.argsort(t, kind="stable")
    return Encoded(row_id, t, user, dev, ev, ids, ev_dict.to_pylist(), rows), ua


def _with_rows(enc: Encoded, rows: np.ndarray, user: np.ndarray | None = None, ids=None):
    return Encoded(
        enc.row_id,
        enc.t,
        enc.user if user is None else user,
        enc.device,
        enc.ev,
        enc.ids if ids is None else ids,
        enc.events,
        rows,
    )


# -- cleaning -----------------------------------------------------------------------------------
def reasons(enc: Encoded, ua, ua_bot, bounds, rules, duplicates: bool, tol, sql_dups=None):
    """Outcome code of every row of ``enc`` (see ``REASONS``) and the behavioural robots.

    ``sql_dups(row_ids) -> row_ids`` finds the exact duplicates among candidate rows when the
    log has columns the arrays do not hold. Returns ``(reason int8 array, bots dict or None)``.
    """
    t = enc.t
    n = len(t)
    reason = np.zeros(n, dtype=np.int8)
    unp = (t == NONE) | (enc.ev < 0) | ((enc.user < 0) & (enc.device < 0))
    reason[unp] = UNPARSEABLE
    if bounds is not None:
        lo, hi = bounds
        out = np.zeros(n, dtype=bool)
        if lo is not None:
            out |= t < lo
        if hi is not None:
            out |= t >= hi
        reason[out & ~unp] = OUTSIDE
        del out
    del unp
    if ua is not None and ua_bot is not None:
        bot = np.r_[np.asarray(ua_bot, dtype=bool), False][ua]
        reason[bot & (reason == KEPT)] = BOT_UA
        del bot
    n_ids = len(enc.ids)
    actor = np.where(enc.device >= 0, enc.device, enc.user)
    ok = enc.rows[reason[enc.rows] == KEPT]  # time order
    o = ok[group_order(actor[ok], n_ids)]  # (actor, timestamp, row_id)
    del ok
    a, ts = actor[o], t[o]
    del actor
    m = len(o)
    # exact duplicates: identical rows share actor and instant; compare those candidates only
    dup = np.zeros(m, dtype=bool)
    if m > 1:
        tie = (a[1:] == a[:-1]) & (ts[1:] == ts[:-1])
        if tie.any():
            cand = np.zeros(m, dtype=bool)
            cand[1:] |= tie
            cand[:-1] |= tie
            ci = np.flatnonzero(cand)
            rows = o[ci]
            if sql_dups is not None:
                dup[ci] = np.isin(enc.row_id[rows], sql_dups(enc.row_id[rows]))
            else:
                run = np.cumsum(run_starts(a[ci], ts[ci]))
                uac = ua[rows] if ua is not None else np.zeros(len(rows), np.int32)
                keys = (enc.row_id[rows], uac, enc.ev[rows], enc.user[rows], enc.device[rows], run)
                s = np.lexsort(keys)
                same = np.ones(len(s) - 1, dtype=bool)
                for k in keys[1:]:
                    ks = k[s]
                    same &= ks[1:] == ks[:-1]
                dup[ci[s[1:][same]]] = True
    bots = None
    is_bot = np.zeros(n_ids, dtype=bool)
    if rules is not None and m:
        keep = ~dup
        ab, tb = a[keep], ts[keep]
        first = np.flatnonzero(run_starts(ab))
        n_ev = np.diff(np.r_[first, len(ab)])
        gap = np.zeros(len(ab), dtype=np.int64)
        gap[1:] = tb[1:] - tb[:-1]
        gap[first] = 0
        cnt = n_ev - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.add.reduceat(gap, first).astype(np.float64) / cnt
            dev = gap - np.repeat(mean, n_ev)
            dev[first] = 0.0
            std = np.sqrt(np.add.reduceat(dev * dev, first) / cnt)
            cv = np.where(mean == 0, 0.0, std / mean)
        cv[cnt == 0] = np.nan
        del gap, dev
        minute = np.floor_divide(tb, 60_000_000)
        mfirst = np.flatnonzero(run_starts(ab, minute))
        per_min = np.diff(np.r_[mfirst, len(ab)])
        actor_of_run = ab[mfirst]
        rfirst = np.flatnonzero(run_starts(actor_of_run))
        mpm = np.maximum.reduceat(per_min, rfirst)
        del minute, mfirst, per_min, actor_of_run
        with np.errstate(invalid="ignore"):
            regular = (n_ev >= rules.min_events) & (cv < float(rules.max_interval_cv))
        rate = mpm > rules.max_per_minute
        flagged = regular | rate
        codes = ab[first][flagged]
        is_bot[codes] = True
        rule = np.where(rate & regular, "rate+regularity", np.where(rate, "rate", "regularity"))
        bots = {
            "actor": enc.ids.take(pa.array(codes)),
            "n_events": n_ev[flagged].astype(np.int64),
            "max_per_minute": mpm[flagged].astype(np.int64),
            "interval_cv": cv[flagged],
            "rule": rule[flagged].tolist(),
        }
        del keep, ab, tb
    elif rules is not None:
        bots = {
            "actor": pa.array([], pa.string()),
            "n_events": np.zeros(0, np.int64),
            "max_per_minute": np.zeros(0, np.int64),
            "interval_cv": np.zeros(0, np.float64),
            "rule": [],
        }
    bot_row = is_bot[a]
    reason[o[bot_row]] = BOT_BEHAVIOUR
    if duplicates:
        reason[o[dup & ~bot_row]] = EXACT
    if tol is not None:
        rest = ~bot_row & ~dup if duplicates else ~bot_row
        re = enc.ev[o[rest]]
        by_ev = group_order(re, max(len(enc.events), 1))  # (event, actor, time, row_id)
        if len(by_ev) > 1:
            re = re[by_ev]
            ra = a[rest][by_ev]
            rt = ts[rest][by_ev]
            near = (ra[1:] == ra[:-1]) & (re[1:] == re[:-1]) & (rt[1:] - rt[:-1] <= tol)
            del ra, rt, re
            reason[o[rest][by_ev][1:][near]] = NEAR
    return reason, bots


def kept(enc: Encoded, reason: np.ndarray) -> Encoded:
    return _with_rows(enc, enc.rows[reason[enc.rows] == KEPT])


# -- stitching ----------------------------------------------------------------------------------
def event_links(enc: Encoded, login_codes=None) -> pa.Table:
    """``device_id, user_id, n`` for every pair seen on one row (restricted to login events)."""
    dev, user = enc.device[enc.rows], enc.user[enc.rows]
    mask = (dev >= 0) & (user >= 0)
    if login_codes is not None:
        mask &= np.isin(enc.ev[enc.rows], np.asarray(login_codes, dtype=np.int32))
    n_ids = max(len(enc.ids), 1)
    key = dev[mask].astype(np.int64) * n_ids + user[mask]
    del mask, dev, user
    inv, uniq = pd.factorize(key)
    n = np.bincount(inv, minlength=len(uniq)).astype(np.int64)
    uniq = np.asarray(uniq, dtype=np.int64)
    return pa.table(
        {
            "device_id": enc.ids.take(pa.array(uniq // n_ids)),
            "user_id": enc.ids.take(pa.array(uniq % n_ids)),
            "n": n,
        }
    )


def stitched(enc: Encoded, unique: pa.Table) -> Encoded:
    """``enc`` with ``user`` = coalesce(user, the device's unique customer, device)."""
    ids = enc.ids
    dcode = _index_in(unique.column("device_id"), ids)
    ucol = unique.column("user_id")
    ucode = _index_in(ucol, ids)
    new = ucode < 0
    if new.any():  # customers that only the identity map knows: new codes
        missing = pc.filter(ucol, pa.array(new))
        extra = pc.unique(missing)
        if isinstance(extra, pa.ChunkedArray):
            extra = extra.combine_chunks()
        ucode[new] = len(ids) + _index_in(missing, extra)
        ids = pa.concat_arrays([ids, extra.cast(ids.type)])
    dev_map = np.full(len(enc.ids) + 1, -1, dtype=np.int32)
    has = dcode >= 0
    dev_map[dcode[has]] = ucode[has]
    user = enc.user
    from_dev = np.where(enc.device >= 0, dev_map[enc.device], -1)
    user = np.where(user >= 0, user, np.where(from_dev >= 0, from_dev, enc.device)).astype(np.int32)
    return _with_rows(enc, enc.rows, user=user, ids=ids)
