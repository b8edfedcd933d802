"""The DuckDB fast path of :func:`~.clean.clean` and :func:`~.identity.stitch`: array code.

DuckDB reads the narrow columns once, in file order: ``row_id``, the timestamp in microseconds,
user and device ids as text (Arrow dictionary-encodes them, in threads), and event names and
user agents as small integer codes when they have few distinct values (DuckDB maps a 64-bit
hash of each row's value to the position of that value among the distinct ones, checked to be
collision-free). A log straight from :func:`~.io.read_events` is read from its raw columns: the
canonical text (trimmed, blank as missing) is computed by the same SQL expression on the
distinct values only. From then on every row is a handful of integers:

- user and device ids share one dictionary (``ids``), so that ``coalesce(device_id, user_id)``
  (the actor) and ``coalesce(user_id, device_id)`` (the person) are integer choices;
- robot user agents are found on the distinct user agents (the same regular expression, run by
  DuckDB), never row by row;
- one time sort (nearly free on logs exported in time order), then a stable counting sort by
  any integer key gives the rows in (key, timestamp, row_id) order: per actor for cleaning, per
  person for sessions, funnels and paths; runs of equal keys give duplicates, gaps, rates and
  near duplicates. No window function, no second time sort.

The results are exactly those of the SQL written for every engine (``DuckDBEngine(fast=False)``
and Spark); the tests compare the two row by row. When an exact answer is not guaranteed (a
64-bit hash collision among distinct values), the SQL path runs instead.
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
_SMALL = 256  # up to this many distinct events / user agents, DuckDB codes them in the scan
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


def gather(index: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """``[a[index] for a in arrays]``, side by side in threads for long arrays (NumPy releases
    the GIL while it gathers)."""
    if len(index) < 1_000_000 or len(arrays) < 2:
        return [a[index] for a in arrays]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(arrays), 4)) as pool:
        return list(pool.map(lambda a: a[index], arrays))


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
    indices = pa.concat_arrays([c.indices for c in chunks]).cast(pa.int32())
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    return codes, chunks[0].dictionary


def _index_in(values, dictionary) -> np.ndarray:
    """int64 position of each value in ``dictionary`` (-1 when absent)."""
    out = pc.fill_null(pc.index_in(values, dictionary), -1)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks() if out.num_chunks else pa.array([], pa.int32())
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=np.int64)


def _merge_ids(user_dict: pa.Array, dev_dict: pa.Array):
    """One dictionary for user and device ids, and the maps of each old code to it."""
    both = pa.concat_arrays([user_dict.cast(pa.string()), dev_dict.cast(pa.string())])
    ids = pc.unique(pc.drop_null(both))
    u_map = _index_in(user_dict, ids).astype(np.int32)
    d_map = _index_in(dev_dict, ids).astype(np.int32)
    return ids, np.r_[u_map, np.int32(-1)], np.r_[d_map, np.int32(-1)]


# -- reading ------------------------------------------------------------------------------------
def _origin(log: EventLog):
    """The raw source of a log just read by ``read_events`` when its mapped id, event and user
    agent columns are text, or None."""
    origin = getattr(log, "_origin", None)
    if not origin:
        return None
    for canon, raw in origin["raw"].items():
        if raw and not str(origin["types"].get(canon, "")).upper().startswith("VARCHAR"):
            return None
    return origin


def _small_codes(eng, ref: str, src: str, canonical: bool, text_expr, limit: int):
    """Distinct values of a column: ``(canonical values, hashes, code of each hash, SQL)``.

    ``SQL`` (None beyond ``limit`` distinct values) gives each row the position of its
    canonical value in ``values`` (-1 when missing), from a 64-bit hash of the raw value; the
    hashes of the distinct values are checked to be distinct and non-zero (0 marks a missing
    value), so that the code is exact.
    """
    canon = text_expr(eng, "v") if canonical else "v"
    tab = eng.arrow(
        f"SELECT hash(v) AS h, {canon} AS c FROM (SELECT DISTINCT {ref} AS v "
        f"FROM {src}) AS d WHERE v IS NOT NULL"
    )
    known = np.asarray(tab.column("h").to_numpy(), dtype=np.uint64)
    if len(np.unique(known)) != len(known) or (known == 0).any():
        raise Fallback("two values share a hash")
    values = pc.unique(pc.drop_null(tab.column("c").combine_chunks()))
    code = _index_in(tab.column("c"), values)
    if len(known) > limit:
        return values, known, code, None
    whens = " ".join(f"WHEN {int(h)} THEN {int(c)}" for h, c in zip(known, code))
    expr = (
        f"CAST(CASE WHEN {ref} IS NULL THEN -1 ELSE CASE hash({ref}) {whens} ELSE -2 END END "
        f"AS INTEGER)"
        if whens
        else "CAST(-1 AS INTEGER)"
    )
    return values, known, code, expr


def fetch(log: EventLog, want_ua: bool):
    """Read the narrow columns of ``log`` once.

    Returns ``(Encoded, ua_code, ua_values)``: ``ua_code`` gives per row the position of its
    user agent in ``ua_values`` (-1 when missing); both are None when the log has no user agent
    or ``want_ua`` is false.

    A log straight from :func:`~.io.read_events` is read from its raw columns: the canonical
    text (trimmed, blank as missing) is computed by the same SQL expression on the distinct raw
    values only, instead of once per row.
    """
    from .io import text_expr

    eng = log.engine
    q = eng.q
    origin = _origin(log)
    want_ua = want_ua and log.has("user_agent")
    if origin is not None:
        raw = origin["raw"]
        src = q(origin["src"])
        t_expr = origin["timestamp"]

        def col(c):
            return f"{q(raw[c])} AS {c}" if raw.get(c) else f"CAST(NULL AS VARCHAR) AS {c}"

        ua_ref = q(raw["user_agent"]) if want_ua and raw.get("user_agent") else None
        want_ua = ua_ref is not None
    else:
        src = log.ref
        t_expr = "timestamp"
        has = set(log.columns)

        def col(c):
            return c if c in has else f"CAST(NULL AS VARCHAR) AS {c}"

        ua_ref = "user_agent" if want_ua else None
    parts = [
        "row_id",
        f"coalesce({eng.us(t_expr)}, {NONE}) AS _t",
        col("user_id"),
        col("device_id"),
        col("event"),
    ]
    # a few distinct event names in the raw column: DuckDB codes them in the scan
    ev_small = None
    if origin is not None and raw.get("event"):
        ev_small = _small_codes(eng, q(raw["event"]), src, True, text_expr, _SMALL)
        if ev_small[3] is None:
            ev_small = None
        else:
            parts[4] = f"{ev_small[3]} AS event"
    ua_small = False
    if want_ua:
        # distinct user agents first (few): robots are judged on them, never row by row
        ua_values, known, canon_code, expr = _small_codes(
            eng, ua_ref, src, origin is not None, text_expr, _SMALL
        )
        canon_code = np.r_[canon_code, -1].astype(np.int32)
        ua_small = expr is not None
        if ua_small:  # each row's code straight from DuckDB
            parts.append(f"{expr} AS _ah")
        else:
            parts.append(f"CASE WHEN {ua_ref} IS NULL THEN 0 ELSE hash({ua_ref}) END AS _ah")
    reader = eng.con.sql(f"SELECT {', '.join(parts)} FROM {src}").to_arrow_reader(_BATCH)
    cols: dict[str, list] = {k: [] for k in ("row_id", "_t", "user_id", "device_id", "event")}
    hashes = []
    for batch in reader:
        for k in cols:
            cols[k].append(batch.column(k))
        if want_ua:
            hashes.append(batch.column("_ah"))
    del reader

    def ints(name, dtype):
        if not cols[name]:
            return np.zeros(0, dtype)
        # Arrow's allocator: much cheaper than a fresh NumPy buffer of this size
        joined = pa.concat_arrays(cols.pop(name))
        if dtype is None:  # row positions: 32 bits when they fit (halves every gather)
            lo_hi = pc.min_max(joined).as_py()
            small = lo_hi["min"] is not None and lo_hi["min"] >= 0 and lo_hi["max"] < 2**31 - 1
            dtype = np.int32 if small else np.int64
        return joined.cast(pa.from_numpy_dtype(dtype)).to_numpy(zero_copy_only=False)

    from concurrent.futures import ThreadPoolExecutor

    # Arrow's hash kernels release the GIL: encode the three text columns side by side
    texts = ("user_id", "device_id") if ev_small is not None else ("user_id", "device_id", "event")
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [pool.submit(_codes, pa.chunked_array(cols.pop(k), pa.string())) for k in texts]
        row_id = ints("row_id", None)
        t = ints("_t", np.int64)
        coded = [j.result() for j in jobs]
    (user, user_dict), (dev, dev_dict) = coded[:2]
    if origin is not None:  # raw values -> canonical text, on the dictionaries only
        user_dict = _canonical(eng, user_dict, text_expr)
        dev_dict = _canonical(eng, dev_dict, text_expr)
    ids, u_map, d_map = _merge_ids(user_dict, dev_dict)
    user = u_map[user]
    dev = d_map[dev]
    if ev_small is not None:
        events = ev_small[0]
        ev_type = np.int16 if len(events) < 2**15 - 1 else np.int32
        ev = ints("event", ev_type)
        if (ev == -2).any():  # pragma: no cover - defensive
            raise Fallback("an event name is missing from its dictionary")
    else:
        ev, ev_dict = coded[2]
        if origin is not None:
            ev_dict = _canonical(eng, ev_dict, text_expr)
        events = pc.unique(pc.drop_null(ev_dict))
        if isinstance(events, pa.ChunkedArray):  # pragma: no cover
            events = events.combine_chunks()
        ev_type = np.int16 if len(events) < 2**15 - 1 else np.int32
        ev = np.r_[_index_in(ev_dict, events), -1].astype(ev_type)[ev]
    ua = None
    if want_ua and ua_small:
        ua = pa.concat_arrays(hashes).to_numpy() if hashes else np.zeros(0, np.int32)
        del hashes
        if (ua == -2).any():  # pragma: no cover - defensive
            raise Fallback("a user agent is missing from its dictionary")
    elif want_ua:
        h = pa.concat_arrays(hashes).to_numpy() if hashes else np.zeros(0, np.uint64)
        del hashes
        by_hash = np.argsort(known)
        sorted_h = known[by_hash]
        pos = np.minimum(np.searchsorted(sorted_h, h), max(len(known) - 1, 0))
        found = sorted_h[pos] == h
        if (~found & (h != 0)).any():  # pragma: no cover - defensive
            raise Fallback("a user agent is missing from its dictionary")
        ua = canon_code[np.where(found, by_hash[pos], -1)]
        del h, pos, found
    else:
        ua_values = None
    if len(row_id) > 1 and not (row_id[1:] > row_id[:-1]).all():
        by_row = np.argsort(row_id, kind="stable")
        rows = by_row[np.argsort(t[by_row], kind="stable")]
    else:  # timsort: nearly free on logs exported in time order
        rows = np.argsort(t, kind="stable")
    enc = Encoded(row_id, t, user, dev, ev, ids, events.to_pylist(), rows)
    return enc, ua, ua_values


def _canonical(eng, dictionary: pa.Array, text_expr) -> pa.Array:
    """``text_expr`` of each raw value (same positions; null where the text is blank)."""
    if len(dictionary) == 0:
        return dictionary.cast(pa.string())
    name = eng.register(
        pa.table({"i": np.arange(len(dictionary), dtype=np.int64), "v": dictionary}), "raw"
    )
    out = eng.arrow(f"SELECT {text_expr(eng, 'v')} AS c FROM {eng.q(name)} ORDER BY i")
    eng.drop(name)
    return out.column("c").combine_chunks().cast(pa.string())


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
    a, ts = gather(o, actor, t)
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
        gap = np.empty(len(ab), dtype=np.int64)
        np.subtract(tb[1:], tb[:-1], out=gap[1:])
        gap[first] = 0
        cnt = n_ev - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.add.reduceat(gap, first).astype(np.float64) / cnt
            dev = gap.astype(np.float64)
            dev -= np.repeat(mean, n_ev)
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
def event_links(enc: Encoded, login_codes=None):
    """``device_id, user_id, n`` for every pair seen on one row (restricted to login events),
    and the codes of the pairs' devices and users."""
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
    dev_codes, user_codes = uniq // n_ids, uniq % n_ids
    table = pa.table(
        {
            "device_id": enc.ids.take(pa.array(dev_codes)),
            "user_id": enc.ids.take(pa.array(user_codes)),
            "n": n,
        }
    )
    return table, dev_codes, user_codes


def stitched_from_events(enc: Encoded, dev_codes: np.ndarray, user_codes: np.ndarray) -> Encoded:
    """:func:`stitched` when the only links are the events' own (device, customer) pairs: a
    device seen with exactly one customer belongs to that customer."""
    n_customers = np.bincount(dev_codes, minlength=len(enc.ids))
    one = n_customers[dev_codes] == 1
    dev_map = np.full(len(enc.ids) + 1, -1, dtype=np.int32)
    dev_map[dev_codes[one]] = user_codes[one]
    return _stitch_rows(enc, dev_map, enc.ids)


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
    return _stitch_rows(enc, dev_map, ids)


def _stitch_rows(enc: Encoded, dev_map: np.ndarray, ids) -> Encoded:
    """``user`` = coalesce(user, dev_map[device], device) on every row."""
    user = enc.user
    from_dev = np.where(enc.device >= 0, dev_map[enc.device], -1)
    user = np.where(user >= 0, user, np.where(from_dev >= 0, from_dev, enc.device)).astype(np.int32)
    return _with_rows(enc, enc.rows, user=user, ids=ids)
