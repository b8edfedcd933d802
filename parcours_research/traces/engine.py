"""Engines that run the trace pipeline: DuckDB (embedded, the default) and Spark.

Every step of the pipeline is written once, as SQL text built from small templates, and run by
an :class:`Engine`. The two engines differ only in a handful of spellings (how to get
microseconds from a timestamp, a regular-expression match, a median, an ordered string
aggregation), which live in the engine as methods. Tables are named temporary views or tables
inside the engine; nothing is pulled into Python memory unless a result is asked for.

On DuckDB, the pipeline also has a fast local path: cleaning reads a few narrow columns once
(ids, event names and user agents coded to integers from their hashes), and cleaning,
stitching, sessions, funnels, transitions and variants are then compiled loops (numba) over
them, with one time order and counting sorts by integer key (see ``_clean_arrays``, ``_arrays``
and ``_kernels``). Its results are identical to the SQL path, which the tests check row by row;
``DuckDBEngine(fast=False)`` turns it off.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import stat
import tempfile
import weakref
from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

__all__ = ["Engine", "DuckDBEngine", "SparkEngine", "default_engine"]

_counter = itertools.count(1)


def quote(name: str) -> str:
    """Quote an identifier the standard SQL way (DuckDB)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any, backslash_escapes: bool = False) -> str:
    """A SQL literal for a Python string, number, bool or None.

    Standard SQL (DuckDB) doubles quotes; Spark SQL also treats backslashes as escapes.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if backslash_escapes:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + text.replace("'", "''") + "'"


def _scheme_free(path: str) -> str:
    """``/data/x`` for ``file:///data/x`` or ``file:/data/x`` (DuckDB names local files
    without the scheme, Hadoop with ``file:/``); other paths as they are."""
    if path.startswith("file:"):
        return "/" + path[5:].lstrip("/")
    return path


def _hidden_below(base: str, file: str) -> bool:
    """Whether ``file``, listed under the folder ``base``, is hidden (``_files.is_hidden``)."""
    from .._files import is_hidden

    b, f = _scheme_free(base).rstrip("/"), _scheme_free(file)
    return is_hidden(f[len(b) :] if f.startswith(b) else f.rsplit("/", 1)[-1])


def _engine_exception(exc: BaseException) -> bool:
    """An error raised by DuckDB or Spark (not by the kit's own code)."""
    mod = type(exc).__module__ or ""
    return mod.startswith(("duckdb", "_duckdb", "pyspark", "py4j"))


#: JSON values DuckDB would read as times, kept as text (see ``DuckDBEngine._json_source``)
_TEXT_TIME = dict.fromkeys(
    ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
     "TIMESTAMP_S", "TIME WITH TIME ZONE"),
    "VARCHAR",
)

_CONNECTOR = {
    "spark": "add the file system's connector to the session (s3a://: "
    "spark.jars.packages=org.apache.hadoop:hadoop-aws:<the cluster's Hadoop version>; "
    "gs://: the GCS connector; abfss://: hadoop-azure) and its credentials",
    "duckdb": "load DuckDB's extension and give it credentials on the engine's connection "
    "(INSTALL httpfs; LOAD httpfs; CREATE SECRET (TYPE s3, PROVIDER credential_chain)), "
    "or read the log with a SparkEngine",
}
_UNREADABLE = {
    "spark": "make the files readable by every executor, at the same path (HDFS, s3a://, "
    "a shared file system mounted on every node): a path on the driver's disk is not on "
    "the executors'",
    "duckdb": "check the path and that this machine may read it",
}
#: (text in the engine's error, what it means, which fix)
_CAUSES = (
    ("No FileSystem for scheme", "no file system for this URI's scheme", _CONNECTOR),
    ("UnsupportedFileSystemException", "no file system for this URI's scheme", _CONNECTOR),
    ("ClassNotFoundException", "the file system's connector is not installed", _CONNECTOR),
    ("httpfs", "the extension for this URI's scheme is not loaded", _CONNECTOR),
    ("FileNotFoundException", "file not found by the engine", _UNREADABLE),
    ("PATH_NOT_FOUND", "path not found by the engine", _UNREADABLE),
    ("Path does not exist", "path not found by the engine", _UNREADABLE),
    ("No files found", "no file matches", _UNREADABLE),
    ("AccessDenied", "access denied", _UNREADABLE),
    ("Permission denied", "access denied", _UNREADABLE),
    ("403", "access denied", _UNREADABLE),
)


