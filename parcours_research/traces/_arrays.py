"""The DuckDB fast path: one sort of a few narrow columns, then array code.

DuckDB sorts each person's events once -- by a 64-bit hash of the person key, then timestamp,
then ``row_id`` -- and hands the narrow columns over as Arrow arrays. Sessions, funnels,
transitions and variants are then linear passes over these arrays (NumPy), which is several
times faster than one SQL window sort per step. The sorted arrays are cached on the log
(``EventLog._arrays``) so that the analyses of one sessionized log share a single sort.

Every function here gives exactly the result of the SQL written for every engine (see
``funnel._per_user_sql`` and ``paths``); the tests compare the two on awkward logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .eventlog import USABLE, EventLog

NONE = np.iinfo(np.int64).min


@dataclass
class Sorted:
    """A log's usable rows sorted by (person, timestamp, row_id), as arrays."""

    person: np.ndarray  # int64 person code per row, non-decreasing
    persons: pa.Array  # person key (string) of each code
    t: np.ndarray  # int64 microseconds
    row_id: np.ndarray  # int64
    ev: np.ndarray  # int32 event code per row (-1 for a missing event)
    events: list  # event name of each code
    session: np.ndarray | None = None  # int64 session number, global and non-decreasing
    gap_us: int | None = None


def _arrow(log: EventLog, sql: str) -> pa.Table:
    return log.engine.arrow(sql)


def get_sorted(log: EventLog) -> Sorted:
    """The sorted arrays of ``log`` (computed once and cached on the log)."""
    from ._clean_arrays import Encoded

    if isinstance(log._arrays, Encoded):
        log._arrays = _from_encoded(log._arrays)
    if log._arrays is not None:
        return log._arrays
    eng = log.engine
    inner = (
        f"SELECT coalesce(user_id, device_id) AS _p, {eng.us('timestamp')} AS _t, row_id, "
        f"event FROM {log.ref}"
    )
    sql = (
        f"SELECT _p, _t, row_id, event FROM ({inner}) AS s "
        f"WHERE _p IS NOT NULL AND _t IS NOT NULL ORDER BY hash(_p), _t, row_id"
    )
    tab = _arrow(log, sql)
    p = tab.column("_p").combine_chunks() if tab.num_rows else pa.array([], pa.string())
    n = tab.num_rows
    if n:
        change = np.empty(n, dtype=bool)
        change[0] = True
        change[1:] = pc.not_equal(p[1:], p[:-1]).to_numpy(zero_copy_only=False)
        person = np.cumsum(change, dtype=np.int64) - 1
        persons = p.filter(pa.array(change))
        if len(pc.unique(persons)) != len(persons):  # a hash collision split a person: sort by key
            sql = sql.replace("ORDER BY hash(_p), _t, row_id", "ORDER BY _p, _t, row_id")
            log._arrays = None
            tab = _arrow(log, sql)
            p = tab.column("_p").combine_chunks()
            change[1:] = pc.not_equal(p[1:], p[:-1]).to_numpy(zero_copy_only=False)
            person = np.cumsum(change, dtype=np.int64) - 1
            persons = p.filter(pa.array(change))
    else:
        person = np.zeros(0, np.int64)
        persons = pa.array([], pa.string())
    ev_col = tab.column("event").combine_chunks() if n else pa.array([], pa.string())
    enc = pc.dictionary_encode(ev_col)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    ev = (
        np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        if n
        else np.zeros(0, np.int32)
    )
    out = Sorted(
        person=person,
        persons=persons,
        t=np.asarray(tab.column("_t").to_numpy(), dtype=np.int64) if n else np.zeros(0, np.int64),
        row_id=np.asarray(tab.column("row_id").to_numpy(), dtype=np.int64)
        if n
        else np.zeros(0, np.int64),
        ev=ev,
        events=enc.dictionary.to_pylist() if n else [],
    )
    log._arrays = out
    return out


def _from_encoded(enc) -> Sorted:
    """Sorted arrays from the encoded rows that cleaning (and stitching) left on a log: a stable
    counting sort by person of rows already in time order; no query, no second time sort."""
    from ._clean_arrays import NONE as T_NONE
    from ._clean_arrays import gather, group_order, run_starts

    person = np.where(enc.user >= 0, enc.user, enc.device)
    idx = enc.rows[(person[enc.rows] >= 0) & (enc.t[enc.rows] != T_NONE)]  # time order
    idx = idx[group_order(person[idx], len(enc.ids))]
    p = person[idx]
    del person
    change = run_starts(p)
    persons = enc.ids.take(pa.array(p[change]))
    if isinstance(persons, pa.ChunkedArray):  # pragma: no cover
        persons = persons.combine_chunks()
    t, row_id, ev = gather(idx, enc.t, enc.row_id, enc.ev)
    return Sorted(
        person=np.cumsum(change, dtype=np.int32 if len(p) < 2**31 - 1 else np.int64) - 1,
        persons=persons.cast(pa.string()),
        t=t,
        row_id=row_id,
        ev=ev,
        events=list(enc.events),
    )


