"""The event log object, the canonical columns, and how a pandas DataFrame becomes one.

An :class:`EventLog` is a lazy table inside an :class:`~.engine.Engine` (a DuckDB view over a
file, a DuckDB temporary table, a Spark view). Every public function of
:mod:`parcours_research.traces` accepts either an :class:`EventLog` or a pandas DataFrame with
the canonical columns; it returns an :class:`EventLog` for an :class:`EventLog` (still lazy) and
a DataFrame for a DataFrame. Only small results (tables of counts) are pulled into memory.

Canonical columns
-----------------
``row_id``       position of the row in the file(s) (0-based; several files sorted by path
                 and put end to end, however they were named); breaks ties between equal
                 timestamps the same way in every engine. For a GA4 export, the rank in GA4's
                 own order (batch fields, then automatic events, see ``_ga4``); the position
                 is then ``file_row``.
``user_id``      the customer id when known (after :func:`stitch`, the device id otherwise).
``device_id``    device or cookie id, when known.
``timestamp``    time-zone-aware instant (stored in UTC; shown in the log's time zone).
``event``        event name.
``session_id``   after :func:`sessionize`: ``"<user>:<n>"``, n = 1, 2, ... per user.
``touchpoint``   after :func:`map_touchpoints`: the touchpoint id of the event.
``user_agent``   browser user agent, when known.

Analyses identify a person by ``user_id`` and fall back on ``device_id`` when ``user_id`` is
missing (before stitching).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import Problem, TraceDataError
from .engine import Engine, default_engine

__all__ = ["CANONICAL", "EventLog", "as_log", "to_us"]

CANONICAL = (
    "row_id",
    "user_id",
    "device_id",
    "timestamp",
    "event",
    "session_id",
    "touchpoint",
    "user_agent",
)
#: SQL expression of the person key used by analyses.
PERSON = "coalesce(user_id, device_id)"
#: Rows the analyses use: a timestamp and a person. (Cleaning removes the others.)
USABLE = "(timestamp IS NOT NULL AND coalesce(user_id, device_id) IS NOT NULL)"


def to_us(value, what: str) -> int:
    """Microseconds in a duration given as ``"30min"``, ``"7D"``, ``"1s"``, a number of seconds,
    or a :class:`pandas.Timedelta` / :class:`datetime.timedelta`."""
    try:
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        ):
            td = pd.Timedelta(seconds=float(value))
        else:
            td = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise TraceDataError(
            f"{what}={value!r} is not a duration: write it like '30min', '7D' or '1s'."
        ) from exc
    if pd.isna(td) or td < pd.Timedelta(0):
        raise TraceDataError(f"{what}={value!r} must be a positive duration such as '30min'.")
    return int(td / pd.Timedelta(microseconds=1))


class EventLog:
    """A lazy event log held by an engine.

    Attributes
    ----------
    engine : Engine
        Where the table lives (DuckDB by default).
    name : str
        Name of the view or table inside the engine.
    timezone : str
        Time zone in which timestamps are shown (they are stored as UTC instants).

    Methods give the data when asked: :meth:`to_pandas`, :meth:`head`, :meth:`count`;
    :meth:`persist` materialises a chain of lazy steps once.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        timezone: str = "UTC",
        *,
        arrays=None,
        meta: dict | None = None,
    ):
        self.engine = engine
        #: study settings carried along (period, identity_map, session_gap, funnel, journey...)
        self.meta = dict(meta or {})
        self.name = name
        self.timezone = timezone or "UTC"
        self._arrays = arrays
        self._columns: list[str] | None = None
        #: set by ``read_events`` on DuckDB: the raw source of each column (see ``io``)
        self._origin: dict | None = None
        #: set by ``as_log``: the in-memory frame the log's view reads (see ``_frames``)
        self._frame: pd.DataFrame | None = None

    # -- structure --------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = self.engine.columns(self.name)
        return self._columns

    @property
    def ref(self) -> str:
        """The quoted table name, for SQL."""
        return self.engine.q(self.name)

    def has(self, column: str) -> bool:
        return column in self.columns

    def derive(self, name: str, *, arrays=None) -> EventLog:
        """A new log over table ``name`` in the same engine and time zone."""
        return EventLog(self.engine, name, self.timezone, arrays=arrays, meta=self.meta)

    # -- data -------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of rows."""
        return int(self.engine.scalar(f"SELECT count(*) FROM {self.ref}"))

    def __len__(self) -> int:
        return self.count()

    def to_pandas(self, limit: int | None = None) -> pd.DataFrame:
        """The rows as a DataFrame, in file order (``row_id``), canonical columns first and
        timestamps in the log's time zone."""
        sql = f"SELECT * FROM {self.ref} ORDER BY row_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return _tidy_frame(self.engine.fetch(sql), self.timezone)

    def head(self, n: int = 5) -> pd.DataFrame:
        return self.to_pandas(limit=n)

    def persist(self) -> EventLog:
        """Materialise the log as a table in its engine (DuckDB spills to disk beyond its
        memory limit; Spark caches) so that later steps do not recompute it."""
        sql = f"SELECT * FROM {self.ref}"
        eng = self.engine
        name = _persist_duckdb(eng, sql) if eng.name == "duckdb" else eng.table(sql, "persist")
        return self.derive(name, arrays=self._arrays)

    def __repr__(self) -> str:
        return f"EventLog(engine={self.engine.name!r}, columns={self.columns}, timezone={self.timezone!r})"

    def _repr_html_(self) -> str:
        head = self.head(5)
        return (
            f"<p><b>EventLog</b> on {self.engine.name} ({self.timezone}); first rows:</p>"
            + head.to_html(index=False)
        )


