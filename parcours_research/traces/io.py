"""Read event logs: CSV (also ``.csv.gz``), Parquet, JSON Lines and the GA4 BigQuery export.

Nothing is loaded into memory: :func:`read_events` returns an :class:`~.eventlog.EventLog` over
a view of the file(s), with the canonical columns (``row_id, user_id, device_id, timestamp,
event``, and ``session_id`` / ``user_agent`` when mapped) followed by the file's other columns
under their own names. Timestamps that cannot be read become missing (``NULL``) and are
counted as ``unparseable`` by :func:`~.clean.clean`; no row is dropped on reading.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .. import _files
from .._compat import deprecated_args
from ..errors import EngineReadError, Problem, TraceDataError, check_one_of
from . import _audit, _time
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
    # every file of ``events:`` (a file, a pattern, a list, a folder), resolved by the study
    files = [str(p) for p in (getattr(cfg, "sources", ()) or ())] or [str(cfg.events)]
    for key in ("timestamp_unit", "timestamp_format"):  # the time rules of ``_time``
        if getattr(cfg, key, None):
            meta[key] = getattr(cfg, key)
    return files, cfg.format, dict(cfg.columns or {}), cfg.timezone, meta


def _expand(source, eng: Engine) -> list[str]:
    """Every file the source names, in one order whatever the way of naming them: sorted by
    path (a folder, a glob and a list of the same files give the same list, so the same
    ``row_id``). Local paths are listed here; a URI (``s3a://``, ``hdfs://``, ``gs://``,
    ``file:///``...) is listed by the engine (:meth:`~.engine.Engine.list_files`)."""
    items = source if isinstance(source, list | tuple) else [source]
    paths: list[str] = []
    problems = []
    for item in items:
        text = str(item)
        if _files.is_uri(text):
            found = eng.list_files(text)
            if not found:
                problems.append(
                    Problem(
                        f"no file matches (listed by the {eng.name} engine)",
                        file=text,
                        fix="check the URI, and that the engine's credentials may list it",
                    )
                )
            paths.extend(found)
        elif any(ch in text for ch in "*?["):
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
        elif Path(text).is_dir():  # a folder of exports, Hive partitions included
            found = sorted(
                str(p)
                for p in Path(text).rglob("*")
                if p.is_file() and not _files.is_hidden(str(p.relative_to(text)))
            )
            if not found:
                problems.append(
                    Problem("the folder holds no file", file=text, fix="check the folder")
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
        remote = any(_files.is_uri(p.file or "") for p in problems)
        cls = EngineReadError if remote else TraceDataError
        raise cls("Cannot read the event log", problems)
    return _in_order(paths)


def _file_key(path: str) -> str:
    """Where a file is, comparable however it was named (relative, absolute, ``file://``)."""
    if _files.is_uri(path) and not path.startswith("file:"):
        return path
    from .engine import _scheme_free

    return os.path.abspath(_scheme_free(path))


def _in_order(paths: list[str]) -> list[str]:
    """The files sorted by path; a file named twice (a list and a folder that overlap) is an
    error: its rows would be read twice."""
    keyed = sorted((_file_key(p), p) for p in paths)
    twice = sorted({k for (k, _), (k2, _) in zip(keyed, keyed[1:]) if k == k2})
    if twice:
        raise TraceDataError(
            "Cannot read the event log",
            [
                Problem(
                    "this file is named twice (its rows would be read twice)",
                    file=k,
                    fix="name each file once: one folder, one pattern, or a list",
                )
                for k in twice
            ],
        )
    return [p for _, p in keyed]


def _check_files(paths: list[str], fmt: str, limits) -> None:
    """Every file is a regular file within the size limits; a text log (CSV, JSON Lines,
    compressed or not) is scanned once to its end: complete, within the decompression ratio,
    no line over the limit (:mod:`parcours_research._files`)."""
    lim = limits if isinstance(limits, _files.FileLimits) else None
    for p in paths:
        if _files.is_uri(p):  # the engine's business, wherever it runs (see ``_files``)
            continue
        real = _files.safe_path(p, limits=lim, events=True, label=p, missing_cls=TraceDataError)
        name = real.name.lower()
        size = real.stat().st_size
        if fmt in ("csv", "jsonl") or (fmt == "ga4" and ".json" in name):
            size = _files.scan_text(real, limits=lim, label=p, cls=TraceDataError)["bytes"]
        if size == 0:
            raise TraceDataError(f"Cannot read {p}", [Problem(
                "the file is empty (0 bytes of data)", file=p,
                fix="export the events again; check the export's date range and filters")])


def _local_file(path: str) -> str | None:
    """``path`` as a file of this machine (Spark lists local files as ``file:/...``), or None
    (a remote URI, or no such file): its content cannot be read here."""
    from .._event_uris import local_path

    local = local_path(path) or path
    return local if Path(local).is_file() else None


def _guess_format(paths: list[str]) -> str:
    """The format from the first file's content (a GA4 export, Parquet, JSON Lines: see
    ``_ga4.sniff``), else from its name."""
    from ._ga4 import sniff

    local = _local_file(paths[0])
    sniffed = sniff(local) if local else None
    if sniffed is not None:
        return sniffed
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
    engine: Engine, col: str, typ: str, timezone: str, spec: _time.Spec, file: str
) -> str:
    """The SQL of the ``timestamp`` column, by the rules of :mod:`._time`."""
    return _time.column_expression(engine, col, typ.upper(), timezone, spec, file)


@deprecated_args(positional=("format", "columns", "timezone"))
def read_events(
    source,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    timezone: str | None = None,
    timestamp_unit: str | None = None,
    timestamp_format: str | None = None,
    engine: Engine | None = None,
) -> EventLog:
    """Read an event log lazily.

    Parameters
    ----------
    source : path, folder, list of paths, glob pattern, URI, Study, or DataFrame
        The file(s); a :class:`~parcours_research.study.Study` (or its ``traces`` config, or a
        study folder holding ``study.yml``, or that file) reads ``study.yml``'s ``traces:``
        section; a DataFrame with the canonical columns is wrapped.
        However they are named, the files are read in one order: sorted by path (a folder is
        read whole, its hidden files such as ``_SUCCESS`` or ``.crc`` left out; Hive
        partitions ``key=value/`` become columns). A URI (``s3a://``, ``s3://``,
        ``hdfs://``, ``abfss://``, ``gs://``, ``file:///``; a file, a pattern or a folder) is
        listed and read by the engine, not checked on this machine: the file checks of
        :mod:`parcours_research._files` (regular file, size, compression) apply to local
        paths only. DuckDB reads ``s3://`` / ``gs://`` with its httpfs extension and a
        secret on its connection.
    format : {"csv", "parquet", "jsonl", "ga4"}, optional
        Told from the first file's content when omitted (a GA4 export, Parquet, JSON Lines),
        else from its name (``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl``). ``"ga4"`` reads
        the GA4 BigQuery export (Parquet or JSON Lines, one or many daily files):
        ``event_timestamp`` (microseconds), ``user_id``, ``user_pseudo_id`` (the device),
        ``event_name``; ``ga_session_id`` gives ``session_id``, ``page_location`` is kept, and
        nested fields become flat columns (``device_category``, ``geo_country``,
        ``param_<key>``...; see :mod:`._ga4`).
    columns : dict, optional
        Canonical name -> column in the file, e.g. ``{"user_id": "customer_id", "timestamp":
        "ts", "event": "event_name"}``. Canonical names already used by the file need no entry.
    timezone : str, optional
        IANA zone: timestamps written without an offset or zone (dates alone too) are read as
        local time there, and the log shows timestamps in it. Default UTC (the study's zone for
        a Study). Clock changes follow ``zoneinfo`` with ``fold=0``: a skipped local time moves
        forward by the gap, a repeated one is its first occurrence (counted by ``clean``).
    timestamp_unit : {"s", "ms", "us", "ns"}, optional
        Unit of epoch timestamps, numbers or text of digits (study.yml: ``timestamp_unit``).
        Without it each number is read in the unit that puts it between 1990 and 2099.
    timestamp_format : str, optional
        strftime layout of text timestamps that are not ISO 8601, e.g. ``"%d/%m/%Y %H:%M"``
        (study.yml: ``timestamp_format``); ``%z`` reads an offset. See :mod:`._time` for every
        rule: offsets beyond +/-18:00, unknown or ambiguous zone words (``CST``) and instants
        outside 1990-2099 are refused (missing, counted by ``clean``).
    engine : Engine, optional
        DuckDB (default, embedded) or :class:`~.engine.SparkEngine`. For a study (a Study, a
        study folder or its ``study.yml``) the default is the study's engine, ``traces:
        engine:`` in study.yml (:func:`parcours_research.evidence.study_engine`), so the log
        is read where the study's analyses run.

    Returns
    -------
    EventLog
        Columns ``row_id`` (0-based position in the files sorted by path and put end to
        end, the same on every engine; for a GA4 export the rank in
        GA4's order of events with equal timestamps, the position being ``file_row``),
        ``user_id``, ``device_id``,
        ``timestamp`` (UTC instant; ``to_pandas()`` shows it in ``timezone``), ``event``, then
        ``session_id`` and ``user_agent`` when mapped, then every other column of the file.

    Raises
    ------
    EngineReadError
        The engine cannot list or read a URI or a file (Spark's executors do not see it, no
        connector for the scheme, no credentials): the path, the engine and the cause.
    TraceDataError
        Missing file, a file named twice, unknown format, mapped columns absent from the file
        (all listed at once);
        a timestamp column of which nothing can be read (the file, column, examples and the
        likely layout are named).
    """
    _audit.note("read_events")
    if isinstance(source, EventLog):
        return source
    if isinstance(source, pd.DataFrame):
        return as_log(source, engine)[0]
    source = _study_folder(source)
    eng = engine or _study_engine(source) or default_engine()
    paths, format, columns, timezone, meta = _resolve(source, format, columns, timezone, eng)
    timestamp_unit = timestamp_unit or meta.get("timestamp_unit")
    timestamp_format = timestamp_format or meta.get("timestamp_format")
    _time.check_spec(timestamp_unit, timestamp_format)
    fmt = format or _guess_format(paths)
    check_one_of("format", fmt, FORMATS)
    _check_files(paths, fmt, getattr(getattr(source, "traces", source), "limits", None))
    src = None if fmt == "ga4" else _engine_read(eng, paths, fmt)
    if format is None and fmt != "csv" and _local_file(paths[0]) is None and _ga4_columns(eng, src):
        # a GA4 export that only the engine can open (a remote URI): read as one, as the same
        # file on this machine is (``_guess_format`` reads its schema there)
        eng.drop(src)
        fmt = "ga4"
    if fmt == "ga4":
        log = _read_ga4(eng, paths, timezone)
    else:
        spec = _time.Spec(timestamp_unit, timestamp_format, fmt, tuple(paths))
        log = _mapped(eng, src, paths[0], dict(columns or {}), timezone, spec)
        _time.attach(log, spec, src, _time_sql(log))
        if getattr(log, "_origin", None):
            # Parquet files know their row count: the array path then streams the rows
            log._origin["counted"] = fmt == "parquet"
            log._origin["paths"] = list(paths)  # a local Parquet file may be read directly
    log.meta.update(meta)
    return log


def _ga4_columns(eng: Engine, src: str) -> bool:
    """Whether the view ``src`` has the columns of a GA4 export (``_ga4.REQUIRED``)."""
    from ._ga4 import _is_ga4_columns

    return _is_ga4_columns(eng.columns(src))


def _study_folder(source):
    """A study folder (holding ``study.yml``) or its ``study.yml``, loaded as a Study without
    its survey responses; any other source as it is."""
    if not isinstance(source, str | Path) or _files.is_uri(str(source)):
        return source
    p = Path(source)
    if not (p / "study.yml").is_file() and not (p.name == "study.yml" and p.is_file()):
        return source
    from ..study import load_study

    return load_study(p, read_responses=False)


def _study_engine(source) -> Engine | None:
    """The study's own engine (``traces: engine:`` in study.yml, built once and kept on the
    study: :func:`parcours_research.evidence.study_engine`) when ``source`` is a Study; None
    for the default engine or any other source."""
    if not hasattr(source, "_engine") or getattr(source, "traces", None) is None:
        return None
    from ..evidence import study_engine  # the study's engine lives with its evidence

    return study_engine(source)


def _engine_read(eng: Engine, paths: list[str], fmt: str) -> str:
    """``eng.read``; an engine's failure to open a URI said with the path and the engine."""
    try:
        return eng.read(paths, fmt)
    except TraceDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - DuckDB without httpfs, credentials...
        from .engine import _engine_exception, read_error

        if not (_engine_exception(exc) and any(_files.is_uri(p) for p in paths)):
            raise
        raise read_error(eng.name, paths, exc) from None


def _resolve(source, format, columns, timezone, eng):
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
        paths = _expand(paths, eng)
    else:
        paths = _expand(source, eng)
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
    from ._ga4 import read_ga4

    return read_ga4(eng, paths, timezone)


def _time_sql(log: EventLog) -> str:
    """The SQL of the log's ``timestamp`` over its source (kept by ``_mapped``)."""
    return log._ts_sql


def _mapped(
    eng: Engine, src: str, file: str, columns: dict[str, str], timezone: str, spec: _time.Spec
) -> EventLog:
    types = _types(eng, src)
    have = [c for c in types if c != "row_id"]
    mapping = _column_mapping(have, columns, file)
    ts = mapping["timestamp"]  # the time rules may add the column's wall time (see ``_time``)
    read, src = src, _time.prepare(eng, src, ts, types[ts], timezone, spec, file)
    parts = _mapped_columns(eng, mapping, types, have, timezone, spec, file)
    q = eng.q
    name = eng.view(f"SELECT {', '.join(parts)} FROM {q(src)}", "events")
    if eng.name == "spark":  # plans built on the long timestamp expression outgrow the driver
        name = eng.checkpoint(name)
    log = EventLog(eng, name, timezone)
    log._ts_sql = parts[3][: -len(" AS timestamp")]
    if eng.name == "duckdb":
        # where each canonical column comes from, so that the array path can read the raw
        # columns and apply ``text_expr`` to their distinct values only
        log._origin = {
            "src": src,
            "timestamp": parts[3][: -len(" AS timestamp")],
            "raw": {c: mapping.get(c) for c in ("user_id", "device_id", "event", "user_agent")},
            "types": {c: types[mapping[c]] for c in mapping},
            "parts": parts,  # the SELECT list of the view, rebuilt by ``keep_in_memory``
            "read": read,  # the file's view, under the time rules' views
        }
    return log


#: the column of the table of :func:`keep_in_memory` holding the rows' timestamps
KEPT_TS = "_pr_ts"


def keep_in_memory(log: EventLog) -> bool:
    """Read a DuckDB log straight from :func:`read_events` into the engine's memory once,
    with its timestamps: the time rules (a long expression per row) are evaluated here, once,
    into a column (:data:`KEPT_TS`) that the log's view, ``clean``'s arrays, the counts by
    rule and ``validate`` then read as it is. The rows, their ``row_id`` and every column are
    those of the file's view, which reads the table under the same name. False (nothing done)
    for another log."""
    origin = getattr(log, "_origin", None)
    eng = log.engine
    if not origin or eng.name != "duckdb" or "parts" not in origin:
        return False
    q = eng.q
    info = getattr(log, "_time", None)
    fast = _time.kept_expression(eng, info[0]) if info is not None else None
    src = q(origin["src"])
    parts, texts = _kept_parts(eng, origin)
    star = f"* REPLACE ({', '.join(texts)})" if texts else "*"
    if fast is not None:  # from the file's columns; the wall times stay a view (rarely read)
        kept = _read_in_parallel(eng, origin["read"], f"{star}, {fast} AS {KEPT_TS}")
        if kept is None:
            kept = eng.table(f"SELECT {star}, {fast} AS {KEPT_TS} FROM {q(origin['read'])}", "read")
        view = _time.with_walls(eng, info[0], q(kept))
    else:
        kept = eng.table(f"SELECT {star}, {origin['timestamp']} AS {KEPT_TS} FROM {src}", "read")
        view = f"SELECT * FROM {q(kept)}"
    eng.con.execute(f"CREATE OR REPLACE TEMP VIEW {src} AS {view}")
    eng.con.execute(
        f"CREATE OR REPLACE TEMP VIEW {q(log.name)} AS SELECT {', '.join(parts)} FROM {src}"
    )
    origin["timestamp"] = log._ts_sql = KEPT_TS
    if info is not None:
        log._time = (info[0], KEPT_TS)
    return True


def _read_in_parallel(eng: Engine, read: str, select: str) -> str | None:
    """``SELECT {select} FROM read`` kept in a table, read by every thread: the file's view
    numbers its rows with ``row_number() OVER ()``, which DuckDB runs on one thread, the time
    rules included. The table is filled from the reader itself, in the file's order (DuckDB
    keeps the order of insertion), so that a row's ``rowid`` in it is its ``row_id``; a view
    gives the table's columns in the file view's order. None (nothing done) for a view that is
    not a text file's, a file with a column named ``rowid`` or ``row_id``, or a connection
    that does not keep the order of insertion."""
    reader = getattr(eng, "_unnumbered", {}).get(read)
    if reader is None:
        return None
    names = [c.lower() for c in eng.columns(read)]
    order = eng.con.sql("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    if names.count("row_id") != 1 or "rowid" in names or names[-1] != "row_id" or not order:
        return None
    table = eng.table(f"SELECT {select} FROM {reader}", "read")
    return eng.view(
        f"SELECT * EXCLUDE ({KEPT_TS}), rowid AS row_id, {KEPT_TS} FROM {eng.q(table)}", "kept"
    )


def _kept_parts(eng: Engine, origin: dict) -> tuple[list[str], list[str]]:
    """The SELECT list of the log's view over the table of :func:`keep_in_memory`, and the
    text columns that the table holds already in their canonical form (:func:`text_expr`,
    which gives the same text when applied again): the view reads them, and the timestamps,
    as they are."""
    q = eng.q
    parts = list(origin["parts"])
    parts[3] = f"{KEPT_TS} AS timestamp"
    texts: dict[str, str] = {}
    for canon, raw in origin["raw"].items():
        if not raw or not str(origin["types"].get(canon, "")).startswith("VARCHAR"):
            continue
        canonical = text_expr(eng, q(raw))
        if f"{canonical} AS {canon}" in parts:
            parts[parts.index(f"{canonical} AS {canon}")] = f"{q(raw)} AS {canon}"
            texts[raw] = f"{canonical} AS {q(raw)}"
    return parts, list(texts.values())


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
        from ._ga4 import _is_ga4_columns

        if _is_ga4_columns(have):  # format= forced a GA4 export to be read as a plain file
            problems.insert(0, Problem(
                "the file is a Google Analytics 4 export (event_timestamp, event_name, "
                "user_pseudo_id, nested event_params)", file=file,
                fix="read it with format='ga4' (study.yml: traces: format: ga4), which maps "
                "its columns and flattens its parameters"))
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


def _mapped_columns(eng, mapping, types, have, timezone, spec, file) -> list[str]:
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
        f"{_timestamp_expr(eng, ts, types[ts], timezone, spec, file)} AS timestamp",
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
    """The GA4 export over ``src``, flattened and in GA4's order (see ``_ga4``)."""
    from ._ga4 import ga4_log

    return ga4_log(eng, src, file, timezone)