def read_error(engine: str, paths: list[str], exc: BaseException, *, listing: bool = False):
    """An :class:`~parcours_research.errors.EngineReadError` for an engine's failure to list
    or read event files: it names the path (the one the engine's message mentions, else the
    first), the engine, and the cause found in the engine's message (Spark's "Could not read
    footer" names its ``FileNotFoundException`` only further down)."""
    from ..errors import EngineReadError, Problem

    text = str(exc)
    file = next((p for p in paths if _scheme_free(p) in text), paths[0] if paths else "?")
    meaning, fixes = "the engine's error", _UNREADABLE
    detail = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
    for key, what, fix in _CAUSES:
        if key in text:
            meaning, fixes = what, fix
            line = next((ln for ln in text.splitlines() if key in ln), detail)
            detail = line.strip(" :\t")[:200]
            break
    verb = "list" if listing else "read"
    return EngineReadError(
        f"The {engine} engine cannot {verb} the event log {file}",
        [Problem(f"{meaning} ({detail})", file=file, fix=fixes.get(engine, fixes["spark"]))],
    )


class Engine(ABC):
    """Where the SQL of the trace pipeline runs.

    Subclasses implement a few primitives (create a view or a table, fetch a result, register a
    DataFrame) and the dialect spellings below. Table names are generated and unique.
    """

    name = "engine"
    #: whether the array fast path may be used (DuckDB only)
    fast = False

    def new_name(self, prefix: str = "t") -> str:
        return f"_pr_{prefix}_{next(_counter)}"

    # -- primitives -----------------------------------------------------------------------
    @abstractmethod
    def view(self, sql: str, prefix: str = "v") -> str:
        """Create a temporary view from ``sql``; return its name."""

    @abstractmethod
    def table(self, sql: str, prefix: str = "t") -> str:
        """Materialise ``sql`` as a temporary table; return its name."""

    @abstractmethod
    def fetch(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and return a pandas DataFrame (timestamps tz-aware in UTC)."""

    @abstractmethod
    def register(self, frame, prefix: str = "df") -> str:
        """Expose a pandas DataFrame or pyarrow Table as a view; return its name."""

    @abstractmethod
    def columns(self, name: str) -> list[str]:
        """Column names of a view or table."""

    @abstractmethod
    def read(self, paths: list[str], fmt: str, *, all_varchar: bool = True) -> str:
        """A view over files (``csv``, ``parquet`` or ``jsonl``) with a ``row_id`` column:
        the row's position in the files put end to end in the order given (0-based), the
        same on every engine. :func:`~.io.read_events` gives the files sorted by path, so a
        folder, a glob and a list of the same files number their rows alike."""

    def list_files(self, uri: str) -> list[str]:
        """The files a URI names (``s3a://bucket/events/*.parquet``, a folder, a file),
        listed by the engine itself and sorted by path; a folder is read whole, its hidden
        files (``_SUCCESS``, ``.crc``, ``_temporary/``) left out."""
        raise NotImplementedError(f"the {self.name} engine cannot list {uri}")

    def scalar(self, sql: str):
        df = self.fetch(sql)
        return None if df.empty else df.iat[0, 0]

    def close(self) -> None:  # noqa: B027 - optional clean-up hook
        """Release what the engine opened (nothing by default: a Spark session is the
        caller's). Engines are context managers: ``with DuckDBEngine() as eng:`` closes it."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def q(self, name: str) -> str:
        return quote(name)

    def lit(self, value: Any) -> str:
        """A literal in this engine's dialect."""
        return literal(value)

    # -- dialect ----------------------------------------------------------------------------
    @abstractmethod
    def us(self, expr: str) -> str:
        """BIGINT microseconds since the epoch of a timestamp expression."""

    @abstractmethod
    def from_us(self, expr: str) -> str:
        """A UTC timestamp from BIGINT microseconds since the epoch."""

    @abstractmethod
    def regex(self, expr: str, pattern: str) -> str:
        """Boolean: ``expr`` contains a match of the regular expression ``pattern``."""

    @abstractmethod
    def median(self, expr: str) -> str:
        """Exact median (mean of the two middle values for an even count)."""

    @abstractmethod
    def ordered_concat(self, expr: str, order: list[str], sep: str) -> str:
        """Aggregate: the values of ``expr`` joined by ``sep``, ordered by ``order``."""

    @abstractmethod
    def parse_timestamp(self, expr: str, timezone: str) -> str:
        """A timestamp from text: ISO 8601 with or without offset; text without an offset is
        local time in ``timezone``; NULL when it cannot be parsed."""

    @abstractmethod
    def local_timestamp(self, expr: str, timezone: str) -> str:
        """A UTC instant from a time-zone-naive timestamp read as local time in ``timezone``."""

    @abstractmethod
    def param_value(self, params: str, key: str, field: str) -> str:
        """Value ``field`` of the element with ``key`` in a GA4 ``event_params`` array."""

    def cast_str(self, expr: str) -> str:
        return f"CAST({expr} AS STRING)"

    def drop(self, name: str) -> None:  # noqa: B027 - optional clean-up hook
        """Forget a registered object (best effort)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------------------------
class DuckDBEngine(Engine):
    """The embedded default: an in-process DuckDB connection.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection, optional
        An existing connection (a new in-memory one by default).
    threads : int, optional
        Worker threads (DuckDB's default: all cores).
    memory_limit : str, optional
        For example ``"2GB"``; DuckDB spills sorts, joins and aggregates beyond it to
        ``temp_directory``, so logs larger than memory work.
    temp_directory : str, optional
        Where to spill (a fresh temporary folder by default).
    fast : bool, default True
        Use the array fast path for cleaning, stitching, sessions, funnels, transitions and
        variants. Results are the same as the pure SQL path; turn it off to keep everything
        inside DuckDB (for logs whose few narrow columns -- about 30 bytes per event -- do not
        fit in memory).
    """

    name = "duckdb"

    def __init__(
        self,
        connection=None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        fast: bool = True,
    ):
        import duckdb

        self.con = connection if connection is not None else duckdb.connect()
        self._owns = connection is None
        self.fast = bool(fast)
        if self.fast:  # numba starts in the background (a few tenths of a second) meanwhile
            from ._clean_arrays import load_kernels_soon

            load_kernels_soon()
        self.con.execute("SET TimeZone = 'UTC'")
        if connection is None:  # no progress bars on the console of a notebook or the CLI
            self.con.execute("SET enable_progress_bar = false")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        self._remove_spill = None
        if temp_directory is None and connection is None:
            temp_directory, self._remove_spill = _spill_folder(self.con)
        if temp_directory:
            self.con.execute(f"SET temp_directory = {literal(str(temp_directory))}")
        self._keep: dict[str, Any] = {}

    def close(self) -> None:
        """Close the DuckDB connection the engine opened (and remove its spill folder).

        A connection passed in by the caller is left open: it is the caller's. The engine
        cannot be used afterwards.
        """
        if self._owns:
            self.con.close()
        if self._remove_spill is not None:
            self._remove_spill()
        self._keep.clear()

    def q(self, name: str) -> str:
        return quote(name)

    def view(self, sql: str, prefix: str = "v") -> str:
        name = self.new_name(prefix)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {sql}")
        return name

    def table(self, sql: str, prefix: str = "t") -> str:
        name = self.new_name(prefix)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {sql}")
        return name

    def fetch(self, sql: str) -> pd.DataFrame:
        return self.con.sql(sql).df()

    def arrow(self, sql: str):
        """Run ``sql`` and return a pyarrow Table."""
        res = self.con.sql(sql)
        try:
            out = res.to_arrow_table()
        except AttributeError:  # pragma: no cover - older DuckDB
            out = res.arrow()
        if hasattr(out, "read_all"):  # pragma: no cover - a RecordBatchReader
            out = out.read_all()
        return out

    def arrow_batches(self, sql: str, rows: int = 1 << 17):
        """Run ``sql`` and iterate over its result as pyarrow RecordBatches of about ``rows``
        rows, produced while they are read (the whole result is never held at once)."""
        res = self.con.sql(sql)
        reader = getattr(res, "to_arrow_reader", None) or res.fetch_record_batch
        return iter(reader(rows))

    def register(self, frame, prefix: str = "df") -> str:
        name = self.new_name(prefix)
        self._keep[name] = frame
        self.con.register(name, frame)
        return name

    def columns(self, name: str) -> list[str]:
        return [d[0] for d in self.con.sql(f"SELECT * FROM {quote(name)} LIMIT 0").description]

    def read(self, paths: list[str], fmt: str, *, all_varchar: bool = True) -> str:
        files = "[" + ", ".join(literal(p) for p in paths) + "]"
        if fmt == "parquet":
            sql = self._parquet_rows(paths, files)
        elif fmt == "csv":
            src = self._csv_source(paths, files, all_varchar)
            sql = f"SELECT *, row_number() OVER () - 1 AS row_id FROM {src}"
        elif fmt == "jsonl":
            src = self._json_source(files)
            sql = f"SELECT *, row_number() OVER () - 1 AS row_id FROM {src}"
        else:  # pragma: no cover - checked by the caller
            raise ValueError(fmt)
        # materialise the row positions once for text formats: a view would number them anew
        # (and in the same order) at every scan, which is correct but slower.
        name = self.view(sql, "src")
        if fmt != "parquet":  # the reader without ``row_number()`` (see ``io.keep_in_memory``)
            self.__dict__.setdefault("_unnumbered", {})[name] = src
        return name

    def _csv_source(self, paths: list[str], files: str, all_varchar: bool) -> str:
        """``read_csv`` of the files. One local file read as text has its layout sniffed once,
        here, and written into the call (``sniff_csv``'s findings, as in the call of its
        ``Prompt``): the views stacked on the file's view then bind without sniffing it again
        (about 0.1 s of CPU each time for a compressed log of a million events). The rows are
        those of the sniffing call; a file that cannot be sniffed is read by it as before, and
        fails in its words."""
        auto = (
            f"read_csv({files}, header = true, all_varchar = {literal(all_varchar)}, "
            f"union_by_name = true)"
        )
        if len(paths) != 1 or not all_varchar or "://" in paths[0]:
            return auto
        try:
            found = self.con.sql(
                "SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, Columns "
                f"FROM sniff_csv({literal(paths[0])}, header = true, all_varchar = true)"
            ).fetchall()
        except Exception:  # noqa: BLE001 - the read itself says why, as it always did
            return auto
        *dialect, skip, cols = found[0]
        d, q, e, nl, c = ("" if v == "(empty)" else v for v in dialect)  # sniff_csv's "none"
        columns = ", ".join(f"{literal(col['name'])}: 'VARCHAR'" for col in cols)
        return (
            f"read_csv({files}, auto_detect = false, delim = {literal(d)}, quote = {literal(q)}, "
            f"escape = {literal(e)}, new_line = {literal(nl)}, comment = {literal(c)}, "
            f"skip = {int(skip)}, header = true, columns = {{{columns}}}, all_varchar = true)"
        )

    def _parquet_rows(self, paths: list[str], files: str) -> str:
        """Parquet files with ``row_id``: the position in the files put end to end in the
        order given (the offset of each file is the row count of those before it, read from
        the files' metadata), so that a folder, a glob and a list of the same files number
        their rows the same way."""
        if len(paths) == 1:
            src = f"read_parquet({files}, file_row_number = true)"
            return f"SELECT * EXCLUDE (file_row_number), file_row_number AS row_id FROM {src}"
        src = f"read_parquet({files}, file_row_number = true, filename = true)"
        meta = self.fetch(f"SELECT file_name, num_rows FROM parquet_file_metadata({files})")
        names = [str(n) for n in meta["file_name"]]  # as DuckDB names them in ``filename``
        n_by = dict(zip(names, (int(n) for n in meta["num_rows"])))
        where = {n: i for i, n in enumerate(names)}
        order = [where.get(p, where.get(_scheme_free(p))) for p in paths]
        if None in order or len(set(order)) != len(paths):  # pragma: no cover - defensive
            raise RuntimeError(f"DuckDB named the Parquet files otherwise: {names[:3]}")
        whens, acc = [], 0
        for i in order:
            whens.append(f"WHEN {literal(names[i])} THEN {acc}")
            acc += n_by[names[i]]
        return (
            f"SELECT * EXCLUDE (file_row_number, filename), "
            f"file_row_number + CASE filename {' '.join(whens)} END AS row_id FROM {src}"
        )

    def list_files(self, uri: str) -> list[str]:
        """The files a URI names (a file, a glob pattern, or a folder read whole, hidden
        files left out), as DuckDB lists them (``glob``; ``s3://``, ``gs://``, ``az://`` and
        ``https://`` need its httpfs or azure extension and a secret), sorted by path."""
        try:
            if any(ch in uri for ch in "*?["):
                return sorted(self._glob(uri))
            found = self._glob(uri)
            if found:
                return found
            base = uri.rstrip("/")
            return sorted(f for f in self._glob(base + "/**") if not _hidden_below(base, f))
        except Exception as exc:  # noqa: BLE001 - the engine's own error, said plainly
            if not _engine_exception(exc):
                raise
            raise read_error(self.name, [uri], exc, listing=True) from None

    def _glob(self, pattern: str) -> list[str]:
        return [str(f) for f in self.fetch(f"SELECT file FROM glob({literal(pattern)})")["file"]]

    def _json_source(self, files: str) -> str:
        """``read_json`` of JSON Lines files with the schema inferred once from every line: a
        key first seen after DuckDB's default sample (a rare GA4 parameter's
        ``double_value``) would be dropped without a word, and a view would infer it again
        at every query."""
        opts = "format = 'newline_delimited', union_by_name = true"
        rel = self.con.sql(
            f"SELECT * FROM read_json({files}, {opts}, sample_size = -1, "
            f"hive_partitioning = false) LIMIT 0"
        )
        # times stay text, read by the kit's rules (``_time``) as in CSV: DuckDB's own reading
        # would accept offsets such as +25:00
        types = [_TEXT_TIME.get(str(t).upper(), str(t)) for t in rel.types]
        cols = ", ".join(f"{literal(c)}: {literal(t)}" for c, t in zip(rel.columns, types))
        # Hive folders (``key=value/``) still add their columns, as for Parquet
        return f"read_json({files}, {opts}, columns = {{{cols}}})"

    # dialect
    def us(self, expr: str) -> str:
        return f"epoch_us({expr})"

    def from_us(self, expr: str) -> str:
        return f"CAST(make_timestamp(CAST({expr} AS BIGINT)) AS TIMESTAMPTZ)"

    def regex(self, expr: str, pattern: str) -> str:
        return f"regexp_matches({expr}, {literal(pattern)})"

    def median(self, expr: str) -> str:
        return f"quantile_cont({expr}, 0.5)"

    def ordered_concat(self, expr: str, order: list[str], sep: str) -> str:
        return f"string_agg({expr}, {literal(sep)} ORDER BY {', '.join(order)})"

    def parse_timestamp(self, expr: str, timezone: str) -> str:
        e = f"trim(CAST({expr} AS VARCHAR))"
        has_offset = f"regexp_matches({e}, '(Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)$')"
        return (
            f"CASE WHEN {has_offset} THEN TRY_CAST({e} AS TIMESTAMPTZ) "
            f"ELSE timezone({literal(timezone)}, TRY_CAST({e} AS TIMESTAMP)) END"
        )

    def local_timestamp(self, expr: str, timezone: str) -> str:
        return f"timezone({literal(timezone)}, CAST({expr} AS TIMESTAMP))"

    def param_value(self, params: str, key: str, field: str) -> str:
        return f"list_filter({params}, lambda x: x.key = {literal(key)})[1].value.{field}"

    def cast_str(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def drop(self, name: str) -> None:
        if self._keep.pop(name, None) is not None:
            try:
                self.con.unregister(name)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def __repr__(self) -> str:
        return f"DuckDBEngine(fast={self.fast})"


# ---------------------------------------------------------------------------------------------
class SparkEngine(Engine):
    """Run the same pipeline on Apache Spark (local mode or a cluster).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession, optional
        An existing session; to use a cluster, build it with the cluster's master URL
        (``SparkSession.builder.master("spark://host:7077")`` or ``yarn``). By default a local
        session with two cores is started. The session time zone is set to UTC.
    cache : bool, default True
        Cache the tables the pipeline materialises (cleaned log, links, sessions).
    shuffle_partitions : "auto", int or None, default "auto"
        ``spark.sql.shuffle.partitions``. ``"auto"``: when the session keeps Spark's default
        of 200, each :meth:`read` sets it from the log's size, one partition per
        ``rows_per_partition`` rows and at least the cluster's cores
        (``defaultParallelism``), so a small log is not cut into 200 pieces. An int sets it;
        ``None`` leaves the session's value alone (as does a value you set yourself).
    rows_per_partition : int, default 2,000,000
        Rows of the log per shuffle partition under ``"auto"`` (a few narrow columns of each
        event are shuffled: about 100-200 MB a partition).

    Notes
    -----
    Paths without a scheme are local: checked on this machine, then given to Spark as
    ``file:///absolute/path`` (every executor must see them at that path). URIs
    (``s3a://``, ``hdfs://``, ``abfss://``, ``gs://``, ``file:///``) are listed by Spark
    (Hadoop's file system of the session) and read by the executors; a file they cannot read
    raises :class:`~parcours_research.errors.EngineReadError` naming it. Tables shipped from
    the driver (an identity map) go out as broadcast joins, in slices small enough to keep
    every task under Spark's recommended size.
    """

    name = "spark"
    #: Spark's "task of very large size" threshold is 1000 KiB: driver tables go out in
    #: slices of at most this many bytes per task
    max_task_bytes = 256 << 10

    def __init__(
        self,
        spark=None,
        *,
        cache: bool = True,
        shuffle_partitions: str | int | None = "auto",
        rows_per_partition: int = 2_000_000,
    ):
        if spark is None:
            from pyspark.sql import SparkSession

            spark = (
                SparkSession.builder.master("local[2]")
                .appName("parcours_research")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .getOrCreate()
            )
        self.spark = spark
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        # the kit's chains of views give long plans; Spark writes each plan out as text (for its
        # listeners and cache) in full by default, which can exhaust the driver's heap
        self.spark.conf.set("spark.sql.maxPlanStringLength", "100000")
        self.cache = cache
        self.rows_per_partition = int(rows_per_partition)
        self._reading: list[str] = []  # the files of the last read, named in read errors
        self._auto_partitions = False
        if isinstance(shuffle_partitions, int) and not isinstance(shuffle_partitions, bool):
            self.spark.conf.set("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
        elif shuffle_partitions == "auto":
            # only where nobody chose a value: Spark's default, not set on the session
            self._auto_partitions = self.spark.conf.get(
                "spark.sql.shuffle.partitions", "200"
            ) == "200" and not self.spark.sparkContext.getConf().contains(
                "spark.sql.shuffle.partitions"
            )
        elif shuffle_partitions is not None:
            raise ValueError(
                f"shuffle_partitions={shuffle_partitions!r}: use 'auto', a number, or None"
            )

    def _tune(self, rows: int) -> None:
        """``spark.sql.shuffle.partitions`` from the number of rows read (``"auto"``)."""
        if not self._auto_partitions:
            return
        cores = max(int(self.spark.sparkContext.defaultParallelism), 1)
        parts = max(cores, -(-int(rows) // max(self.rows_per_partition, 1)))
        self.spark.conf.set("spark.sql.shuffle.partitions", str(parts))

    def q(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def lit(self, value: Any) -> str:
        return literal(value, backslash_escapes=True)

    def view(self, sql: str, prefix: str = "v") -> str:
        name = self.new_name(prefix)
        self.spark.sql(sql).createOrReplaceTempView(name)
        return name

    def checkpoint(self, name: str) -> str:
        """The view ``name`` computed once and cut from its lineage (``localCheckpoint``).

        The time rules make the ``timestamp`` column a long expression; every later step of
        the pipeline builds on it, and Spark's plans then grow until the driver runs out of
        memory. The log as read is therefore checkpointed once: later plans start from it.
        """
        new = self.new_name("ckpt")
        try:
            self.spark.table(name).localCheckpoint(eager=True).createOrReplaceTempView(new)
        except Exception as exc:  # a file the executors cannot read, said plainly
            if not _engine_exception(exc) or not self._reading:
                raise
            raise read_error(self.name, self._reading, exc) from None
        return new

    def table(self, sql: str, prefix: str = "t") -> str:
        name = self.new_name(prefix)
        df = self.spark.sql(sql)
        if self.cache:
            df = df.cache()
        df.createOrReplaceTempView(name)
        return name

    def fetch(self, sql: str) -> pd.DataFrame:
        df = self.spark.sql(sql)
        rows = df.collect()
        out = pd.DataFrame([r.asDict() for r in rows], columns=df.columns)
        for f in df.schema.fields:
            tname = f.dataType.typeName()
            if tname in ("timestamp", "timestamp_ntz"):
                out[f.name] = pd.to_datetime(out[f.name]).dt.tz_localize("UTC")
            elif tname == "date":  # as DuckDB gives a DATE (a Hive partition's value)
                out[f.name] = pd.to_datetime(out[f.name]).astype("datetime64[us]")
        return out

    def register(self, frame, prefix: str = "df") -> str:
        import pyarrow as pa

        name = self.new_name(prefix)
        # through Arrow, not pandas: pyspark's pandas conversion warns at every call under
        # pandas >= 3 (a FutureWarning), and Arrow keeps the types (UTC instants, strings)
        table = (
            frame
            if isinstance(frame, pa.Table)
            else pa.Table.from_pandas(frame, preserve_index=False)
        )
        table = _spark_types(table)
        # a LocalRelation: joined by broadcast (built on the driver); cut into slices so
        # that no task that scans it carries more than ``max_task_bytes``
        cores = max(int(self.spark.sparkContext.defaultParallelism), 1)
        per_slice = max(self.max_task_bytes * cores, 1)
        n_slices = min(max(1, -(-int(table.nbytes) // per_slice)), 256)
        step = max(1, -(-table.num_rows // n_slices))
        sdf = None
        for start in range(0, max(table.num_rows, 1), step):
            part = self.spark.createDataFrame(table.slice(start, step))
            sdf = part if sdf is None else sdf.unionByName(part)
        sdf.createOrReplaceTempView(name)
        return name

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def read(self, paths: list[str], fmt: str, *, all_varchar: bool = True) -> str:
        """The files as one view, ``row_id`` their position end to end in the order given.

        Spark plans the splits of files by size, not in the order given, and numbers rows
        by split (``monotonically_increasing_id``): one job counts the rows of every
        (file, split), and each row's position in its file follows from them. A file the
        executors cannot read fails here, with the path and the cause
        (:class:`~parcours_research.errors.EngineReadError`)."""
        uris = [self.uri(p) for p in paths]
        self._reading = uris
        try:
            sdf = self._load(uris, fmt, all_varchar)
            sdf, rows = _with_row_ids(self.spark, sdf, uris)
        except Exception as exc:  # noqa: BLE001 - the engine's own error, said plainly
            if not _engine_exception(exc):
                raise
            raise read_error(self.name, uris, exc) from None
        self._tune(rows)
        name = self.new_name("src")
        sdf.createOrReplaceTempView(name)
        return name

    def _load(self, uris: list[str], fmt: str, all_varchar: bool):
        reader = self.spark.read
        base = _hive_base(uris)
        if base:  # the ``key=value`` folders become columns, as on DuckDB
            reader = reader.option("basePath", base)
        if fmt == "parquet":
            return reader.parquet(*uris)
        if fmt == "csv":
            return reader.option("header", True).option("inferSchema", not all_varchar).csv(uris)
        if fmt == "jsonl":
            return reader.json(uris)
        raise ValueError(fmt)  # pragma: no cover

    @staticmethod
    def uri(path: str) -> str:
        """How Spark is given a file: URIs as they are, a local path as ``file:///abs/path``
        (a path without a scheme would otherwise be read from the cluster's default file
        system, HDFS on YARN, not the file checked on this machine)."""
        from .._files import is_uri

        if is_uri(path):
            return path
        return "file://" + os.path.abspath(path)

    def list_files(self, uri: str) -> list[str]:
        """The files a URI names, listed by the session's Hadoop file system (the one its
        executors read with), sorted by path; a folder is read whole, hidden files left
        out."""
        try:
            return self._list(uri)
        except Exception as exc:  # noqa: BLE001 - the engine's own error, said plainly
            if not _engine_exception(exc):
                raise
            raise read_error(self.name, [uri], exc, listing=True) from None

    def _list(self, uri: str) -> list[str]:
        jvm = self.spark._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        fs = path.getFileSystem(self.spark._jsc.hadoopConfiguration())
        statuses = fs.globStatus(path)
        out: list[str] = []
        for st in list(statuses or []):
            if not st.isDirectory():
                out.append(st.getPath().toString())
                continue
            root = st.getPath().toString()
            files = fs.listFiles(st.getPath(), True)
            while files.hasNext():
                f = files.next().getPath().toString()
                if not _hidden_below(root, f):
                    out.append(f)
        # Hadoop writes local files ``file:/x``: given back as the URI ``file:///x``
        return sorted("file://" + _scheme_free(f) if f.startswith("file:") else f for f in out)

    def us(self, expr: str) -> str:
        return f"unix_micros({expr})"

    def from_us(self, expr: str) -> str:
        return f"timestamp_micros(CAST({expr} AS BIGINT))"

    def regex(self, expr: str, pattern: str) -> str:
        return f"({expr} RLIKE {self.lit(pattern)})"

    def median(self, expr: str) -> str:
        return f"percentile({expr}, 0.5)"

    def ordered_concat(self, expr: str, order: list[str], sep: str) -> str:
        fields = ", ".join(f"{o} AS _o{i}" for i, o in enumerate(order))
        return (
            f"array_join(transform(array_sort(collect_list(struct({fields}, {expr} AS _v))), "
            f"x -> x._v), {self.lit(sep)})"
        )

    def parse_timestamp(self, expr: str, timezone: str) -> str:
        e = f"trim(CAST({expr} AS STRING))"
        has_offset = f"({e} RLIKE '(Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)$')"
        return (
            f"CASE WHEN {has_offset} THEN try_to_timestamp({e}) "
            f"ELSE to_utc_timestamp(try_to_timestamp({e}), {self.lit(timezone)}) END"
        )

    def local_timestamp(self, expr: str, timezone: str) -> str:
        return f"to_utc_timestamp(CAST({expr} AS TIMESTAMP), {self.lit(timezone)})"

    def param_value(self, params: str, key: str, field: str) -> str:
        # try_element_at: NULL for an event without the key (``[0]`` fails under ANSI mode)
        return f"try_element_at(filter({params}, x -> x.key = {self.lit(key)}), 1).value.{field}"

    def __repr__(self) -> str:
        return "SparkEngine()"


def _hive_base(uris: list[str]) -> str | None:
    """The folder above the Hive partition folders (``key=value``) of the files, for Spark's
    ``basePath`` (files named one by one lose their partition columns without it); None
    when the files are in no such folder."""
    dirs = [u.rsplit("/", 1)[0].split("/") for u in uris]
    common: list[str] = []
    for parts in zip(*dirs):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    for i, part in enumerate(common):
        if "=" in part and i > 0:
            return "/".join(common[:i])
    if any("=" in p for d in dirs for p in d[len(common) :]):
        return "/".join(common)
    return None


def _spark_types(table):
    """An Arrow table Spark takes: instants in microseconds UTC, dictionaries decoded,
    all-null columns as strings."""
    import pyarrow as pa

    cols, names = [], table.column_names
    for name in names:
        col = table.column(name)
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_timestamp(t) and t.unit != "us":
            col = col.cast(pa.timestamp("us", tz=t.tz), safe=False)
        elif pa.types.is_null(t):
            col = col.cast(pa.string())
        cols.append(col)
    return pa.table(cols, names=names)


def _with_row_ids(spark, sdf, uris: list[str]):
    """``(sdf with row_id, rows)``: each row's position in the files put end to end in the
    order of ``uris``, from one job counting the rows of every (file, split)."""
    from pyspark.sql import functions as F

    base = sdf.select(
        "*",
        F.col("_metadata.file_path").alias("_pr_file"),
        F.monotonically_increasing_id().alias("_pr_mono"),
    ).withColumn("_pr_part", F.shiftright("_pr_mono", 33))
    stats = (
        base.groupBy("_pr_file", "_pr_part")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.min("_pr_mono").alias("lo"),
            F.max("_pr_mono").alias("hi"),
        )
        .collect()
    )
    rank = {_file_key(u): i for i, u in enumerate(uris)}
    seen = sorted(
        {r["_pr_file"] for r in stats}, key=lambda f: (rank.get(_file_key(f), len(rank)), f)
    )
    place = {f: i for i, f in enumerate(seen)}
    chunks = sorted(stats, key=lambda r: (place[r["_pr_file"]], r["lo"]))
    deltas, acc = [], 0
    for r in chunks:  # a split's rows are consecutive ids: position = id + delta
        deltas.append((r["_pr_file"], int(r["_pr_part"]), acc - int(r["lo"])))
        acc += int(r["n"])
    cols = list(sdf.columns)
    if all(int(r["hi"]) - int(r["lo"]) + 1 == int(r["n"]) for r in stats):
        table = spark.createDataFrame(deltas, "_pr_file string, _pr_part long, _pr_delta long")
        out = base.join(F.broadcast(table), ["_pr_file", "_pr_part"], "left")
        row_id = F.col("_pr_mono") + F.col("_pr_delta")
    else:  # pragma: no cover - a split not in one piece: rank within the file
        from pyspark.sql import Window

        offsets, acc2 = [], 0
        for f in seen:
            offsets.append((f, acc2))
            acc2 += sum(int(r["n"]) for r in stats if r["_pr_file"] == f)
        table = spark.createDataFrame(offsets, "_pr_file string, _pr_off long")
        w = Window.partitionBy("_pr_file").orderBy("_pr_mono")
        out = base.join(F.broadcast(table), ["_pr_file"], "left")
        row_id = F.row_number().over(w) - 1 + F.col("_pr_off")
    return out.select(*[F.col(f"`{c}`") for c in cols], row_id.alias("row_id")), acc


def _file_key(path: str) -> str:
    """A file's name comparable between a URI given to Spark and Spark's ``file_path``."""
    from urllib.parse import unquote

    return _scheme_free(unquote(path))


def _spill_folder(con) -> tuple[str, weakref.finalize]:
    """Where DuckDB spills, and the finalizer that removes it (when ``con`` is collected, at
    exit, or when called by ``close``).

    A folder of its own (``engine-<pid>-<random>``) inside the user's private folder of the
    system's temporary folder (:func:`_private_parent`), which DuckDB creates at its first
    spill only and removes on close with its files: an engine that never spills, or a
    process that is killed before it spills (a notebook kernel stopped at once), leaves
    nothing behind. Where that parent cannot be trusted, a folder of ``mkdtemp``, as before.
    """
    parent = _private_parent()
    if parent is None:
        folder = tempfile.mkdtemp(prefix="parcours_duckdb_")
    else:
        folder = os.path.join(parent, f"engine-{os.getpid()}-{secrets.token_hex(6)}")
    return folder, weakref.finalize(con, shutil.rmtree, folder, True)


def _private_parent() -> str | None:
    """``parcours_duckdb-<uid>`` in the system's temporary folder, made with mode 0700 if
    missing; None unless it is a real folder of this user that nobody else may enter (a
    folder another user made, or a link, in a shared /tmp), or where users have no ids."""
    if not hasattr(os, "getuid"):
        return None
    parent = os.path.join(tempfile.gettempdir(), f"parcours_duckdb-{os.getuid()}")
    try:
        os.mkdir(parent, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(parent)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return parent


_DEFAULT: DuckDBEngine | None = None


def default_engine() -> DuckDBEngine:
    """The shared in-process DuckDB engine used when no engine is given.

    Environment variables ``PARCOURS_DUCKDB_THREADS`` and ``PARCOURS_DUCKDB_MEMORY`` set its
    threads and memory limit.
    """
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = DuckDBEngine(
            threads=int(os.environ.get("PARCOURS_DUCKDB_THREADS", "0")) or None,
            memory_limit=os.environ.get("PARCOURS_DUCKDB_MEMORY") or None,
        )
    return _DEFAULT
