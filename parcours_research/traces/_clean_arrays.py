"""The DuckDB fast path of :func:`~.clean.clean` and :func:`~.identity.stitch`.

DuckDB reads the narrow columns once, in file order, in parallel: ``row_id``, the timestamp in
microseconds, and a 64-bit hash of each row's user id, device id, event name and user agent. The
distinct values of those columns come once, with their hashes (checked to be collision-free), and
a hash table turns every row's hashes into integer codes (``_kernels.lookup_into``) -- no text
crosses over row by row. A log straight from :func:`~.io.read_events` is read from its raw
columns: the canonical text (trimmed, blank as missing) is computed by the same SQL expression on
the distinct values only. Integer id columns are hashed as integers (never cast to text row by
row), and time-zone-aware timestamps are streamed as stored, then brought to microseconds in the
plausible window by NumPy (``_time.instants_into``). From then on every row is a handful of
integers:

- user and device ids share one dictionary (``ids``), so that ``coalesce(device_id, user_id)``
  (the actor) and ``coalesce(user_id, device_id)`` (the person) are integer choices;
- robot user agents are found on the distinct user agents (the same regular expression, run by
  DuckDB), never row by row;
- one time order (logs exported in time order, or in a few time-ordered runs, are merged in one
  pass), then a stable counting sort by an integer key gives the rows in (key, timestamp,
  row_id) order: per actor for cleaning, per person for sessions, funnels and paths; runs of
  equal keys give duplicates, gaps, rates and near duplicates. No window function, no second
  time sort. The loops are compiled by numba (``_kernels``).

The results are exactly those of the SQL written for every engine (``DuckDBEngine(fast=False)``
and Spark); the tests compare the two row by row. When an exact answer is not guaranteed (a
64-bit hash collision among distinct values), the SQL path runs instead.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _time
from ._pages import fresh
from .eventlog import EventLog

NONE = np.iinfo(np.int64).min
# reason codes, in clean.REASONS order
KEPT, UNPARSEABLE, OUTSIDE, BOT_UA, BOT_BEHAVIOUR, EXACT, NEAR = range(7)
#: columns the arrays hold; a log with other columns compares them in SQL for exact duplicates
NARROW = {"row_id", "user_id", "device_id", "timestamp", "event", "user_agent"}
#: rows per batch when a Parquet log is streamed from DuckDB (see ``fetch``)
BATCH_ROWS = 1 << 17
#: batches read but not yet decoded, at most (see ``fetch``)
IN_FLIGHT = 4


class Fallback(Exception):
    """The arrays cannot answer exactly (a hash collision): use the SQL path."""


@dataclass
class Encoded:
    """Rows as aligned integer arrays (in the order read), and which of them are the log's.

    ``user`` and ``device`` are codes into ``ids`` (-1 when missing), ``ev`` codes into
    ``events`` (-1 when missing), ``t`` microseconds (``NONE`` when missing). ``rows`` lists the
    positions that belong to the log, in (timestamp, row_id) order: cleaning and stitching
    narrow it or recode ``user`` without copying the other arrays. ``keep``, when known, is 0
    at exactly the positions in ``rows`` (cleaning's outcome of every position), so that a
    pass that does not need the time order can read the positions in order.
    """

    row_id: np.ndarray
    t: np.ndarray
    user: np.ndarray
    device: np.ndarray
    ev: np.ndarray
    ids: pa.Array
    events: list
    rows: np.ndarray
    keep: np.ndarray | None = None


# -- primitives ---------------------------------------------------------------------------------
def gather(index: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """``[a[index] for a in arrays]``, side by side in threads for long arrays (NumPy releases
    the GIL while it gathers)."""
    if len(index) < 1_000_000 or len(arrays) < 2:
        return [a[index] for a in arrays]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(arrays), 4)) as pool:
        return list(pool.map(lambda a: a[index], arrays))


def _index_in(values, dictionary) -> np.ndarray:
    """int64 position of each value in ``dictionary`` (-1 when absent)."""
    out = pc.fill_null(pc.index_in(values, dictionary), -1)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks() if out.num_chunks else pa.array([], pa.int32())
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=np.int64)


# -- reading ------------------------------------------------------------------------------------
_LOADING: list = []
#: set once numba has started and the first kernels can be called (see ``load_kernels_soon``)
_READY = threading.Event()


def load_kernels_soon() -> None:
    """Import numba and the compiled kernels in a background thread, once per process.

    Importing numba takes about 0.2 s (LLVM, its registries); started here it overlaps with
    reading the file (and DuckDB's first queries), which release the GIL. A later ``from .
    import _kernels`` waits for the import under way (Python's import lock), so nothing runs
    twice; :func:`kernels` waits for the whole start. Once started, the thread goes on loading
    the kernels of the later steps from numba's cache (``_kernels._preload``)."""
    if _LOADING:
        return

    def load():
        try:
            from . import _kernels, _stream_kernels

            _kernels._start(_stream_kernels, ready=_READY.set)
        finally:
            _READY.set()

    thread = threading.Thread(target=load, name="parcours-numba", daemon=True)
    _LOADING.append(thread)
    thread.start()


def kernels():
    """The compiled kernels (``_kernels``), once numba has started.

    Waits for :func:`load_kernels_soon`'s thread to have started numba rather than only for
    the module's import: a kernel called while numba's registries are still loading would
    load them in full (``scipy.linalg`` included, about 0.3 s), which ``_kernels._start``
    avoids."""
    load_kernels_soon()
    _READY.wait()
    from . import _kernels

    return _kernels


def kernels_ready() -> bool:
    """Whether :func:`kernels` would return at once (numba started)."""
    return _READY.is_set()


#: DuckDB types whose values are coded from the 64-bit hash of the raw value: text, and the
#: integer types (an id column of numbers is never cast to text row by row: its distinct values
#: are, once).
_INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


def _family(typ: str) -> str | None:
    """``"text"``, ``"integer"`` or None (a type read through the log's own view)."""
    t = str(typ).upper()
    if t.startswith("VARCHAR"):
        return "text"
    if t in _INTEGER_TYPES:
        return "integer"
    return None


def _origin(log: EventLog):
    """The raw source of a log just read by ``read_events`` when its mapped id, event and user
    agent columns are text or integers, or None."""
    origin = getattr(log, "_origin", None)
    if not origin:
        return None
    for canon, raw in origin["raw"].items():
        if raw and _family(origin["types"].get(canon, "")) is None:
            return None
    return origin


def _u64(col) -> np.ndarray:
    """A UBIGINT column of a batch as uint64."""
    return col.to_numpy(zero_copy_only=False).view(np.uint64)


def _distinct(eng, refs: list[str], src: str, canonical: bool, text_expr, types=None):
    """Distinct values of one or more columns, for coding each row from a 64-bit hash.

    Returns ``(values, hashes, code)``: the distinct canonical values (one dictionary for all
    the columns), the hash of every distinct raw value and the position of its canonical value
    in ``values`` (-1 when the text is blank). The hashes are checked to be distinct and
    non-zero (0 marks a missing value), so that coding a row by its hash is exact.

    ``types`` (one per ref) groups the columns by family: the raw values of each family are
    hashed as they are (an integer id is hashed as an integer, never cast to text row by row);
    only their distinct values become text.
    """
    if not refs:
        return pa.array([], pa.string()), np.zeros(0, np.uint64), np.zeros(0, np.int32)
    fams = [_family(t) or "text" for t in types] if types else ["text"] * len(refs)
    groups: dict[str, list[str]] = {}
    for r, f in zip(refs, fams):
        groups.setdefault(f, []).append(r)
    tabs = [
        _distinct_query(eng, rs, src, canonical, text_expr, fam == "integer")
        for fam, rs in groups.items()
    ]
    tab = tabs[0] if len(tabs) == 1 else pa.concat_tables([t.cast(tabs[0].schema) for t in tabs])
    # a writable copy (few values): a read-only array would be another compiled specialization
    known = np.array(tab.column("h").to_numpy(), dtype=np.uint64)
    c = tab.column("c").combine_chunks() if tab.num_rows else pa.array([], pa.string())
    c = c.cast(pa.string())
    if (known == 0).any():
        raise Fallback("a value hashes to 0")
    order = np.argsort(known, kind="stable")
    dup = known[order][1:] == known[order][:-1]
    if dup.any():
        # the same hash in two families is exact only when it stands for the same text
        i = np.flatnonzero(dup)
        a, b = c.take(pa.array(order[i])), c.take(pa.array(order[i + 1]))
        if len(tabs) == 1 or a.to_pylist() != b.to_pylist():
            raise Fallback("two values share a hash")
        keep = np.sort(order[np.r_[True, ~dup]])
        known, c = known[keep], c.take(pa.array(keep))
    if len(tabs) == 1 and pc.all(tab.column("same")).as_py() is not False:
        # the raw values are already canonical (and distinct): each is its own code
        return c, known, np.arange(len(c), dtype=np.int32)
    values = pc.unique(pc.drop_null(c))
    return values, known, _index_in(c, values).astype(np.int32)


def _distinct_query(eng, refs: list[str], src: str, canonical: bool, text_expr, integer: bool):
    """``h, c, same`` of the distinct non-null values of ``refs`` (columns of one family):
    their hash, canonical text, and whether that text is the raw value itself (always true for
    integers: distinct numbers have distinct texts, never blank)."""
    canon = text_expr(eng, "v") if canonical or integer else "v"
    same = "TRUE" if integer else f"({canon} IS NOT DISTINCT FROM v)"
    union = " UNION ALL ".join(f"SELECT {r} AS v FROM {src}" for r in refs)
    return eng.arrow(
        f"SELECT {_hash('v', integer)} AS h, {canon} AS c, {same} AS same "
        f"FROM (SELECT DISTINCT v FROM ({union}) AS u) AS d WHERE v IS NOT NULL"
    )


#: mixed into the hash of integers: DuckDB hashes the integer 0 to 0, the mark of a missing
#: value (a value that would then hash to 0 sends the log to the SQL path, see ``_distinct``)
_INT_SALT = 0x9E3779B97F4A7C15


def _hash(ref: str, integer: bool) -> str:
    """The 64-bit hash of a value of ``ref`` (integers salted, see ``_INT_SALT``)."""
    return f"xor(hash({ref}), CAST({_INT_SALT} AS UBIGINT))" if integer else f"hash({ref})"


def _hash_expr(ref: str | None, typ=None) -> str:
    """The row's 64-bit hash of ``ref`` (0 when missing); ``typ`` its DuckDB type."""
    if ref is None:
        return "CAST(0 AS UBIGINT)"
    h = _hash(ref, _family(typ or "") == "integer")
    return f"CASE WHEN {ref} IS NULL THEN CAST(0 AS UBIGINT) ELSE {h} END"


def time_order(row_id: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Positions of the rows in (timestamp, row_id) order (int32 when they fit).

    Exports come in time order, or as a few runs in time order (one per file or export job):
    those are merged in one pass; anything else is sorted."""
    from . import _kernels as k

    n = len(t)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    if n > 1 and not k.increasing(row_id):
        by_row = np.argsort(row_id, kind="stable")
        return by_row[np.argsort(t[by_row], kind="stable")].astype(dtype)
    runs = k.sorted_runs(t, 64)
    if len(runs) == 0:  # too many runs to merge
        return np.argsort(t, kind="stable").astype(dtype)
    return merge_in_parts(t, runs, fresh(n, dtype))


def merge_in_parts(t: np.ndarray, runs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The stable merge of the sorted runs of ``t`` (starts, then ``len(t)``) into ``out``, cut
    by time into one piece per core: a piece takes from every run the rows in its time range
    (ties all in one piece), so the pieces are merged side by side."""
    from . import _kernels as k
    from . import _stream_kernels as sk

    n = len(t)
    lo, hi = runs[:-1].astype(np.int64), runs[1:].astype(np.int64)
    parts = k.n_parts(n)
    longest = int(np.argmax(hi - lo))
    pivots = t[lo[longest] + (hi[longest] - lo[longest]) * np.arange(1, parts) // parts]
    cut = (
        [lo]
        + [
            np.array([a + np.searchsorted(t[a:b], v) for a, b in zip(lo, hi)], np.int64)
            for v in pivots
        ]
        + [hi]
    )
    calls, base = [], 0
    for a, b in zip(cut[:-1], cut[1:]):
        calls.append((t, a, b, out, base))
        base += int((b - a).sum())
    k.run_all(sk.merge_ranges, calls)
    return out


def fetch(log: EventLog, want_ua: bool):
    """Read the narrow columns of ``log`` once.

    Returns ``(Encoded, ua_code, ua_values)``: ``ua_code`` gives per row the position of its
    user agent in ``ua_values`` (-1 when missing); both are None when the log has no user agent
    or ``want_ua`` is false.

    No text crosses over from DuckDB row by row: DuckDB gives each row the 64-bit hashes of
    its ids, event and user agent, and the distinct values once, with their hashes; a hash
    table (see ``_kernels``) turns each row's hashes into codes. A log straight from
    :func:`~.io.read_events` is read from its raw columns: the canonical text (trimmed, blank
    as missing) is computed by the same SQL expression on the distinct raw values only. Its
    integer ids (of types that fit in 64 bits) come as they are and are coded while they
    stream (``IntCoder``): no query lists them beforehand.
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

        def ref(c):
            return q(raw[c]) if raw.get(c) else None

    else:
        src = log.ref
        t_expr = "timestamp"
        has = set(log.columns)

        def ref(c):
            return c if c in has else None

    canonical = origin is not None
    load_kernels_soon()  # numba's start-up beside DuckDB's first queries
    user_ref, dev_ref, ev_ref = ref("user_id"), ref("device_id"), ref("event")
    ua_ref = ref("user_agent") if want_ua else None
    want_ua = ua_ref is not None
    types = origin["types"] if origin is not None else {}
    id_refs = [(r, types.get(c)) for r, c in ((user_ref, "user_id"), (dev_ref, "device_id")) if r]
    coder = IntCoder() if id_refs and all(_fits_int64(t) for _, t in id_refs) else None
    if coder is None:
        ids, id_known, id_code = _distinct(
            eng, [r for r, _ in id_refs], src, canonical, text_expr, [t for _, t in id_refs]
        )
    native = _time.native_instant(log) if origin is not None else None
    direct = None
    if coder is not None:  # one local Parquet file: its columns read by pyarrow
        from . import _direct

        refs = {c: origin["raw"].get(c) for c in ("user_id", "device_id", "event", "user_agent")}
        direct = _direct.plan(origin, native, refs, want_ua)
        if direct is not None:
            try:
                cols, values = _direct.read(eng, direct, coder, text_expr, BATCH_ROWS, IN_FLIGHT)
                return (
                    _encoded(cols, coder.values(), values["ev"]),
                    cols.get("ua"),
                    values.get("ua"),
                )
            except _direct.NotDirect:
                coder = IntCoder()
    parts = [
        "row_id",
        f"{q(native)} AS _t" if native else f"coalesce({eng.us(t_expr)}, {NONE}) AS _t",
        *(
            [_int_expr(user_ref, "_uh"), _int_expr(dev_ref, "_dh")]
            if coder is not None
            else [
                f"{_hash_expr(user_ref, types.get('user_id'))} AS _uh",
                f"{_hash_expr(dev_ref, types.get('device_id'))} AS _dh",
            ]
        ),
        f"{_hash_expr(ev_ref, types.get('event'))} AS _eh",
    ]
    events, ev_known, ev_code = _distinct(
        eng, [ev_ref] if ev_ref else [], src, canonical, text_expr, [types.get("event")]
    )
    ua_values = None
    if want_ua:
        # the distinct user agents (few): robots are judged on them, never row by row
        ua_values, ua_known, ua_code = _distinct(
            eng, [ua_ref], src, canonical, text_expr, [types.get("user_agent")]
        )
        parts.append(f"{_hash_expr(ua_ref, types.get('user_agent'))} AS _ah")
    k = kernels()  # waits for ``load_kernels_soon`` when it is still loading

    tables = {
        "ids": None if coder is not None else k.hash_table(id_known, id_code),
        "ev": k.hash_table(ev_known, ev_code),
        "ua": k.hash_table(ua_known, ua_code) if want_ua else None,
    }
    sizes = {"ev": len(events), "ua": len(ua_values) if want_ua else 0}
    cols = _stream(
        eng, origin, src, f"SELECT {', '.join(parts)} FROM {src}", native, tables, coder, sizes
    )
    if coder is not None:
        ids = coder.values()
    return _encoded(cols, ids, events), cols.get("ua"), ua_values


def _encoded(cols: dict, ids: pa.Array, events: pa.Array) -> Encoded:
    """The rows read, in (timestamp, row_id) order."""
    row_id, t, user, dev, ev = (cols[c] for c in ("row_id", "_t", "user", "device", "ev"))
    rows = time_order(row_id, t)
    return Encoded(row_id, t, user, dev, ev, ids, events.to_pylist(), rows)


def _stream(eng, origin, src, sql, native, tables, coder, sizes) -> dict:
    """The columns of ``sql`` (``row_id, _t, _uh, _dh, _eh[, _ah]``) read once, coded into
    integer arrays: ``row_id, _t, user, device, ev[, ua]``."""
    from . import _kernels as k

    if origin is not None and origin.get("counted"):
        # Parquet: the row count comes from the files' metadata and ``row_id`` is the position
        # (0 .. n-1), so the arrays are allocated first and filled batch by batch while
        # DuckDB produces them: about 40 bytes a row less at the peak than holding the whole
        # result, and small batches (128 Ki rows) reuse the same memory rather than touch
        # fresh pages (measured on 1e7 events: 90,000 page faults and 0.3-0.6 s of system
        # time fewer than batches of 1 Mi rows)
        n = int(eng.arrow(f"SELECT count(*) AS n FROM {src}").column(0)[0].as_py())
        small = n < 2**31 - 1
        batches = eng.arrow_batches(sql, BATCH_ROWS)
    else:
        tab = eng.arrow(sql)
        n = tab.num_rows
        lo_hi = pc.min_max(tab.column("row_id")).as_py() if n else {"min": 0, "max": 0}
        small = lo_hi["min"] >= 0 and lo_hi["max"] < 2**31 - 1
        batches = iter(tab.to_batches())
        del tab
    cols = {
        "row_id": fresh(n, np.int32 if small else np.int64),
        "_t": fresh(n, np.int64),
        "user": fresh(n, np.int32),
        "device": fresh(n, np.int32),
        "ev": fresh(n, np.int16 if sizes["ev"] < 2**15 - 1 else np.int32),
    }
    if tables["ua"] is not None:
        cols["ua"] = fresh(n, np.int16 if sizes["ua"] < 2**15 - 1 else np.int32)
    coded = ["ev"] + (["ua"] if tables["ua"] is not None else [])
    if coder is None:
        coded = ["user", "device", *coded]
    position = {"user": 2, "device": 3, "ev": 4, "ua": 5}
    table_of = {"user": "ids", "device": "ids", "ev": "ev", "ua": "ua"}

    def copy(batch, off, before, done):
        m = batch.num_rows
        missing = 0
        try:
            cols["row_id"][off : off + m] = batch.column(0).to_numpy(zero_copy_only=False)
            if native:  # the instants as read, to microseconds in the plausible window
                _time.instants_into(batch.column(1), cols["_t"][off : off + m])
            else:
                cols["_t"][off : off + m] = batch.column(1).to_numpy(zero_copy_only=False)
            for name in coded:
                col = _u64(batch.column(position[name]))
                missing += k.lookup_into(col, *tables[table_of[name]], cols[name], off)
            if coder is not None:  # in batch order: codes in order of first appearance
                if before is not None:
                    before.wait()
                coder.code(batch.column(2), cols["user"], off)
                coder.code(batch.column(3), cols["device"], off)
        finally:
            if done is not None:
                done.set()
        return missing

    # each batch is decoded in a worker thread while the next one is read; at most
    # IN_FLIGHT batches wait, so that slow workers (a busy machine) do not let DuckDB's
    # batches pile up in memory
    pending, off, missing, before = deque(), 0, 0, None
    for batch in batches:
        m = batch.num_rows
        if off + m > n:
            raise Fallback("the source has more rows than counted")
        done = threading.Event() if coder is not None else None
        pending.append(k.pool().submit(copy, batch, off, before, done))
        before = done
        off += m
        del batch
        while len(pending) > IN_FLIGHT:
            missing += pending.popleft().result()
    missing += sum(f.result() for f in pending)
    del pending
    if off != n:
        raise Fallback("the source has fewer rows than counted")
    if missing:  # pragma: no cover - defensive: every hash comes from the distinct values
        raise Fallback("a value is missing from its dictionary")
    return cols


#: integer types whose values fit in 64 bits: coded while they stream (``IntCoder``)
_INT64_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_NO_BITS = np.zeros(0, np.uint8)
_NO_BITS.flags.writeable = False


def _fits_int64(typ) -> bool:
    return str(typ or "").upper() in _INT64_TYPES


def _int_expr(ref: str | None, name: str) -> str:
    """The raw integer id as BIGINT (NULL when missing or absent)."""
    return f"CAST({ref if ref else 'NULL'} AS BIGINT) AS {name}"


def _int_buffers(col):
    """``(values, validity bits, bit offset)`` of an Arrow int64 array, without copies (the
    bits empty when no value is missing)."""
    if len(col) == 0:
        return np.zeros(0, np.int64), _NO_BITS, 0
    validity, data = col.buffers()[:2]
    vals = np.frombuffer(data, np.int64, count=len(col) + col.offset)[col.offset :]
    if col.null_count == 0 or validity is None:
        return vals, _NO_BITS, 0
    return vals, np.frombuffer(validity, np.uint8), col.offset


class IntCoder:
    """Integer ids coded in order of first appearance, batch after batch (see
    ``_stream_kernels.code_ints``: ids in two windows looked up directly, others in a hash
    table grown as it fills); ``values()`` are the ids as text."""

    #: ids ``0 .. SMALL - 1`` are looked up directly (4 bytes each, 4 MB), unless
    #: :meth:`windows` says where the ids are
    SMALL = 1 << 20

    def __init__(self, cap: int = 1 << 16, small: int = SMALL):
        self.lo = [0, 0]  # the first id of each window of direct look-ups
        self.small = [np.zeros(small, np.int32), np.zeros(0, np.int32)]  # code + 1, 0: unseen
        self.state = np.zeros(2, np.int64)  # values seen, values in the hash table
        self.seen = np.empty(cap, np.int64)
        self.keys = np.zeros(cap, np.int64)
        self.slots = np.full(cap, -1, np.int32)

    @property
    def n(self) -> int:
        return int(self.state[0])

    def windows(self, spans: list, budget: int) -> None:
        """Look the ids up directly in (at most) two windows covering ``spans``, the
        ``(lowest, highest)`` id of each column (from a Parquet file's statistics), when no id
        has been coded yet: spans that overlap or nearly touch are joined, and a window longer
        than ``budget`` ids (or than the first window, if longer) is left to the hash table. The
        windows are zeroed memory, touched only where ids fall. The codes are the same whatever
        the windows."""
        spans = sorted((int(lo), int(hi)) for lo, hi in spans if lo <= hi)
        if self.n or not spans:
            return
        most = max(len(self.small[0]), budget)
        joined: list = []
        for lo, hi in spans:
            if joined and lo - joined[-1][1] <= self.SMALL // 4:
                joined[-1][1] = max(joined[-1][1], hi)
            else:
                joined.append([lo, hi])
        fit = [(lo, hi) for lo, hi in joined if hi - lo < most]
        if len(fit) < 2 and len(joined) > len(fit):  # an id span too wide: keep ids 0, 1, ...
            fit.append((0, len(self.small[0]) - 1))
        fit = sorted(fit, key=lambda s: s[0] - s[1])[:2] + [(0, -1)] * 2
        self.lo = [lo for lo, _ in fit[:2]]
        self.small = [np.zeros(hi - lo + 1, np.int32) for lo, hi in fit[:2]]

    def code(self, col, out: np.ndarray, offset: int) -> None:
        """``out[offset:offset + len(col)]`` = the codes of ``col`` (-1 when missing)."""
        from . import _stream_kernels as sk

        vals, bits, bit_off = _int_buffers(col)
        (lo0, lo1), (small0, small1) = self.lo, self.small
        i = 0
        while True:
            i = sk.code_ints(
                vals,
                bits,
                bit_off,
                lo0,
                small0,
                lo1,
                small1,
                self.keys,
                self.slots,
                self.seen,
                self.state,
                out,
                offset,
                i,
            )
            if i >= len(vals):
                return
            self._grow()

    def _grow(self) -> None:
        """More room: ``seen`` twice as long when full, the hash table twice as large when half
        full (its values inserted again, keeping their codes)."""
        from . import _stream_kernels as sk

        n, n_hashed = int(self.state[0]), int(self.state[1])
        if n >= len(self.seen):
            self.seen = np.concatenate([self.seen, np.empty(len(self.seen), np.int64)])
        if n_hashed < len(self.keys) // 2:
            return
        seen = self.seen[:n]
        direct = np.zeros(n, bool)
        for lo, small in zip(self.lo, self.small):
            direct |= (seen >= lo) & (seen <= lo + (len(small) - 1))
        codes = np.flatnonzero(~direct)
        hashed = seen[codes]
        hashed.flags.writeable = False  # the same compiled version as the streamed values
        cap = 2 * len(self.keys)
        self.keys, self.slots = np.zeros(cap, np.int64), np.full(cap, -1, np.int32)
        state = np.zeros(2, np.int64)
        none = self.small[0][:0]
        sk.code_ints(
            hashed,
            _NO_BITS,
            0,
            0,
            none,
            0,
            none,
            self.keys,
            self.slots,
            np.empty(len(hashed), np.int64),
            state,
            np.empty(len(hashed), np.int32),
            0,
            0,
        )
        used = self.slots >= 0
        self.slots[used] = codes[self.slots[used]]  # the order of insertion -> the codes

    def values(self) -> pa.Array:
        """The ids of codes 0, 1, ... as text (as DuckDB casts an integer to text)."""
        return pa.array(self.seen[: self.n]).cast(pa.string())


def _with_rows(enc: Encoded, rows: np.ndarray, user: np.ndarray | None = None, ids=None, keep=None):
    """``enc`` with other rows (then ``keep`` theirs, or unknown), user codes or ids."""
    if keep is None and rows is enc.rows:
        keep = enc.keep
    return Encoded(
        enc.row_id,
        enc.t,
        enc.user if user is None else user,
        enc.device,
        enc.ev,
        enc.ids if ids is None else ids,
        enc.events,
        rows,
        keep,
    )


# -- cleaning -----------------------------------------------------------------------------------
def reasons(enc: Encoded, ua, ua_bot, bounds, rules, duplicates: bool, tol, sql_dups=None):
    """Outcome code of every row of ``enc`` (see ``REASONS``) and the behavioural robots.

    ``sql_dups(row_ids) -> row_ids`` finds the exact duplicates among candidate rows when the
    log has columns the arrays do not hold. Returns ``(reason int8 array, bots dict or None)``.
    """
    from . import _kernels as k

    t = enc.t
    lo = hi = NONE
    if bounds is not None:
        lo = NONE if bounds[0] is None else int(bounds[0])
        hi = NONE if bounds[1] is None else int(bounds[1])
    ua_arr = np.zeros(0, np.int32) if ua is None else ua
    bot_ua = (
        np.asarray(ua_bot, dtype=np.bool_)
        if ua is not None and ua_bot is not None
        else np.zeros(0, np.bool_)
    )
    n_ids = len(enc.ids)
    # reasons 1-3, and the rows passing them in (actor, timestamp, row_id) order
    # (the events in actor order only serve near duplicates); when the rows are every position
    # and row ids follow the positions, the positions are sorted in their own order
    every = len(enc.rows) == len(t) and k.increasing(enc.row_id)
    ev, want_ev = enc.ev, tol is not None
    reason, o, a_o, t_o, ev_o = k.first_reasons(
        enc.rows, t, ev, enc.user, enc.device, ua_arr, bot_ua, lo, hi, n_ids, want_ev, every
    )
    # exact duplicates: identical rows share actor and instant; compare those candidates only
    ci = k.tie_candidates(a_o, t_o)
    if len(ci) == 0:
        dup = np.zeros(len(o), dtype=bool)
    elif sql_dups is not None:
        dup = np.zeros(len(o), dtype=bool)
        rows = o[ci]
        dup[ci] = np.isin(enc.row_id[rows], sql_dups(enc.row_id[rows]))
    else:
        dup = k.narrow_duplicates(o, ci, a_o, t_o, enc.ev, enc.user, enc.device, ua_arr)
    b_actor, b_n, b_mpm, b_cv, b_rule = k.robots_and_near(
        o,
        a_o,
        t_o,
        ev_o,
        dup,
        reason,
        len(enc.events),
        rules is not None,
        int(rules.max_per_minute) if rules is not None else 0,
        int(rules.min_events) if rules is not None else 0,
        float(rules.max_interval_cv) if rules is not None else 0.0,
        bool(duplicates),
        tol is not None,
        int(tol) if tol is not None else 0,
    )
    bots = None
    if rules is not None:
        bots = {
            "actor": enc.ids.take(pa.array(b_actor)),
            "n_events": b_n,
            "max_per_minute": b_mpm,
            "interval_cv": b_cv,
            "rule": np.array(["regularity", "rate", "rate+regularity"], dtype=object)[
                b_rule
            ].tolist(),
        }
    return reason, bots


def kept(enc: Encoded, reason: np.ndarray) -> Encoded:
    from . import _kernels as k

    every = len(enc.rows) == len(enc.t)  # rows that are every position: ``reason`` tells them
    return _with_rows(enc, k.kept_rows(enc.rows, reason), keep=reason if every else None)


# -- stitching ----------------------------------------------------------------------------------
def event_links(enc: Encoded, login_codes=None):
    """``device_id, user_id, n`` for every pair seen on one row (restricted to login events),
    and the codes of the pairs' devices and users."""
    from . import _kernels as k

    n_ids = max(len(enc.ids), 1)
    login = np.zeros(0, np.bool_)
    if login_codes is not None:
        login = np.zeros(max(len(enc.events), 1), np.bool_)
        login[np.asarray(login_codes, dtype=np.int64)] = True
        if not login.any():  # no login event in the log: no link
            login = None
    if login is None:
        dev_codes = user_codes = n = np.zeros(0, np.int64)
    else:
        dev_codes, user_codes, n = k.device_links(
            enc.rows, enc.user, enc.device, enc.ev, login, n_ids, enc.keep
        )
    table = pa.table(
        {
            "device_id": enc.ids.take(pa.array(dev_codes, pa.int64())),
            "user_id": enc.ids.take(pa.array(user_codes, pa.int64())),
            "n": pa.array(n, pa.int64()),
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
    from . import _kernels as k

    user = k.stitch_users(enc.user, enc.device, dev_map)
    return _with_rows(enc, enc.rows, user=user, ids=ids)