def _codes(s: Sorted, log: EventLog, by: str) -> tuple[np.ndarray, list]:
    """Codes of ``by`` (event or touchpoint) per sorted row, -1 when missing."""
    if by == "event":
        return s.ev, s.events
    mapping = log.meta.get("touchpoints")
    if mapping is None:  # a touchpoint column that did not come from map_touchpoints
        tab = _arrow(log, f"SELECT row_id, touchpoint FROM {log.ref}")
        rid = np.asarray(tab.column("row_id").to_numpy(), dtype=np.int64)
        enc = pc.dictionary_encode(tab.column("touchpoint").combine_chunks())
        c = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        order = np.argsort(rid, kind="stable")
        pos = np.searchsorted(rid[order], s.row_id)
        return c[order][pos], enc.dictionary.to_pylist()
    names = sorted(set(mapping.values()))
    idx = {n: i for i, n in enumerate(names)}
    lut = np.array([idx.get(mapping.get(e), -1) for e in s.events] + [-1], dtype=np.int32)
    return lut[s.ev], names


# -- sessions -----------------------------------------------------------------------------------
def sessionize(log: EventLog, gap_us: int) -> EventLog:
    s = get_sorted(log)
    n = len(s.t)
    new = np.ones(n, dtype=bool)
    if n > 1:
        same = s.person[1:] == s.person[:-1]
        new[1:] = ~(same & (s.t[1:] - s.t[:-1] <= gap_us))
    session = np.cumsum(new, dtype=np.int64) - 1
    # number within person: session index minus the index of the person's first session
    first_sess = (
        session[np.r_[0, np.flatnonzero(s.person[1:] != s.person[:-1]) + 1]] if n else session
    )
    within = session - first_sess[s.person] + 1 if n else session
    eng = log.engine
    name = eng.register(pa.table({"row_id": s.row_id, "_n": within}), "sess")
    cols = [c for c in log.columns if c != "session_id"]
    sel = ", ".join(f"e.{eng.q(c)}" for c in cols)
    view = eng.view(
        f"SELECT {sel}, CASE WHEN x._n IS NULL THEN NULL ELSE concat(coalesce(e.user_id, e.device_id), "
        f"':', CAST(x._n AS VARCHAR)) END AS session_id FROM {log.ref} AS e "
        f"LEFT JOIN {eng.q(name)} AS x ON e.row_id = x.row_id",
        "sessions",
    )
    arrays = Sorted(s.person, s.persons, s.t, s.row_id, s.ev, s.events, session, gap_us)
    return log.derive(view, arrays=arrays)


def _case(s: Sorted, log: EventLog, case: str) -> np.ndarray:
    if case == "session_id":
        if s.session is None:  # a session_id that came with the data: group by its value
            tab = _arrow(log, f"SELECT row_id, session_id FROM {log.ref}")
            rid = np.asarray(tab.column("row_id").to_numpy(), dtype=np.int64)
            enc = pc.dictionary_encode(tab.column("session_id").combine_chunks())
            c = np.asarray(
                pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
            )
            order = np.argsort(rid, kind="stable")
            pos = np.searchsorted(rid[order], s.row_id)
            return c[order][pos]
        return s.session
    return s.person


def _needs_sql(log: EventLog, case: str) -> bool:
    s = get_sorted(log)
    return case == "session_id" and s.session is None


