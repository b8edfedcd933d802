"""The DuckDB fast path of sessions, funnels, transitions and variants: one sort, then loops.

A log that cleaning left as integer arrays (``_clean_arrays.Encoded``) is put in (person,
timestamp, row_id) order by a counting sort (of the rows in file order when each person's rows
are in time order there, see ``_kernels.sort_by_position``; else of the rows in time order); any
other log is sorted once by DuckDB -- by a 64-bit hash of the person key, then timestamp, then
``row_id`` -- and handed over as Arrow arrays. Sessions, funnels (ClickHouse ``windowFunnel``
semantics), transitions and variants are then single passes over these arrays, compiled by
numba (``_kernels``) and cut into one piece of persons per core where that pays. The sorted
arrays are cached on the log (``EventLog._arrays``) so that the analyses of one sessionized log
share one sort.

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
    from . import _kernels as k

    t, row_id, ev, rank, codes = k.person_order(
        enc.rows, enc.t, enc.user, enc.device, enc.row_id, enc.ev, len(enc.ids), enc.keep
    )
    persons = enc.ids.take(pa.array(codes))
    if isinstance(persons, pa.ChunkedArray):  # pragma: no cover
        persons = persons.combine_chunks()
    return Sorted(
        person=rank,
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
    from . import _kernels as k

    s = get_sorted(log)
    session, within = k.sessions(s.person, s.t, int(gap_us))
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
    t = s.t
    from . import _kernels as kern

    k = max(len(names), 1)
    u, n, meds = kern.transition_pairs(x, c, t, k)
    if len(u) == 0:
        return pd.DataFrame({"source": [], "target": [], "n": [], "_med": []})
    return pd.DataFrame(
        {
            "source": [names[i] for i in u // k],
            "target": [names[i] for i in u % k],
            "n": n,
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
    from . import _kernels as kern

    codes, start, length, h = kern.case_runs(x, c)
    total = len(start)
    if total == 0:
        return pd.DataFrame({"variant": [], "n_steps": [], "n": []}), 0
    # cases with equal sequences share a hash; checked exactly, so a collision cannot merge two
    first, n_all, exact = kern.group_sequences(codes, start, length, h)
    if not exact:
        return _variants_exact(codes, start, length, names, top, sep), total
    cand = _candidates(n_all, top)
    texts = [
        sep.join(names[v] for v in codes[start[f] : start[f] + length[f]]) for f in first[cand]
    ]
    table = pd.DataFrame({"variant": texts, "n_steps": length[first[cand]], "n": n_all[cand]})
    return _top(table, top), total


def _candidates(n_all: np.ndarray, top) -> np.ndarray:
    """Positions of the variants that can be among the ``top`` most frequent (ties included)."""
    if top is not None and top < len(n_all):
        threshold = np.sort(n_all)[::-1][top - 1]
        return np.flatnonzero(n_all >= threshold)
    return np.arange(len(n_all))


def _variants_exact(codes, start, length, names, top, sep) -> pd.DataFrame:
    """Variants by comparing whole sequences (cases grouped by length): the path taken when two
    different sequences share a 64-bit hash."""
    small = np.uint8 if len(names) < 256 else np.uint16 if len(names) < 65536 else np.uint32
    xs = codes.astype(small)
    found_rows, found_n, found_len = [], [], []
    for n_steps in np.unique(length):
        sel = start[length == n_steps]
        mat = xs[sel[:, None] + np.arange(n_steps)]
        rows = np.ascontiguousarray(mat).view(
            np.dtype((np.void, mat.dtype.itemsize * int(n_steps)))
        )[:, 0]
        uniq, counts = np.unique(rows, return_counts=True)
        found_rows.append(uniq)
        found_n.append(counts)
        found_len.append(np.full(len(uniq), n_steps))
    n_all = np.concatenate(found_n)
    len_all = np.concatenate(found_len)
    cand = _candidates(n_all, top)
    offsets = np.cumsum([0] + [len(r) for r in found_rows])
    texts = []
    for i in cand:
        j = np.searchsorted(offsets, i, side="right") - 1
        row = found_rows[j][i - offsets[j]]
        seq = np.frombuffer(row.tobytes(), dtype=small)
        texts.append(sep.join(names[v] for v in seq))
    return pd.DataFrame({"variant": texts, "n_steps": len_all[cand], "n": n_all[cand]})


def _top(table: pd.DataFrame, top):
    table = table.sort_values(["n", "variant"], ascending=[False, True], kind="stable")
    return table.head(top) if top is not None else table


# -- funnel ------------------------------------------------------------------------------------
def funnel_reached(log: EventLog, spec) -> pd.DataFrame:
    """``_p, _r1 .. _rn`` for every person of the log (see ``funnel`` for the definitions)."""
    s = get_sorted(log)
    x, names = _codes(s, log, spec.on)
    name_step = spec.step_of()
    step_of = np.array([name_step.get(nm, 0) for nm in names] + [0], dtype=np.int64)
    excl_names = set(spec.exclude)
    excl_of = np.array([nm in excl_names for nm in names] + [False], dtype=bool)
    n_persons = len(s.persons)
    if spec.order != "any":
        from . import _kernels as kern

        preds = np.zeros((spec.n + 1, max(spec.n, 1)), dtype=np.int64)
        n_preds = np.zeros(spec.n + 1, dtype=np.int64)
        for k, ps in spec.preds.items():
            preds[k, : len(ps)] = ps
            n_preds[k] = len(ps)
        reached = kern.funnel_chains(
            s.person,
            s.t,
            s.row_id,
            x,
            step_of,
            excl_of,
            n_persons,
            spec.n,
            preds,
            n_preds,
            int(spec.window_us),
            spec.order == "strict",
        )
        return _reached_frame(s, reached)
    step = step_of[x]  # x == -1 picks the trailing 0
    excl = excl_of[x]
    idx = np.flatnonzero((step > 0) | excl)
    from ._clean_arrays import gather

    p, t, st, rid = gather(idx, s.person, s.t, step, s.row_id)
    ex = excl[idx]
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
    return _any(spec, s, p, t, st, np.cumsum(newg) - 1, n_persons)


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
