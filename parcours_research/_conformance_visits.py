"""Lived journeys as integer codes (private): the visits of :mod:`parcours_research.conformance`.

Each customer's touchpoint visits are kept as codes into the sorted touchpoint names
(:class:`Visits`), read from the log's sorted arrays on the DuckDB fast path (no query beyond
the kept rows' ids) or from the paths' text otherwise (each distinct path split once). The
deviations of a lived journey depend only on its touchpoints in order of first visit and on
those visited more than once (see ``conformance._deviations``): customers are grouped on that
*reduced* journey, and the map's lived paths (``conformance.lived_path``) are cut from the codes
in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEP = " > "


@dataclass
class Visits:
    """The customers' visits: ``codes[offsets[i]:offsets[i + 1]]`` are customer ``i``'s
    touchpoints (codes into ``names``, sorted) in time order."""

    codes: np.ndarray
    offsets: np.ndarray
    names: list

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def customer(self) -> np.ndarray:
        """The customer (row) of each visit."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.lengths)

    def take(self, rows: np.ndarray) -> Visits:
        """The visits of the customers ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        lens = self.lengths[rows]
        offsets = np.r_[0, np.cumsum(lens)].astype(np.int64)
        at = np.repeat(self.offsets[:-1][rows] - offsets[:-1], lens) + np.arange(offsets[-1])
        return Visits(self.codes[at], offsets, self.names)


def from_paths(paths: np.ndarray) -> Visits:
    """The visits of paths given as text (visits joined by ``" > "``): each distinct path is
    split once."""
    pcode, uniq = pd.factorize(np.asarray(paths, dtype=object))
    parts = [str(p).split(SEP) for p in uniq]
    names = sorted({v for part in parts for v in part})
    index = {v: i for i, v in enumerate(names)}
    ucodes = np.array([index[v] for part in parts for v in part], dtype=np.int64)
    ulens = np.array([len(part) for part in parts], dtype=np.int64)
    base = Visits(ucodes, np.r_[0, np.cumsum(ulens)].astype(np.int64), names)
    return base.take(pcode)


def from_arrays(log) -> tuple | None:
    """``(frame, Visits)`` of the log's identified customers from its sorted arrays (the
    DuckDB fast path with the kit's sessions): ``frame`` has ``customer_id, [persona], path,
    n_visits`` as ``conformance._journeys_sql`` gives them (unsorted); None otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ._log_rows import kept_rows, sorted_arrays

    s = sorted_arrays(log)
    if s is None:
        return None
    from .traces import _arrays

    tp, names = _arrays._codes(s, log, "touchpoint")
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    if log.has("identified"):
        where += " AND identified"
    kept = kept_rows(log, s, where, "persona" if log.has("persona") else None)
    if kept is None or (tp[kept[0]] < 0).any() or list(names) != sorted(names):
        return None
    idx, pcodes, pnames = kept
    person, tp, session = s.person[idx], tp[idx], s.session[idx]
    start = np.ones(len(idx), dtype=bool)
    start[1:] = (person[1:] != person[:-1]) | (tp[1:] != tp[:-1]) | (session[1:] != session[:-1])
    first = np.flatnonzero(np.r_[True, person[1:] != person[:-1]]) if len(idx) else idx
    visits = np.flatnonzero(start)
    offsets = np.r_[np.searchsorted(visits, first), len(visits)].astype(np.int64)
    codes = tp[visits].astype(np.int64)
    paths = pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(names, pa.string()).take(pa.array(codes))
    )
    out = pd.DataFrame(
        {
            "customer_id": s.persons.take(pa.array(person[first])).to_numpy(zero_copy_only=False),
            "path": pc.binary_join(paths, SEP).to_numpy(zero_copy_only=False),
            "n_visits": np.diff(offsets),
        }
    )
    if pcodes is not None:
        labels = np.array([*pnames.to_pylist(), None], dtype=object)
        out.insert(1, "persona", labels[pcodes[first]])
    return out, Visits(codes, offsets, list(names))


def reduced(visits: Visits, design_key: np.ndarray) -> tuple:
    """``(codes, first, journeys)``: customers numbered by (design, reduced journey) in order
    of first appearance, the first customer of each number, and each number's reduced journey
    as touchpoint names: those in order of first visit, then those visited more than once (in
    name order)."""
    n, k = len(visits.offsets) - 1, max(len(visits.names), 1)
    cust = visits.customer()
    uniq, first_at, count = np.unique(
        cust * k + visits.codes, return_index=True, return_counts=True
    )
    ucust, ucode = uniq // k, uniq % k
    order = np.argsort(first_at, kind="stable")
    seq_cust, seq = ucust[order], ucode[order]
    again = count > 1
    rep_cust, rep = ucust[again], ucode[again]
    seq_at = np.searchsorted(seq_cust, np.arange(n + 1))
    rep_at = np.searchsorted(rep_cust, np.arange(n + 1))
    sb, rb = seq.astype("<u4").tobytes(), rep.astype("<u4").tobytes()
    keys = [
        (d, sb[4 * a : 4 * b], rb[4 * c : 4 * e])
        for d, a, b, c, e in zip(
            design_key.tolist(),
            seq_at[:-1].tolist(),
            seq_at[1:].tolist(),
            rep_at[:-1].tolist(),
            rep_at[1:].tolist(),
            strict=True,
        )
    ]
    number: dict = {}
    codes = np.array([number.setdefault(key, len(number)) for key in keys], dtype=np.int64)
    first = np.unique(codes, return_index=True)[1]
    names = visits.names
    journeys = [
        [names[c] for c in np.frombuffer(key[1] + key[2], dtype="<u4").tolist()] for key in number
    ]
    return codes, first, journeys


def shown_paths(visits: Visits, designs: np.ndarray) -> np.ndarray:
    """``conformance.lived_path`` of every customer, as text: the touchpoints the design
    tolerates anywhere left out, consecutive visits of a repeatable touchpoint counted once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dcode, uniq = pd.factorize(np.array([id(d) for d in designs], dtype=np.int64))
    found = {id(d): d for d in designs}
    names = visits.names
    k = max(len(names), 1)
    drop = np.zeros((len(uniq), k), dtype=bool)
    again = np.zeros((len(uniq), k), dtype=bool)
    for i, key in enumerate(uniq):
        d = found[key]
        drop[i] = [t in d.optional and t not in d.steps for t in names] or False
        again[i] = [t in d.repeatable for t in names] or False
    cust = visits.customer()
    dc = dcode[cust]
    keep = ~drop[dc, visits.codes]
    c, who, dk = visits.codes[keep], cust[keep], dc[keep]
    same = np.zeros(len(c), dtype=bool)
    same[1:] = (who[1:] == who[:-1]) & (c[1:] == c[:-1]) & again[dk[1:], c[1:]]
    c, who = c[~same], who[~same]
    offsets = np.searchsorted(who, np.arange(len(designs) + 1)).astype(np.int32)
    lists = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(names, pa.string()).take(pa.array(c))
    )
    return pc.binary_join(lists, SEP).to_numpy(zero_copy_only=False).astype(object)