#: DuckDB settings while :meth:`EventLog.persist` materialises a chain of views. The rows of a
#: log carry their order in ``row_id`` (every reader that needs an order sorts by it; the hash
#: joins of the chain never kept the file's order), so the scan order need not be kept; and
#: each join of the chain is built on its right side as written (the arrays' ``row_id, _n``,
#: the identity links, the customers), not on the wide rows of the log, which DuckDB picks
#: when it underestimates the rows left by ``clean``'s anti-join. Same rows, about 0.7x the CPU.
_PERSIST_SETTINGS = {
    "preserve_insertion_order": "false",
    "disabled_optimizers": "build_side_probe_side",
}


def _persist_duckdb(eng: Engine, sql: str) -> str:
    """``eng.table(sql, "persist")`` under :data:`_PERSIST_SETTINGS`, in one call to the
    connection (no other thread's query runs under them), the settings restored after."""
    con = eng.con
    keys = list(_PERSIST_SETTINGS)
    row = con.sql(
        "SELECT " + ", ".join(f"CAST(current_setting('{k}') AS VARCHAR)" for k in keys)
    ).fetchall()[0]
    old = dict(zip(keys, row))
    new = dict(_PERSIST_SETTINGS)
    if old["disabled_optimizers"]:
        new["disabled_optimizers"] = f"{old['disabled_optimizers']},{new['disabled_optimizers']}"

    def sets(values: dict) -> str:
        return "".join(f"SET {k} = '{v}'; " for k, v in values.items())

    name = eng.new_name("persist")
    restore = sets(old)
    try:
        con.execute(f"{sets(new)}CREATE OR REPLACE TEMP TABLE {eng.q(name)} AS {sql}; {restore}")
    finally:
        con.execute(restore)
    return name


