"""The narrow columns of a local Parquet file read by pyarrow, for the DuckDB fast path.

When the log comes straight from :func:`~.io.read_events` over one local Parquet file whose ids
are integers, whose event and user agent are text and whose timestamp is a time-zone-aware
instant, ``_clean_arrays.fetch`` reads those columns here rather than through a DuckDB query:
pyarrow hands text columns over as dictionary indices (the file stores them so), so no text is
decoded or hashed row by row and no query lists the distinct values beforehand. Each dictionary
(one per row group, a few values) is mapped to codes once; the canonical text of the distinct
values (trimmed, blank as missing) is still computed by DuckDB's own expression, so the codes are
exactly those of the streamed path (the tests compare the two).

Rows are numbered by their position in the file, as DuckDB's ``file_row_number``.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _time
from ._pages import fresh


class NotDirect(Exception):
    """The file cannot be read here after all: stream it through DuckDB."""


def plan(origin: dict | None, native: str | None, refs: dict, want_ua: bool) -> dict | None:
    """What to read (``path, n, columns``) when the direct read applies, else None.

    ``refs`` maps ``user_id, device_id, event, user_agent`` to the raw column names (None when
    absent); ``native`` is the timestamp column read as stored."""
    if origin is None or not origin.get("counted") or native is None:
        return None
    paths = origin.get("paths") or []
    if len(paths) != 1 or "=" in str(paths[0]) or not Path(paths[0]).is_file():
        return None  # several files, Hive partitions, a URI
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(paths[0])
    except Exception:  # noqa: BLE001 - anything pyarrow cannot open goes through DuckDB
        return None
    fields = {f.name: f.type for f in meta.schema_arrow}
    ok = _is_instant(fields.get(native))
    for c in ("user_id", "device_id"):
        ok = ok and (refs[c] is None or _is_small_int(fields.get(refs[c])))
    wanted = ["event"] + (["user_agent"] if want_ua and refs["user_agent"] else [])
    for c in wanted:
        ok = ok and refs[c] is not None and _is_text(fields.get(refs[c]))
    if not ok or (refs["user_id"] is None and refs["device_id"] is None):
        return None
    return {
        "path": paths[0],
        "n": meta.metadata.num_rows,
        "ts": native,
        "ids": {c: refs[c] for c in ("user_id", "device_id")},
        "text": {c: refs[c] for c in wanted},
    }


def _is_instant(typ) -> bool:
    return typ is not None and pa.types.is_timestamp(typ) and typ.tz is not None


def _is_small_int(typ) -> bool:
    return typ is not None and pa.types.is_integer(typ) and typ != pa.uint64()


def _is_text(typ) -> bool:
    if typ is not None and pa.types.is_dictionary(typ):
        typ = typ.value_type
    return typ is not None and (pa.types.is_string(typ) or pa.types.is_large_string(typ))


class _Dictionary:
    """Raw text values in order of first appearance, and the codes of each batch's dictionary
    (mapped once per distinct dictionary: one per row group)."""

    def __init__(self):
        self.index: dict = {}
        self.values: list = []
        self._last = None
        self._lut = None

    def lut(self, arr) -> np.ndarray:
        """Codes of ``arr``'s dictionary values, then -1 (for a missing value)."""
        if not pa.types.is_dictionary(arr.type):
            raise NotDirect("a text column not read as a dictionary")
        d = arr.dictionary
        if self._last is not None and (d is self._last or d.equals(self._last)):
            return self._lut
        codes = []
        for v in d.to_pylist():
            if v is None:
                codes.append(-1)
                continue
            c = self.index.get(v)
            if c is None:
                c = self.index[v] = len(self.values)
                self.values.append(v)
            codes.append(c)
        if len(self.values) >= 2**15 - 1:
            raise NotDirect("too many distinct values for 16-bit codes")
        self._last, self._lut = d, np.array(codes + [-1], np.int16)
        return self._lut