# -- transitions --------------------------------------------------------------------------------
def transitions(log: EventLog, by: str, case: str) -> pd.DataFrame:
    s = get_sorted(log)
    if _needs_sql(log, case):
        return _sql_fallback_transitions(log, by, case)
    x, names = _codes(s, log, by)
    c = _case(s, log, case)
    keep = (x >= 0) & (c >= 0)
    t = s.t
    if not keep.all():
        x, c, t = x[keep], c[keep], t[keep]
    del keep
    pair = c[1:] == c[:-1]
    k = max(len(names), 1)
    code = (x[:-1].astype(np.int64) * k + x[1:])[pair]
    d = (t[1:] - t[:-1])[pair]
    del pair
    if len(code) == 0:
        return pd.DataFrame({"source": [], "target": [], "n": [], "_med": []})
    if k * k <= 1 << 22:  # a counting sort by pair
        from ._clean_arrays import group_order

        order = group_order(code, k * k)
        counts = np.bincount(code, minlength=k * k)
        u = np.flatnonzero(counts)
        ends = np.cumsum(counts)[u]
        starts = ends - counts[u]
    else:
        order = np.argsort(code, kind="stable")
        code_s = code[order]
        starts = np.r_[0, np.flatnonzero(code_s[1:] != code_s[:-1]) + 1]
        ends = np.r_[starts[1:], len(code_s)]
        u = code_s[starts]
    d_s = d[order]
    meds = np.array([np.median(d_s[a:b]) for a, b in zip(starts, ends)], dtype=np.float64)
    return pd.DataFrame(
        {
            "source": [names[i] for i in u // k],
            "target": [names[i] for i in u % k],
            "n": ends - starts,
            "_med": meds,
        }
    )


def _sql_fallback_transitions(log, by, case):
    eng = log.engine
    t = eng.us("timestamp")
    w = f"OVER (PARTITION BY {case} ORDER BY {t}, row_id)"
    return eng.fetch(
        f"SELECT source, target, count(*) AS n, {eng.median('_d')} AS _med FROM ("
        f"SELECT {by} AS source, lead({by}) {w} AS target, lead({t}) {w} - {t} AS _d "
        f"FROM {log.ref} WHERE {by} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL) AS x "
        f"WHERE target IS NOT NULL GROUP BY source, target"
    )


# -- variants -----------------------------------------------------------------------------------
def variants(log: EventLog, by: str, case: str, top: int | None, sep: str):
    s = get_sorted(log)
    if _needs_sql(log, case):
        eng = log.engine
        t = eng.us("timestamp")
        agg = eng.ordered_concat(eng.cast_str(by), [t, "row_id"], sep)
        table = eng.fetch(
            f"SELECT variant, n_steps, count(*) AS n FROM (SELECT {agg} AS variant, "
            f"count(*) AS n_steps FROM {log.ref} WHERE {by} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL "
            f"GROUP BY {case}) AS c "
            f"GROUP BY variant, n_steps"
        )
        total = int(
            eng.scalar(
                f"SELECT count(DISTINCT {case}) FROM {log.ref} WHERE {by} IS NOT NULL AND {USABLE}"
            )
            or 0
        )
        return _top(table, top), total
    x, names = _codes(s, log, by)
    c = _case(s, log, case)
    keep = (x >= 0) & (c >= 0)
    x, c = x[keep], c[keep]
    if len(x) == 0:
        return pd.DataFrame({"variant": [], "n_steps": [], "n": []}), 0
    starts = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(x)])
    total = len(starts)
    small = np.uint8 if len(names) < 256 else np.uint16 if len(names) < 65536 else np.uint32
    xs = x.astype(small)
    found_rows, found_n, found_len = [], [], []
    for length in np.unique(lengths):
        sel = starts[lengths == length]
        mat = xs[sel[:, None] + np.arange(length)]
        rows = np.ascontiguousarray(mat).view(
            np.dtype((np.void, mat.dtype.itemsize * int(length)))
        )[:, 0]
        uniq, counts = np.unique(rows, return_counts=True)
        found_rows.append(uniq)
        found_n.append(counts)
        found_len.append(np.full(len(uniq), length))
    n_all = np.concatenate(found_n)
    len_all = np.concatenate(found_len)
    if top is not None and top < len(n_all):
        threshold = np.sort(n_all)[::-1][top - 1]
        cand = np.flatnonzero(n_all >= threshold)
    else:
        cand = np.arange(len(n_all))
    offsets = np.cumsum([0] + [len(r) for r in found_rows])
    texts = []
    for i in cand:
        j = np.searchsorted(offsets, i, side="right") - 1
        row = found_rows[j][i - offsets[j]]
        seq = np.frombuffer(row.tobytes(), dtype=small)
        texts.append(sep.join(names[v] for v in seq))
    table = pd.DataFrame({"variant": texts, "n_steps": len_all[cand], "n": n_all[cand]})
    return _top(table, top), total


def _top(table: pd.DataFrame, top):
    table = table.sort_values(["n", "variant"], ascending=[False, True], kind="stable")
    return table.head(top) if top is not None else table


