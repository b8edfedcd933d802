"""The GA4 BigQuery export, read as exported (NDJSON or Parquet, one file or daily files).

Google Analytics 4 exports one row per event to BigQuery (tables ``events_YYYYMMDD``); the
tables are exported as newline-delimited JSON (INT64 written as text, NULL fields left out) or
Parquet (nested ``STRUCT`` and ``LIST`` columns). This module turns such a file into the
canonical event log:

- ``event_timestamp`` (microseconds since the epoch, UTC) is the timestamp; ``user_pseudo_id``
  the device; ``user_id`` the customer; ``event_name`` the event; ``ga_session_id`` (an event
  parameter) gives ``session_id = "<user_pseudo_id>:<ga_session_id>"``;
- **ties**: events with the same timestamp are ordered by GA4's own fields, ``batch_page_id``,
  ``batch_ordering_id``, ``batch_event_index`` (missing values last), then by the rank of the
  automatic events (:data:`EVENT_RANK`: ``first_visit``/``first_open`` < ``session_start`` <
  ``page_view``/``screen_view`` < any other event < ``user_engagement``), then by position in
  the file(s). ``row_id`` numbers the rows in that order (so every step of the pipeline, on
  every engine, breaks ties the same way) and ``file_row`` keeps the position in the file(s);
- **flattening**: every STRUCT column (``device``, ``geo``, ``traffic_source``,
  ``collected_traffic_source``, ``app_info``, ``ecommerce``, ``privacy_info``, ...) becomes one
  column per field, named by its path (``device_category``, ``device_web_info_browser``,
  ``geo_country``, ``traffic_source_medium``, ``collected_traffic_source_manual_source``);
  every key of ``event_params`` becomes ``param_<key>`` and every key of ``user_properties``
  ``user_property_<key>``, typed from the values found (only ``int_value`` -> integer; numbers
  -> double; any ``string_value`` -> text). INT64 fields that JSON wrote as text become
  integers. Lists that cannot be flattened (``items``) stay nested; analyses refuse them as
  ``by=`` with a clear error.
"""

from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa

from ..errors import Problem, TraceDataError
from .engine import Engine
from .eventlog import EventLog

__all__ = ["EVENT_RANK", "OTHER_RANK", "TIE_ORDER", "sniff", "read_ga4", "ga4_log"]

#: Columns that make a file a GA4 export.
REQUIRED = ("event_timestamp", "event_name", "user_pseudo_id")
#: GA4's own ordering fields, applied in this order to events with equal timestamps.
TIE_ORDER = ("batch_page_id", "batch_ordering_id", "batch_event_index")
#: Rank of GA4's automatically collected events among events with the same timestamp (and no
#: batch fields to tell them apart): a visit starts, then a session, then a page is seen; the
#: engagement time of a page is sent last.
EVENT_RANK = {
    "first_visit": 0,
    "first_open": 0,
    "session_start": 1,
    "page_view": 2,
    "screen_view": 2,
    "user_engagement": 4,
}
#: Rank of every other event (``scroll``, ``click``, ``view_item``, custom events...).
OTHER_RANK = 3
#: GA4 fields typed INT64 in BigQuery (JSON exports write them as text).
_INT64 = {
    "event_timestamp",
    "event_previous_timestamp",
    "event_bundle_sequence_id",
    "event_server_timestamp_offset",
    "user_first_touch_timestamp",
    "batch_page_id",
    "batch_ordering_id",
    "batch_event_index",
    "time_zone_offset_seconds",
    "total_item_quantity",
    "unique_items",
}
#: Lists of ``{key, value: {string_value, int_value, float_value, double_value}}`` and the
#: prefix of their columns.
_KEYED = {"event_params": "param_", "user_properties": "user_property_"}
_CONSUMED = {"row_id", "event_timestamp", "event_name", "user_pseudo_id", "user_id"}


# -- format ------------------------------------------------------------------------------------
def _first_bytes(path: str, n: int = 1 << 16) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":  # gzip
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(n)
        except (OSError, EOFError):
            return b""
    return head


def _local(path: str) -> str | None:
    """The local path of a path or a ``file:`` URI (``file:///data/x``, Hadoop's
    ``file:/data/x``); None for a remote URI, which only the engine can open."""
    from .._event_uris import is_uri, local_path

    return local_path(path) or (None if is_uri(path) else path)


