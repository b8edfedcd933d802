"""Rows of a prepared event log located in its sorted arrays (private).

The DuckDB fast path keeps a log's usable rows sorted by (person, timestamp, row_id) as
arrays (:mod:`parcours_research.traces._arrays`). An analysis that needs the rows a ``WHERE``
clause keeps, in that order, asks the engine for their ``row_id`` only (a narrow read, no
sort) and finds them in the arrays here.
"""

from __future__ import annotations

import numpy as np


def sorted_arrays(log):
    """The log's sorted arrays with the kit's sessions, or None (another engine, no fast
    path, sessions that came with the data)."""
    s = getattr(log, "_arrays", None)
    if not getattr(log.engine, "fast", False) or getattr(s, "session", None) is None:
        return None
    return s if log.has("session_id") else None


def kept_rows(log, s, where: str, column: str | None = None) -> tuple | None:
    """``(positions, codes, names)``: the rows of ``log`` matching ``where``, as positions in
    the sorted arrays ``s`` (in sorted order), with the dictionary codes (-1 for missing) and
    values of ``column`` when given. None when a row is not among the sorted rows or a
    ``row_id`` repeats (the caller's SQL then answers)."""
    import pyarrow.compute as pc

    extra = f", {log.engine.q(column)} AS _c" if column else ""
    tab = log.engine.arrow(f"SELECT row_id{extra} FROM {log.ref} WHERE {where}")
    rid = np.asarray(tab.column("row_id").to_numpy(), dtype=np.int64)
    top = int(max(s.row_id.max(initial=-1), rid.max(initial=-1))) + 1
    if len(rid) and (rid.min() < 0 or top > 4 * len(s.row_id) + 1024):
        return None
    at = np.full(top, -1, dtype=np.int64)
    at[s.row_id] = np.arange(len(s.row_id))
    pos = at[rid]
    if (pos < 0).any():
        return None
    keep = np.zeros(len(s.row_id), dtype=bool)
    keep[pos] = True
    idx = np.flatnonzero(keep)
    if len(idx) != len(pos):  # a row_id twice
        return None
    if not column:
        return idx, None, None
    enc = pc.dictionary_encode(tab.column("_c").combine_chunks())
    codes = np.zeros(len(s.row_id), dtype=np.int64)
    codes[pos] = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    return idx, codes[idx], enc.dictionary