def _tidy_frame(df: pd.DataFrame, timezone: str) -> pd.DataFrame:
    if "timestamp" in df.columns:
        ts = df["timestamp"]
        if not isinstance(ts.dtype, pd.DatetimeTZDtype):
            ts = pd.to_datetime(ts, utc=True)
        df["timestamp"] = ts.dt.tz_convert(timezone)
    first = [c for c in CANONICAL if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    return df.reset_index(drop=True)


def as_log(events, engine: Engine | None = None) -> tuple[EventLog, bool]:
    """``(EventLog, was_frame)`` for an :class:`EventLog` or events in memory: a pandas
    DataFrame, a pyarrow Table or a polars DataFrame.

    A DataFrame must have ``timestamp`` (time-zone aware), ``event`` and at least one of
    ``user_id`` / ``device_id``; ``row_id`` is added (the row's position) when absent. Its
    columns are registered in DuckDB without a copy where their dtype fits (see ``_frames``).
    """
    if isinstance(events, EventLog):
        return events, False
    from ._frames import as_pandas

    events = as_pandas(events)  # a pyarrow Table or a polars DataFrame
    if not isinstance(events, pd.DataFrame):
        raise TraceDataError(
            f"Expected an EventLog or a pandas DataFrame of events, got {type(events).__name__}.",
            [Problem("not an event log", fix="read the file with pr.traces.read_events(...)")],
        )
    df = events
    problems = []
    for col in ("timestamp", "event"):
        if col not in df.columns:
            problems.append(
                Problem(
                    f"missing column {col!r}",
                    column=col,
                    fix="rename your columns to the canonical names",
                )
            )
    if "user_id" not in df.columns and "device_id" not in df.columns:
        problems.append(
            Problem(
                "needs a user_id or a device_id column",
                column="user_id",
                fix="rename the person or device column to user_id / device_id",
            )
        )
    if "timestamp" in df.columns and not isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype):
        problems.append(
            Problem(
                f"timestamp has dtype {df['timestamp'].dtype}, not a time-zone-aware datetime",
                column="timestamp",
                fix="parse it with pd.to_datetime(..., utc=True) or .dt.tz_localize('Europe/Paris')",
            )
        )
    if "row_id" in df.columns and problems == [] and not df["row_id"].is_unique:
        problems.append(
            Problem(
                "row_id has repeated values",
                column="row_id",
                fix="drop the column: it is recreated from the row positions",
            )
        )
    if problems:
        raise TraceDataError("These events cannot be analysed as given", problems)
    tz = str(df["timestamp"].dt.tz)
    from ._frames import canonical_frame

    frame = canonical_frame(df)  # the caller's columns, not copied where their dtype fits
    eng = engine or default_engine()
    name = eng.register(frame, "frame")
    cols = ", ".join(eng.q(c) for c in frame.columns)
    log = EventLog(eng, eng.view(f"SELECT {cols} FROM {eng.q(name)}", "events"), tz)
    log._frame = frame
    return log, True


def _is_nested(typ: str) -> bool:
    t = typ.upper()
    return t.startswith(("STRUCT", "MAP", "ARRAY", "LIST", "UNION")) or t.endswith("[]")


def check_flat(log: EventLog, columns, what: str) -> None:
    """Raise a clear error when a grouping column holds nested values (a STRUCT, LIST or MAP,
    such as GA4's ``device`` or ``items``), which cannot be grouped on."""
    cols = [c for c in columns if c in log.columns]
    if not cols:
        return
    eng = log.engine
    if eng.name == "duckdb":
        rel = eng.con.sql(f"SELECT {', '.join(eng.q(c) for c in cols)} FROM {log.ref} LIMIT 0")
        types = {c: str(t) for c, t in zip(rel.columns, rel.types)}
    else:
        fields = eng.spark.table(log.name).schema.fields
        types = {f.name: f.dataType.simpleString() for f in fields}
    problems = []
    for c in cols:
        if not _is_nested(types.get(c, "")):
            continue
        flat = [x for x in log.columns if x.startswith(f"{c}_") and x not in CANONICAL][:8]
        is_list = types[c].upper().startswith(("ARRAY", "LIST")) or types[c].endswith("[]")
        if flat:
            hint = f"use one of its flat columns: {', '.join(flat)}"
        elif is_list:
            hint = (
                "a list holds several values per event (GA4's items); group by a flat "
                "column, or add one per person with pr.traces.attach"
            )
        else:
            hint = (
                "read a GA4 export with format='ga4' (it flattens device_category, "
                "geo_country, param_<key>...) or add a flat column with pr.traces.attach"
            )
        problems.append(
            Problem(
                f"column {c!r} holds nested values ({types[c][:60]}), which cannot be grouped on",
                column=c,
                fix=hint,
            )
        )
    if problems:
        from ..errors import AnalysisError

        raise AnalysisError(f"{what}: cannot group by a nested column", problems)


def output(log: EventLog, was_frame: bool):
    """Return ``log`` as the caller gave it: a DataFrame for a DataFrame."""
    return log.to_pandas() if was_frame else log


def select_list(
    log: EventLog,
    replace: dict[str, str] | None = None,
    add: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    alias: str | None = None,
) -> str:
    """``col, col, expr AS col`` for every column of ``log`` with some replaced, dropped or
    added (explicit lists: Spark has no ``SELECT * EXCLUDE``)."""
    add = add or {}
    replace = {**(replace or {}), **{c: e for c, e in add.items() if c in log.columns}}
    eng = log.engine
    parts = []
    for c in log.columns:
        if c in drop:
            continue
        ref = f"{alias}.{eng.q(c)}" if alias else eng.q(c)
        parts.append(f"{replace[c]} AS {eng.q(c)}" if c in replace else ref)
    for c, e in add.items():
        if c not in log.columns:
            parts.append(f"{e} AS {eng.q(c)}")
    return ", ".join(parts)