def container(path: str) -> str | None:
    """``"parquet"`` or ``"jsonl"`` from the first bytes of the file (a local path or a
    ``file:`` URI), or None (also for a remote URI: told from its name by the caller)."""
    path = _local(str(path))
    if path is None:
        return None
    head = _first_bytes(path, 8)
    if head[:4] == b"PAR1":
        return "parquet"
    text = _first_bytes(path, 1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"{":
        return "jsonl"
    return None


def _is_ga4_columns(names) -> bool:
    return all(c in names for c in REQUIRED)


def sniff(path: str) -> str | None:
    """The format of an event file from its content: ``"ga4"`` for a GA4 export (JSON Lines or
    Parquet with ``event_timestamp``, ``event_name`` and ``user_pseudo_id``), ``"parquet"``,
    ``"jsonl"``, or None when the content does not tell (CSV, unknown, a remote URI)."""
    path = _local(str(path))
    if path is None:
        return None
    try:
        kind = container(path)
    except OSError:
        return None
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException):
            return "parquet"
        return "ga4" if _is_ga4_columns(names) else "parquet"
    if kind == "jsonl":
        head = _first_bytes(path)
        line = head.split(b"\n", 1)[0]
        try:
            record = json.loads(line)
        except ValueError:  # a first line longer than the bytes read: look for the keys
            keys = [c for c in REQUIRED if f'"{c}"'.encode() in line]
            return "ga4" if len(keys) == len(REQUIRED) else "jsonl"
        return "ga4" if isinstance(record, dict) and _is_ga4_columns(record) else "jsonl"
    return None


def read_ga4(eng: Engine, paths: list[str], timezone: str) -> EventLog:
    """The canonical log of GA4 export files (JSON Lines or Parquet, told by content)."""
    try:
        inner = container(paths[0])
    except OSError:  # a file: URI the executors see but this machine does not: by its name
        inner = None
    if inner is None:
        name = paths[0].lower()
        inner = "parquet" if ".parquet" in name or name.endswith(".pq") else "jsonl"
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            raise TraceDataError(
                "A GA4 export is Parquet or JSON Lines (nested event_params)",
                [
                    Problem(
                        "looks like CSV",
                        file=paths[0],
                        fix="export the events_* table from BigQuery as JSON (newline "
                        "delimited) or Parquet",
                    )
                ],
            )
    try:
        return ga4_log(eng, eng.read(paths, inner), paths[0], timezone)
    except TraceDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine's parse errors, said plainly
        if not _is_engine_error(exc):
            raise
        raise TraceDataError("Cannot read the GA4 export", [_read_problem(exc, paths[0])]) from None


def _is_engine_error(exc: Exception) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith(("duckdb", "_duckdb", "pyspark", "py4j"))


_MALFORMED = re.compile(
    r'Malformed JSON in file "([^"]+)", at byte \d+ in (?:line|record/value) (\d+): ([^.\n]{0,80})'
)