def read(eng, p: dict, coder, text_expr, batch_rows: int, in_flight: int):
    """The columns of the plan ``p``: ``(cols, values)``, ``cols`` as the streamed path's
    (``row_id, _t, user, device, ev[, ua]``), ``values`` the canonical text of each text
    column's codes (``ev``, ``ua``).

    Row groups are decoded side by side in worker threads (pyarrow releases the GIL; one
    ``ParquetFile`` per thread), at most ``GROUPS_AHEAD`` ahead of the one being filled: the
    time and text columns for this loop, the integer ids for one coding thread, which codes
    them in row-group order (codes in order of first appearance; ids looked up directly in
    windows from the file's statistics, see ``IntCoder.windows``). Each text dictionary is
    mapped to codes here, in row-group order; the rows are copied into the arrays by the pool.
    The coding thread starts coding once numba is ready: until then the ids of up to
    ``GROUPS_AHEAD`` row groups wait (about 16 bytes a row), so reading seldom waits for
    numba's start-up. A file with a row group of more than ``GROUP_MAX`` rows is read batch
    by batch (``batch_rows``) in file order instead, ids included."""
    import pyarrow.parquet as pq

    from ._pool import pool

    n = p["n"]
    cols = _allocate(n, p["text"])
    dicts = {c: _Dictionary() for c in p["text"]}
    wanted = {p["ts"], *p["text"].values()}
    meta = pq.ParquetFile(p["path"]).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if sum(sizes) != n:
        raise NotDirect("the row groups do not add up to the file's row count")
    if sizes and max(sizes) > GROUP_MAX:
        groups = None  # batch by batch, in file order, ids included
        wanted |= {v for v in p["ids"].values() if v}
    else:
        groups = list(range(len(sizes)))
    wanted = sorted(wanted)
    files = _Files(p["path"], list(p["text"].values()))
    coder.windows(_id_spans(meta, [v for v in p["ids"].values() if v]), n // 2)
    ids = _IdThread(coder, cols, p["ids"], files, groups)

    def copy(batch, off, luts):
        m = batch.num_rows
        cols["row_id"][off : off + m] = np.arange(off, off + m)
        _time.instants_into(batch.column(p["ts"]), cols["_t"][off : off + m])
        for c, lut in luts.items():
            cols[_NAMES[c]][off : off + m] = lut[_indices(batch.column(p["text"][c]), len(lut))]

    pending, off = deque(), 0
    try:
        for batch in _batches(files, groups, wanted, batch_rows, in_flight):
            m = batch.num_rows
            if off + m > n:
                raise NotDirect("the file has more rows than its metadata says")
            luts = {c: dicts[c].lut(batch.column(p["text"][c])) for c in p["text"]}
            if groups is None:
                ids.put(batch, off)
            pending.append(pool().submit(copy, batch, off, luts))
            off += m
            del batch
            while len(pending) > (in_flight if groups is None else GROUPS_AHEAD):
                pending.popleft().result()
        for fut in pending:
            fut.result()
    except BaseException:
        ids.stopped = True  # no more row groups to decode
        raise
    finally:
        ids.close()
    if off != n:
        raise NotDirect("the file has fewer rows than its metadata says")
    # the decoded row groups are freed; give their memory back (about 16 bytes a row) rather
    # than keep it in pyarrow's pool while the next steps allocate theirs
    pa.default_memory_pool().release_unused()
    values = {}
    for c in p["text"]:
        values[_NAMES[c]] = _canonical(eng, dicts[c].values, cols[_NAMES[c]], text_expr)
    return cols, values


#: row groups up to this many rows are decoded whole, side by side (see :func:`read`)
GROUP_MAX = 1 << 21
#: row groups decoded ahead of the one being copied, at most (about 16 bytes a row each)
GROUPS_AHEAD = 2
#: row groups whose ids are decoded ahead of the one being coded, once numba is ready (their
#: decoding waits its turn in the pool behind the other columns': a deeper queue keeps up)
IDS_AHEAD = 4


def _id_spans(meta, names: list) -> list:
    """The ``(lowest, highest)`` value of each id column from the row groups' statistics
    (where every row group has them), for ``IntCoder.windows``."""
    spans = []
    if not meta.num_row_groups:
        return spans
    first = meta.row_group(0)
    where = {first.column(j).path_in_schema: j for j in range(first.num_columns)}
    for name in names:
        lo = hi = None
        try:
            for i in range(meta.num_row_groups):
                group = meta.row_group(i)
                stats = group.column(where[name]).statistics
                if stats is not None and stats.null_count == group.num_rows:
                    continue  # no value in this row group
                if stats is None or not stats.has_min_max:
                    break
                a, b = int(stats.min), int(stats.max)
                lo, hi = a if lo is None else min(lo, a), b if hi is None else max(hi, b)
            else:
                if lo is not None:
                    spans.append((lo, hi))
        except (KeyError, TypeError, ValueError):  # no usable statistics: the hash table
            continue
    return spans


class _Files:
    """One ``ParquetFile`` per thread (a reader is not shared between threads)."""

    def __init__(self, path: str, dictionaries: list):
        self.path, self.dictionaries = path, dictionaries
        self.local = threading.local()

    def get(self):
        import pyarrow.parquet as pq

        f = getattr(self.local, "file", None)
        if f is None:
            f = self.local.file = pq.ParquetFile(self.path, read_dictionary=self.dictionaries)
        return f

    def group(self, i: int, columns: list) -> list:
        """Row group ``i``'s ``columns`` as record batches (one per chunk)."""
        return self.get().read_row_group(i, columns=columns, use_threads=False).to_batches()


def _batches(files: _Files, groups, columns: list, batch_rows: int, in_flight: int):
    """The record batches of ``columns`` in file order: row groups decoded by the pool, at most
    ``in_flight`` ahead (or, ``groups`` None, pyarrow's batches of ``batch_rows``)."""
    from ._pool import pool

    if groups is None:
        yield from files.get().iter_batches(
            batch_size=batch_rows, columns=columns, use_threads=True
        )
        return
    ahead: deque = deque()
    nxt = 0
    for _ in groups:
        while nxt < len(groups) and len(ahead) < min(in_flight, GROUPS_AHEAD):
            ahead.append(pool().submit(files.group, groups[nxt], columns))
            nxt += 1
        yield from ahead.popleft().result()


_NAMES = {"event": "ev", "user_agent": "ua"}


def _allocate(n: int, text: dict) -> dict:
    cols = {
        "row_id": fresh(n, np.int32 if n < 2**31 - 1 else np.int64),
        "_t": fresh(n, np.int64),
        "user": fresh(n, np.int32),
        "device": fresh(n, np.int32),
    }
    for c in text:
        cols[_NAMES[c]] = fresh(n, np.int16)
    return cols


class _IdThread:
    """One thread coding the integer ids in file order (see ``_clean_arrays.IntCoder``), once
    numba is ready: the batches put by the reader, or (``groups`` given) the row groups whose
    ids the pool decodes for it, at most ``GROUPS_AHEAD`` ahead (``IDS_AHEAD`` once numba is
    ready)."""

    def __init__(self, coder, cols: dict, refs: dict, files, groups):
        import queue

        self.coder, self.cols, self.refs = coder, cols, refs
        self.files, self.groups = files, groups
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="parcours-ids", daemon=True)
        self.thread.start()

    def _item(self, batch, off: int):
        refs = [(name, self.refs[c]) for c, name in (("user_id", "user"), ("device_id", "device"))]
        return off, batch.num_rows, [(name, _col(batch, r)) for name, r in refs]

    def put(self, batch, off: int) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(self._item(batch, off))

    def _code(self, item) -> None:
        off, m, parts = item
        for name, col in parts:
            if col is None:
                self.cols[name][off : off + m] = -1
            else:
                self.coder.code(col, self.cols[name], off)

    def _run(self) -> None:
        from ._clean_arrays import kernels

        try:
            if self.groups is not None:
                self._run_groups()
                return
            kernels()
            while (item := self.queue.get()) is not None:
                self._code(item)
        except BaseException as exc:  # noqa: BLE001 - raised in the reading thread
            self.error = exc

    def _run_groups(self) -> None:
        from ._clean_arrays import kernels, kernels_ready
        from ._pool import pool

        columns = sorted({r for r in self.refs.values() if r})
        ahead: deque = deque()
        nxt = off = 0
        for _ in self.groups:
            most = IDS_AHEAD if kernels_ready() else GROUPS_AHEAD
            while nxt < len(self.groups) and len(ahead) < most:
                ahead.append(pool().submit(self.files.group, self.groups[nxt], columns))
                nxt += 1
            batches = ahead.popleft().result()
            if self.stopped:
                return
            kernels()  # (holding at most GROUPS_AHEAD row groups' ids meanwhile)
            for batch in batches:
                self._code(self._item(batch, off))
                off += batch.num_rows

    def close(self) -> None:
        """Wait for every batch to be coded (raising what the thread raised)."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _col(batch, ref):
    if ref is None:
        return None
    col = batch.column(ref)
    return col if col.type == pa.int64() else col.cast(pa.int64())


def _indices(arr, n_lut: int) -> np.ndarray:
    """The dictionary indices of ``arr``, a missing value as ``n_lut - 1`` (the lut's -1)."""
    idx = arr.indices
    if idx.null_count:
        idx = pc.fill_null(idx, n_lut - 1)
    return idx.to_numpy(zero_copy_only=False)


def _canonical(eng, raw: list, codes: np.ndarray, text_expr) -> pa.Array:
    """The canonical text of the raw values (DuckDB's ``text_expr``), distinct, in order of
    first appearance; ``codes`` (into ``raw``) recoded into them in place (-1 for blank)."""
    q = eng.q
    reg = eng.register(
        pa.table({"i": np.arange(len(raw), dtype=np.int64), "v": pa.array(raw, pa.string())}),
        "dictionary",
    )
    tab = eng.arrow(f"SELECT i, {text_expr(eng, 'v')} AS c FROM {q(reg)} ORDER BY i")
    eng.drop(reg)
    c = tab.column("c").combine_chunks() if tab.num_rows else pa.array([], pa.string())
    c = c.cast(pa.string())
    values = pc.unique(pc.drop_null(c))
    if len(values) == len(raw) and pc.all(pc.equal(values, c)).as_py() is not False:
        return values  # already canonical and distinct: the codes stand
    to = np.asarray(pc.fill_null(pc.index_in(c, values), -1).to_numpy(zero_copy_only=False))
    lut = np.append(to.astype(np.int16), np.int16(-1))  # a code of -1 picks the last entry
    codes[:] = lut[codes]
    return values