# -- funnel ------------------------------------------------------------------------------------
def funnel_reached(log: EventLog, spec) -> pd.DataFrame:
    """``_p, _r1 .. _rn`` for every person of the log (see ``funnel`` for the definitions)."""
    s = get_sorted(log)
    x, names = _codes(s, log, spec.on)
    name_step = spec.step_of()
    lut = np.array([name_step.get(nm, 0) for nm in names] + [0], dtype=np.int64)
    step = lut[x]  # x == -1 picks the trailing 0
    excl_names = set(spec.exclude)
    lut_x = np.array([nm in excl_names for nm in names] + [False], dtype=bool)
    excl = lut_x[x]
    n_persons = len(s.persons)
    reached = np.zeros((spec.n, n_persons), dtype=np.int64)
    if spec.order == "strict":
        idx = np.arange(len(step))
    else:
        idx = np.flatnonzero((step > 0) | excl)
    from ._clean_arrays import gather

    p, t, st, rid = gather(idx, s.person, s.t, step, s.row_id)
    ex = excl[idx] if spec.order != "strict" else np.zeros(len(idx), bool)
    # order ties of (person, timestamp) by step number, then row_id
    m = len(p)
    if m > 1:
        same = (p[1:] == p[:-1]) & (t[1:] == t[:-1])
        if same.any():
            tied = np.zeros(m, dtype=bool)
            tied[1:] |= same
            tied[:-1] |= same
            sub = np.flatnonzero(tied)
            run = np.cumsum(np.r_[True, ~same])  # run id of (person, timestamp)
            o = sub[np.lexsort((rid[sub], st[sub], run[sub]))]
            perm = np.arange(m)
            perm[sub] = o
            p, t, st, rid, ex = p[perm], t[perm], st[perm], rid[perm], ex[perm]
    # groups: a person, cut by exclusion events
    newg = np.ones(m, dtype=bool)
    if m > 1:
        newg[1:] = (p[1:] != p[:-1]) | ex[1:]
    pos = np.arange(m, dtype=np.int32 if m < 2**31 - 1 else np.int64)
    if spec.order == "any":
        return _any(spec, s, p, t, st, np.cumsum(newg) - 1, n_persons)
    # first position of each row's group: an earlier row is in the group when at or after it
    gstart = np.maximum.accumulate(np.where(newg, pos, 0)) if m else pos
    del newg
    f = {1: np.where(st == 1, t, NONE)}
    mprev = {}  # step k -> (rows of step k, best chain start before each)
    for k in range(2, spec.n + 1):
        at = np.flatnonzero(st == k)  # only step-k rows need the chains that reach them
        before = np.maximum(at - 1, 0)
        best = None
        for q in spec.preds[k]:
            # position of the latest earlier row with f[q] set (-1 for none)
            last = np.where(f[q] != NONE, pos, -1)
            if m:
                np.maximum.accumulate(last, out=last)
            prev = np.where(at > 0, last[before], -1)
            del last
            val = np.where(prev >= gstart[at], f[q][prev], NONE)  # prev = -1 is never kept
            best = val if best is None else np.maximum(best, val)
        if best is None:  # pragma: no cover - every step after the first has a predecessor
            best = np.full(len(at), NONE)
        mprev[k] = (at, best)
        fk = np.full(m, NONE)
        fk[at] = np.where((best != NONE) & (t[at] <= best + spec.window_us), best, NONE)
        f[k] = fk
    in_time = None  # rows before the strict order is broken (all rows in the other modes)
    if spec.order == "strict":
        big = np.iinfo(np.int64).max
        limit = np.full(n_persons, big)
        first = np.full(n_persons, big)
        ones = np.flatnonzero(st == 1)
        np.minimum.at(first, p[ones], ones)
        own = np.full(m, NONE)
        for at, best in mprev.values():
            own[at] = best
        brk = (pos > first[p]) & ((st == 0) | ((st >= 2) & (own == NONE)))
        b = np.flatnonzero(brk)
        np.minimum.at(limit, p[b], b)
        in_time = pos < limit[p]
    for k in range(1, spec.n + 1):
        ok = f[k] != NONE
        if in_time is not None:
            ok &= in_time
        reached[k - 1, p[ok]] = 1
    return _reached_frame(s, reached)


def _any(spec, s, p, t, st, gid, n_persons):
    m = len(p)
    reached = np.zeros((spec.n, n_persons), dtype=np.int64)
    if m == 0:
        return _reached_frame(s, reached)
    newrun = np.ones(m, dtype=bool)
    newrun[1:] = (gid[1:] != gid[:-1]) | (t[1:] != t[:-1])
    run_start = np.maximum.accumulate(np.where(newrun, np.arange(m), 0))
    present = {}
    for j in range(1, spec.n + 1):
        idx_j = np.flatnonzero(st == j)
        k = np.searchsorted(idx_j, run_start)
        okk = k < len(idx_j)
        kk = np.where(okk, k, 0)
        cand = idx_j[kk] if len(idx_j) else np.zeros(m, dtype=np.int64)
        good = okk & (gid[cand] == gid) if len(idx_j) else np.zeros(m, dtype=bool)
        present[j] = good & (t[cand] <= t + spec.window_us)
    anchor = st >= 1
    for k in range(1, spec.n + 1):
        ok = anchor & present[k]
        for j in range(1, k):
            if j not in spec.optional:
                ok &= present[j]
        reached[k - 1, p[ok]] = 1
    return _reached_frame(s, reached)


def _reached_frame(s: Sorted, reached: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({"_p": s.persons.to_pandas()})
    for k in range(reached.shape[0]):
        out[f"_r{k + 1}"] = reached[k]
    return out