def _read_problem(exc: Exception, file: str) -> Problem:
    """A problem naming the file and line of an engine's parse error, without its content."""
    text = str(exc)
    m = _MALFORMED.search(text)
    if m:
        return Problem(
            f"malformed JSON ({m.group(3).strip()}): the file is cut or not JSON Lines",
            file=m.group(1),
            row=int(m.group(2)),
            fix="export or download the file again (BigQuery: EXPORT DATA ... format JSON)",
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return Problem(
        f"the engine cannot read it ({type(exc).__name__}: {first.split(':')[0][:80]})",
        file=file,
        fix="export the events_* table again as newline-delimited JSON or Parquet",
    )


# -- schema ------------------------------------------------------------------------------------
def _arrow_schema(eng: Engine, name: str) -> pa.Schema:
    if eng.name == "duckdb":
        return eng.arrow(f"SELECT * FROM {eng.q(name)} LIMIT 0").schema
    from pyspark.sql.pandas.types import to_arrow_type

    fields = []
    for f in eng.spark.table(name).schema.fields:
        try:
            fields.append(pa.field(f.name, to_arrow_type(f.dataType)))
        except (TypeError, ValueError):  # pragma: no cover - a type arrow cannot hold
            fields.append(pa.field(f.name, pa.null()))
    return pa.schema(fields)


def _field(eng: Engine, expr: str, name: str) -> str:
    if eng.name == "duckdb":
        return f"struct_extract({expr}, {eng.lit(name)})"
    return f"{expr}.{eng.q(name)}"


def _typed(eng: Engine, expr: str, leaf: str, t: pa.DataType) -> str:
    if leaf in _INT64 and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return f"TRY_CAST({expr} AS BIGINT)"
    return expr


def _column_name(text: str) -> str:
    return re.sub(r"[^0-9a-z_]+", "_", text.lower()).strip("_") or "x"


def _struct_columns(eng: Engine, expr: str, prefix: str, t: pa.StructType, out: dict) -> None:
    """``out[name] = expr`` for every scalar field of a STRUCT, recursively; lists and maps
    inside a struct stay nested under their path name."""
    for i in range(t.num_fields):
        f = t.field(i)
        sub = _field(eng, expr, f.name)
        name = f"{prefix}_{_column_name(f.name)}"
        while name in out:  # never over a canonical column (a ``device.id`` field)
            name += "_"
        if pa.types.is_struct(f.type):
            _struct_columns(eng, sub, name, f.type, out)
        else:
            out[name] = _typed(eng, sub, f.name, f.type)


def _keyed_fields(t: pa.DataType) -> list[str] | None:
    """The value fields of a GA4 key/value list (``event_params``), or None when ``t`` is not
    one."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return None
    item = t.value_type
    if not pa.types.is_struct(item) or item.get_field_index("key") < 0:
        return None
    value = item.field(item.get_field_index("value")).type if "value" in item.names else None
    if value is None or not pa.types.is_struct(value):
        return None
    return [
        n for n in ("string_value", "int_value", "float_value", "double_value") if n in value.names
    ]


def _key_stats(eng: Engine, src: str, col: str, fields: list[str]):
    """Per key of a key/value list: how many values of each kind (one scan)."""
    q = eng.q
    val = _field(eng, "p", "value")
    counts = []
    for f in fields:
        v = _field(eng, val, f)
        if f == "string_value":
            counts.append(f"count({v}) AS n_string")
        else:
            counts.append(f"count(TRY_CAST({v} AS DOUBLE)) AS n_{f}")
            if f == "int_value":
                counts.append(f"count(TRY_CAST({v} AS BIGINT)) AS n_int_ok")
    if eng.name == "duckdb":
        inner = f"SELECT unnest({q(col)}) AS p FROM {q(src)}"
    else:
        inner = f"SELECT explode({q(col)}) AS p FROM {q(src)}"
    key = _field(eng, "p", "key")
    return eng.fetch(
        f"SELECT {key} AS k, {', '.join(counts)} FROM ({inner}) AS u "
        f"WHERE {key} IS NOT NULL GROUP BY {key} ORDER BY {key}"
    )


def _keyed_columns(eng: Engine, src: str, col: str, fields: list[str], out: dict) -> None:
    """``out[<prefix><key>] = typed value`` for every key of a key/value list."""
    stats = _key_stats(eng, src, col, fields)
    prefix = _KEYED[col]
    ref = eng.q(col)
    for row in stats.itertuples(index=False):
        key = str(row.k)
        row = row._asdict()
        n_str = int(row.get("n_string", 0) or 0)
        n_num = sum(int(row.get(f"n_{f}", 0) or 0) for f in ("float_value", "double_value"))
        n_int = int(row.get("n_int_value", 0) or 0)
        vals = {f: eng.param_value(ref, key, f) for f in fields}
        if n_str == 0 and n_num == 0 and n_int and row.get("n_int_ok") == n_int:
            expr = f"TRY_CAST({vals['int_value']} AS BIGINT)"
        elif n_str == 0 and (n_num or n_int):
            nums = [f"TRY_CAST({vals[f]} AS DOUBLE)" for f in fields if f != "string_value"]
            expr = nums[0] if len(nums) == 1 else f"coalesce({', '.join(nums)})"
        else:
            texts = [
                eng.cast_str(vals[f])
                for f in ("string_value", "int_value", "double_value", "float_value")
                if f in vals
            ]
            expr = texts[0] if len(texts) == 1 else f"coalesce({', '.join(texts)})"
        name = prefix + _column_name(key)
        while name in out:
            name += "_"
        out[name] = expr


# -- the log -----------------------------------------------------------------------------------
def _check(schema: pa.Schema, file: str) -> None:
    missing = [c for c in REQUIRED if c not in schema.names]
    if missing:
        raise TraceDataError(
            f"{file} is not a GA4 export",
            [
                Problem(
                    f"missing column {c!r}",
                    file=file,
                    column=c,
                    fix="export the GA4 events table (events_*) as Parquet or JSON Lines",
                )
                for c in missing
            ],
        )


def _rank_expr(eng: Engine) -> str:
    whens = " ".join(
        f"WHEN {eng.lit(e)} THEN {r}" for e, r in sorted(EVENT_RANK.items(), key=lambda x: x[1])
    )
    return f"CASE event {whens} ELSE {OTHER_RANK} END"


def _ordered(eng: Engine, flat: str, batch: list[str]) -> str:
    """A narrow table ``file_row, row_id``: rows numbered in GA4 order (see the module)."""
    q = eng.q
    keys = ["_ts"] + [f"{q(c)} NULLS LAST" for c in batch] + ["_rank", "file_row"]
    cols = ", ".join(["file_row", "_ts", "_rank", *(q(c) for c in batch)])
    if eng.name == "duckdb":
        return eng.table(
            f"SELECT file_row, row_number() OVER (ORDER BY {', '.join(keys)}) - 1 AS row_id "
            f"FROM (SELECT {cols} FROM {q(flat)}) AS k",
            "ga4_order",
        )
    from pyspark.sql import functions as F

    sdf = eng.spark.sql(f"SELECT {cols} FROM {q(flat)}")
    order = [F.col("_ts").asc_nulls_last()]
    order += [F.col(c).asc_nulls_last() for c in batch] + [F.col("_rank"), F.col("file_row")]
    # a distributed sort; the ids then increase along the sorted order
    sdf = sdf.orderBy(*order).select("file_row", F.monotonically_increasing_id().alias("row_id"))
    if getattr(eng, "cache", False):
        sdf = sdf.cache()
    name = eng.new_name("ga4_order")
    sdf.createOrReplaceTempView(name)
    return name


def _canonical(eng: Engine, types: dict) -> dict[str, str]:
    """The canonical columns, ``session_id`` and ``page_location`` (as before 0.x)."""
    q = eng.q
    dev = f"NULLIF({eng.cast_str(q('user_pseudo_id'))}, '')"
    out = {
        "user_id": (
            f"NULLIF({eng.cast_str(q('user_id'))}, '')"
            if "user_id" in types
            else "CAST(NULL AS STRING)"
        ),
        "device_id": dev,
        "timestamp": eng.from_us(f"TRY_CAST({q('event_timestamp')} AS BIGINT)"),
        "event": f"NULLIF({eng.cast_str(q('event_name'))}, '')",
    }
    fields = _keyed_fields(types.get("event_params", pa.null())) or []
    if "int_value" in fields:
        sid = eng.param_value(q("event_params"), "ga_session_id", "int_value")
        out["session_id"] = (
            f"CASE WHEN {sid} IS NOT NULL THEN concat({dev}, ':', {eng.cast_str(sid)}) END"
        )
    if "string_value" in fields:
        out["page_location"] = eng.param_value(q("event_params"), "page_location", "string_value")
    return out


def _flat_columns(eng: Engine, src: str, types: dict, out: dict) -> None:
    """``out[name] = expr`` for every other column: STRUCT fields, keyed lists, scalars."""
    q = eng.q
    for name, t in types.items():
        if name in _CONSUMED:
            continue
        fields = _keyed_fields(t) if name in _KEYED else None
        if fields:
            _keyed_columns(eng, src, name, fields, out)
        elif pa.types.is_struct(t):
            _struct_columns(eng, q(name), _column_name(name), t, out)
        elif name == "event_date" and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            # a Hive folder ``event_date=2026-01-01`` read as a date: GA4's own text
            fmt = "'%Y%m%d'" if eng.name == "duckdb" else "'yyyyMMdd'"
            fn = "strftime" if eng.name == "duckdb" else "date_format"
            out[name] = f"{fn}({q(name)}, {fmt})"
        else:  # scalars, and lists kept nested (items)
            out.setdefault(name, _typed(eng, q(name), name, t))


def ga4_log(eng: Engine, src: str, file: str, timezone: str) -> EventLog:
    """The canonical, flattened, GA4-ordered log over ``src`` (a view of the raw export)."""
    schema = _arrow_schema(eng, src)
    _check(schema, file)
    q = eng.q
    types = {f.name: f.type for f in schema}
    columns = _canonical(eng, types)
    _flat_columns(eng, src, types, columns)
    batch = [c for c in TIE_ORDER if c in columns]
    sel = [f"{e} AS {q(c)}" for c, e in columns.items()]
    flat = eng.view(
        f"SELECT row_id AS file_row, TRY_CAST({q('event_timestamp')} AS BIGINT) AS _ts, "
        f"{', '.join(sel)} FROM {q(src)}",
        "ga4_flat",
    )
    flat_rank = eng.view(f"SELECT *, {_rank_expr(eng)} AS _rank FROM {q(flat)}", "ga4_rank")
    order = _ordered(eng, flat_rank, batch)
    cols = ", ".join(f"f.{q(c)}" for c in [*columns, "file_row"])
    view = eng.view(
        f"SELECT o.row_id, {cols} FROM {q(flat)} AS f JOIN {q(order)} AS o "
        f"ON f.file_row = o.file_row",
        "events",
    )
    return EventLog(eng, view, timezone)
