"""Read event logs: CSV (also ``.csv.gz``), Parquet, JSON Lines and the GA4 BigQuery export.

Nothing is loaded into memory: :func:`read_events` returns an :class:`~.eventlog.EventLog` over
a view of the file(s), with the canonical columns (``row_id, user_id, device_id, timestamp,
event``, and ``session_id`` / ``user_agent`` when mapped) followed by the file's other columns
under their own names. Timestamps that cannot be read become missing (``NULL``) and are
counted as ``unparseable`` by :func:`~.clean.clean`; no row is dropped on reading.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._compat import deprecated_args
from ..errors import Problem, TraceDataError, check_one_of
from . import _audit
from .engine import Engine, default_engine
from .eventlog import EventLog, as_log

__all__ = ["read_events", "FORMATS"]

FORMATS = ("csv", "parquet", "jsonl", "ga4")
_MAPPABLE = ("user_id", "device_id", "timestamp", "event", "user_agent", "session_id")


def _study_config(source):
    """``(paths, format, columns, timezone, meta)`` from a Study or its TracesConfig."""
    cfg = getattr(source, "traces", source)
    if cfg is None:
        raise TraceDataError(
            "This study has no `traces:` section in study.yml; add one that names "
            "the event log (events, format, columns, timezone)."
        )
    meta = {
        "period": getattr(cfg, "period", None),
        "identity_map": getattr(cfg, "identity_map", None),
        "session_gap": getattr(cfg, "session_gap", None),
        "funnel": tuple(getattr(cfg, "funnel", ()) or ()),
        "funnel_window": getattr(cfg, "funnel_window", None),
        "login_events": tuple(getattr(cfg, "login_events", ()) or ()),
    }
    journey = getattr(source, "journey", None)
    if journey is not None:
        meta["journey"] = journey
    customers = getattr(source, "customers", None)
    if customers is not None:
        meta["customers"] = customers
    return [str(cfg.events)], cfg.format, dict(cfg.columns or {}), cfg.timezone, meta


def _expand(source) -> list[str]:
    items = source if isinstance(source, list | tuple) else [source]
    paths: list[str] = []
    problems = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            found = sorted(glob.glob(text))
            if not found:
                problems.append(
                    Problem(
                        "no file matches this pattern",
                        file=text,
                        fix="check the folder and the pattern",
                    )
                )
            paths.extend(found)
        elif not Path(text).exists():
            problems.append(
                Problem(
                    "file not found",
                    file=text,
                    fix="check the path (relative paths are relative to the working directory)",
                )
            )
        else:
            paths.append(text)
    if problems:
        raise TraceDataError("Cannot read the event log", problems)
    return paths


def _guess_format(paths: list[str]) -> str:
    name = paths[0].lower()
    for suffix in (".gz", ".zst", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise TraceDataError(
        f"Cannot tell the format of {paths[0]!r} from its name; pass format= one "
        f"of {', '.join(FORMATS)}."
    )


def _types(engine: Engine, name: str) -> dict[str, str]:
    if engine.name == "duckdb":
        rel = engine.con.sql(f"SELECT * FROM {engine.q(name)} LIMIT 0")
        return {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}
    return {
        f.name: f.dataType.simpleString().upper() for f in engine.spark.table(name).schema.fields
    }


def _timestamp_expr(
    engine: Engine, col: str, typ: str, timezone: str, unit: str | None, file: str
) -> str:
    ref = engine.q(col)
    if (
        "TIME ZONE" in typ
        or typ in ("TIMESTAMPTZ", "TIMESTAMP_LTZ")
        or (engine.name == "spark" and typ == "TIMESTAMP")
    ):
        return f"CAST({ref} AS TIMESTAMP)" if engine.name == "spark" else ref
    if typ.startswith("TIMESTAMP") or typ == "DATETIME" or typ == "DATE":
        return engine.local_timestamp(ref, timezone)
    if any(k in typ for k in ("INT", "BIGINT", "DOUBLE", "FLOAT", "DECIMAL", "LONG", "HUGEINT")):
        if unit is None:
            raise TraceDataError(
                "The timestamp column holds numbers",
                [
                    Problem(
                        f"column {col!r} is numeric ({typ}); its unit is unknown",
                        file=file,
                        column=col,
                        fix="pass timestamp_unit='s', 'ms' or 'us' (GA4 exports use format='ga4')",
                    )
                ],
            )
        factor = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
        return engine.from_us(f"CAST({ref} AS DOUBLE) * {factor}")
    return engine.parse_timestamp(ref, timezone)


@deprecated_args(positional=("format", "columns", "timezone"))
def read_events(
    source,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    timezone: str | None = None,
    timestamp_unit: str | None = None,
    engine: Engine | None = None,
) -> EventLog:
    """Read an event log lazily.

    Parameters
    ----------
    source : path, list of paths, glob pattern, Study, or DataFrame
        The file(s); a :class:`~parcours_research.study.Study` (or its ``traces`` config) reads
        ``study.yml``'s ``traces:`` section; a DataFrame with the canonical columns is wrapped.
    format : {"csv", "parquet", "jsonl", "ga4"}, optional
        Guessed from the file name when omitted (``.csv``, ``.csv.gz``, ``.parquet``,
        ``.jsonl``). ``"ga4"`` reads the GA4 BigQuery export (Parquet or JSON Lines):
        ``event_timestamp`` (microseconds), ``user_id``, ``user_pseudo_id`` (the device),
        ``event_name`` and ``event_params`` (``ga_session_id`` gives ``session_id`` and
        ``page_location`` is kept).
    columns : dict, optional
        Canonical name -> column in the file, e.g. ``{"user_id": "customer_id", "timestamp":
        "ts", "event": "event_name"}``. Canonical names already used by the file need no entry.
    timezone : str, optional
        IANA zone: timestamps written without an offset are read as local time there, and the
        log shows timestamps in it. Default UTC (the study's zone for a Study).
    timestamp_unit : {"s", "ms", "us"}, optional
        Unit of a numeric timestamp column.
    engine : Engine, optional
        DuckDB (default, embedded) or :class:`~.engine.SparkEngine`.

    Returns
    -------
    EventLog
        Columns ``row_id`` (0-based position in the file(s)), ``user_id``, ``device_id``,
        ``timestamp`` (UTC instant; ``to_pandas()`` shows it in ``timezone``), ``event``, then
        ``session_id`` and ``user_agent`` when mapped, then every other column of the file.

    Raises
    ------
    TraceDataError
        Missing file, unknown format, mapped columns absent from the file (all listed at once).
    """
    _audit.note("read_events")
    if isinstance(source, EventLog):
        return source
    if isinstance(source, pd.DataFrame):
        return as_log(source, engine)[0]
    paths, format, columns, timezone, meta = _resolve(source, format, columns, timezone)
    if timestamp_unit is not None:
        check_one_of("timestamp_unit", timestamp_unit, ("s", "ms", "us"))
    fmt = format or _guess_format(paths)
    check_one_of("format", fmt, FORMATS)
    eng = engine or default_engine()
    if fmt == "ga4":
        log = _read_ga4(eng, paths, timezone)
    else:
        src = eng.read(paths, fmt)
        log = _mapped(eng, src, paths[0], dict(columns or {}), timezone, timestamp_unit)
        if getattr(log, "_origin", None):
            # Parquet files know their row count: the array path then streams the rows
            log._origin["counted"] = fmt == "parquet"
    log.meta.update(meta)
    return log


def _resolve(source, format, columns, timezone):
    """The paths, format, column mapping, time zone (checked; default UTC) and metadata to
    read, from the arguments and, for a study, its ``traces:`` configuration."""
    meta: dict = {}
    if not isinstance(source, str | Path | list | tuple) and (
        hasattr(source, "traces") or hasattr(source, "events")
    ):
        paths, cfg_format, cfg_columns, cfg_tz, meta = _study_config(source)
        format = format or cfg_format
        columns = {**cfg_columns, **(columns or {})}
        timezone = timezone or cfg_tz
        paths = _expand(paths)
    else:
        paths = _expand(source)
    timezone = timezone or "UTC"
    try:
        pd.Timestamp("2020-01-01", tz=timezone)
    except Exception as exc:  # noqa: BLE001
        raise TraceDataError(
            f"timezone={timezone!r} is not a time zone; use an IANA name such "
            "as 'Europe/Paris' or 'UTC'."
        ) from exc
    return paths, format, columns, timezone, meta


def _read_ga4(eng: Engine, paths: list[str], timezone: str) -> EventLog:
    inner = _guess_format(paths)
    if inner == "csv":
        raise TraceDataError(
            "A GA4 export is Parquet or JSON Lines (nested event_params); "
            f"{paths[0]!r} looks like CSV."
        )
    return _ga4(eng, eng.read(paths, inner), paths[0], timezone)


def _mapped(
    eng: Engine, src: str, file: str, columns: dict[str, str], timezone: str, unit: str | None
) -> EventLog:
    types = _types(eng, src)
    have = [c for c in types if c != "row_id"]
    mapping = _column_mapping(have, columns, file)
    parts = _mapped_columns(eng, mapping, types, have, timezone, unit, file)
    q = eng.q
    log = EventLog(eng, eng.view(f"SELECT {', '.join(parts)} FROM {q(src)}", "events"), timezone)
    if eng.name == "duckdb":
        # where each canonical column comes from, so that the array path can read the raw
        # columns and apply ``text_expr`` to their distinct values only
        log._origin = {
            "src": src,
            "timestamp": parts[3][: -len(" AS timestamp")],
            "raw": {c: mapping.get(c) for c in ("user_id", "device_id", "event", "user_agent")},
            "types": {c: types[mapping[c]] for c in mapping},
        }
    return log


def _column_mapping(have: list[str], columns: dict[str, str], file: str) -> dict[str, str]:
    """Canonical name -> column of the file; raises every mapping problem at once."""
    problems = []
    for key in sorted(set(columns) - set(_MAPPABLE)):
        if key == "properties":
            continue
        problems.append(
            Problem(
                f"{key!r} is not a canonical column",
                column=key,
                fix=f"map only {', '.join(_MAPPABLE)}",
            )
        )
    mapping = {}
    for canon in _MAPPABLE:
        raw = columns.get(canon, canon if canon in have else None)
        if raw is None:
            continue
        if raw not in have:
            problems.append(
                Problem(
                    f"column {raw!r} (mapped to {canon}) is not in the file",
                    file=file,
                    column=raw,
                    fix=f"the file has: {', '.join(have[:30])}",
                )
            )
            continue
        mapping[canon] = raw
    problems += _missing_canonical(mapping, columns, file)
    if problems:
        raise TraceDataError(f"Cannot map the columns of {file}", problems)
    return mapping


def _missing_canonical(mapping: dict, columns: dict, file: str) -> list[Problem]:
    """A timestamp, an event, and a user or device column are needed."""
    problems = []
    for canon in ("timestamp", "event"):
        if canon not in mapping and canon not in columns:
            problems.append(
                Problem(
                    f"no column for {canon!r}",
                    file=file,
                    column=canon,
                    fix=f"add columns: {{{canon}: <column in the file>}}",
                )
            )
    if (
        "user_id" not in mapping
        and "device_id" not in mapping
        and not ({"user_id", "device_id"} & set(columns))
    ):
        problems.append(
            Problem(
                "no column for user_id or device_id",
                file=file,
                column="user_id",
                fix="map the customer or device column: columns: {user_id: ...}",
            )
        )
    return problems


_CANONICAL = (
    "row_id",
    "user_id",
    "device_id",
    "timestamp",
    "event",
    "session_id",
    "user_agent",
    "touchpoint",
)


def _mapped_columns(eng, mapping, types, have, timezone, unit, file) -> list[str]:
    """The SELECT list: canonical columns first (``timestamp`` fourth), then the others."""
    q = eng.q

    def text(canon):
        if canon not in mapping:
            return "CAST(NULL AS STRING)"
        return text_expr(eng, q(mapping[canon]))

    ts = mapping["timestamp"]
    parts = [
        "row_id",
        f"{text('user_id')} AS user_id",
        f"{text('device_id')} AS device_id",
        f"{_timestamp_expr(eng, ts, types[ts], timezone, unit, file)} AS timestamp",
        f"{text('event')} AS event",
    ]
    for canon in ("session_id", "user_agent"):
        if canon in mapping:
            parts.append(f"{text(canon)} AS {canon}")
    used = set(mapping.values()) | {"row_id"}
    for c in have:
        if c not in used and c not in _CANONICAL:
            parts.append(q(c))
    return parts


def text_expr(eng: Engine, ref: str) -> str:
    """The canonical text of a column: trimmed, blank as missing."""
    return f"NULLIF(trim({eng.cast_str(ref)}), '')"


def _ga4(eng: Engine, src: str, file: str, timezone: str) -> EventLog:
    types = _types(eng, src)
    need = ["event_timestamp", "event_name", "user_pseudo_id"]
    missing = [c for c in need if c not in types]
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
    q = eng.q
    uid = (
        f"NULLIF({eng.cast_str(q('user_id'))}, '')"
        if "user_id" in types
        else "CAST(NULL AS STRING)"
    )
    dev = f"NULLIF({eng.cast_str(q('user_pseudo_id'))}, '')"
    ts_us = f"CAST({q('event_timestamp')} AS BIGINT)"
    parts = [
        "row_id",
        f"{uid} AS user_id",
        f"{dev} AS device_id",
        f"{eng.from_us(ts_us)} AS timestamp",
        f"NULLIF({eng.cast_str(q('event_name'))}, '') AS event",
    ]
    if "event_params" in types:
        sid = eng.param_value(q("event_params"), "ga_session_id", "int_value")
        parts.append(
            f"CASE WHEN {sid} IS NOT NULL THEN concat({dev}, ':', "
            f"{eng.cast_str(sid)}) END AS session_id"
        )
        page = eng.param_value(q("event_params"), "page_location", "string_value")
        parts.append(f"{page} AS page_location")
    for extra in ("event_date", "platform"):
        if extra in types:
            parts.append(q(extra))
    return EventLog(eng, eng.view(f"SELECT {', '.join(parts)} FROM {q(src)}", "events"), timezone)
