"""Events held in memory (a pandas DataFrame, a pyarrow Table, a polars DataFrame) as an event
log, without a detour.

:func:`canonical_frame` gives the frame that :func:`~.eventlog.as_log` registers in DuckDB: the
caller's columns, shared and not copied, wherever they already have the dtype the pipeline reads
(``datetime64[us, UTC]`` timestamps, pandas string columns, int64 ``row_id``); only the other
columns are converted, as before. DuckDB scans the registered frame in place (pandas' numpy and
Arrow buffers), and pandas' copy-on-write keeps the log's rows as they were when the caller
changes the frame later.

:func:`sorted_arrays` then gives the analyses (sessions, funnels, transitions, variants) the
log's rows in (person, timestamp, row_id) order straight from those buffers: the person key and
the event name coded by Arrow's hash tables, the rows put in time order and then grouped by
person by the same counting sort as the file path (``_clean_arrays.time_order`` and
``_arrays._from_encoded``), with no query and no second copy of the text columns. The kernels
that follow are the file path's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["as_pandas", "canonical_frame", "prime", "sorted_arrays"]

#: canonical text columns (pandas ``string`` dtype in the registered frame)
TEXT = ("user_id", "device_id", "event", "session_id", "touchpoint", "user_agent")


def as_pandas(events):
    """A pandas DataFrame for a pyarrow Table or a polars DataFrame (sharing the text buffers:
    Arrow's strings become pandas' Arrow-backed ``str`` columns); other objects unchanged."""
    if isinstance(events, pa.Table):
        return events.to_pandas()
    mod = type(events).__module__
    if mod.startswith("polars") and hasattr(events, "to_arrow"):
        return events.to_arrow().to_pandas()
    return events


def _is_utc_us(dtype) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) and dtype.unit == "us" and str(dtype.tz) == "UTC"


def _nulls(n: int, index) -> pd.Series:
    """A column of ``n`` missing texts (pandas ``string`` dtype), without ``n`` Python objects."""
    try:
        arr = pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))
        return pd.Series(arr, index=index, dtype="string", copy=False)
    except (TypeError, ValueError):  # pragma: no cover - a pandas without Arrow strings
        return pd.Series([None] * n, index=index, dtype="string")


def _text(s: pd.Series) -> pd.Series:
    """``s.astype("string")``; a categorical of texts is decoded by Arrow (a take from its
    categories, about ten times faster than pandas' element by element conversion)."""
    if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(
        s.cat.categories.dtype
    ):
        try:
            arr = pa.array(s.array).cast(pa.large_string())
            return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index, dtype="string")
        except (pa.ArrowException, TypeError, ValueError):  # pragma: no cover - odd categories
            pass
    return s.astype("string")


def canonical_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame to register: ``row_id`` (int64, the position when absent), ``user_id`` and
    ``device_id`` (missing when absent), ``timestamp`` as ``datetime64[us, UTC]`` and the
    canonical text columns as pandas strings; a column that already has its dtype is the
    caller's own (no copy)."""
    frame = df.copy(deep=False)
    n = len(frame)
    if "row_id" not in frame.columns:
        frame.insert(0, "row_id", np.arange(n, dtype="int64"))
    for col in ("user_id", "device_id"):
        if col not in frame.columns:
            frame[col] = _nulls(n, frame.index)
    ts = frame["timestamp"]
    if not _is_utc_us(ts.dtype):
        frame["timestamp"] = ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    for col in TEXT:
        if col in frame.columns and not isinstance(frame[col].dtype, pd.StringDtype):
            frame[col] = _text(frame[col])
    if frame["row_id"].dtype != np.int64:
        frame["row_id"] = frame["row_id"].astype("int64")
    return frame


def _arrow(s: pd.Series) -> pa.Array:
    """The Arrow array behind a pandas string column (no copy for Arrow-backed strings)."""
    a = pa.array(s.array)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()  # a single chunk: no copy
    return a


def _codes(a: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Codes of ``a``'s values (int32, ``-1`` when missing) and the values of each code."""
    enc = pc.dictionary_encode(a)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    return np.asarray(codes, dtype=np.int32), enc.dictionary


def _person(frame: pd.DataFrame) -> pa.Array:
    """``coalesce(user_id, device_id)`` as an Arrow string array."""
    user = _arrow(frame["user_id"])
    if user.null_count == 0:
        return user
    device = _arrow(frame["device_id"])
    if device.null_count == len(device):
        return user
    if device.type != user.type:
        device = device.cast(user.type)
    return pc.coalesce(user, device)


def sorted_arrays(frame: pd.DataFrame):
    """The usable rows of a registered frame (a person and a timestamp) in (person, timestamp,
    row_id) order, as the analyses' arrays (``_arrays.Sorted``)."""
    from . import _arrays
    from ._clean_arrays import Encoded, time_order

    t = np.asarray(frame["timestamp"].array.asi8)  # the frame's own int64; NaT is NONE
    rid = frame["row_id"].to_numpy()
    small = len(rid) == 0 or (int(rid.min()) >= 0 and int(rid.max()) < 2**31 - 1)
    row_id = rid.astype(np.int32) if small else rid
    person, ids = _codes(_person(frame))
    ev, events = _codes(_arrow(frame["event"]))
    if len(events) < 2**15 - 1:  # as the file path codes events
        ev = ev.astype(np.int16)
    events = events.to_pylist()
    # person codes serve as both user and device: ``user`` is -1 only where the person is.
    # A frame grouped by person (codes are numbered in order of first appearance) is taken as
    # it is when each person's rows are in time order, which is checked; any other frame is
    # put in time order first (a frame in time order costs a check).
    if len(person) > 1 and bool(np.all(person[1:] >= person[:-1])):
        as_is = np.arange(len(t), dtype=np.int32 if len(t) < 2**31 - 1 else np.int64)
        out = _arrays._from_encoded(Encoded(row_id, t, person, person, ev, ids, events, as_is))
        if _in_order(out):
            return out
    rows = time_order(row_id, t)
    return _arrays._from_encoded(Encoded(row_id, t, person, person, ev, ids, events, rows))


def _in_order(s) -> bool:
    """Whether each person's rows are in (timestamp, row_id) order."""
    same = s.person[1:] == s.person[:-1]
    dt = s.t[1:] - s.t[:-1]
    back = same & ((dt < 0) | ((dt == 0) & (s.row_id[1:] < s.row_id[:-1])))
    return not back.any()


def prime(log) -> None:
    """Give a log over an in-memory frame its sorted arrays (once), so that the analyses skip
    DuckDB's sort; any other log is left as it is."""
    frame = getattr(log, "_frame", None)
    if frame is None or log._arrays is not None or not log.engine.fast:
        return
    log._arrays = sorted_arrays(frame)
