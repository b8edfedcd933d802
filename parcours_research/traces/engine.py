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
import tempfile
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
        the row's position in the file(s), 0-based."""

    def scalar(self, sql: str):
        df = self.fetch(sql)
        return None if df.empty else df.iat[0, 0]

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
        self.fast = bool(fast)
        self.con.execute("SET TimeZone = 'UTC'")
        if connection is None:  # no progress bars on the console of a notebook or the CLI
            self.con.execute("SET enable_progress_bar = false")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        if temp_directory is None and connection is None:
            temp_directory = tempfile.mkdtemp(prefix="parcours_duckdb_")
        if temp_directory:
            self.con.execute(f"SET temp_directory = {literal(str(temp_directory))}")
        self._keep: dict[str, Any] = {}

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
            src = f"read_parquet({files}, file_row_number = true, filename = true)"
            if len(paths) == 1:
                sql = f"SELECT * EXCLUDE (file_row_number, filename), file_row_number AS row_id FROM {src}"
            else:  # positions continue from one file to the next, in the order given
                counts = self.fetch(f"SELECT filename, count(*) AS n FROM {src} GROUP BY filename")
                n_by = dict(zip(counts["filename"], counts["n"]))
                offs, acc = {}, 0
                for p in paths:
                    offs[p] = acc
                    acc += int(n_by.get(p, 0))
                off = " ".join(f"WHEN {literal(p)} THEN {o}" for p, o in offs.items())
                sql = (
                    f"SELECT * EXCLUDE (file_row_number, filename), "
                    f"file_row_number + CASE filename {off} END AS row_id FROM {src}"
                )
        elif fmt == "csv":
            src = (
                f"read_csv({files}, header = true, all_varchar = {literal(all_varchar)}, "
                f"union_by_name = true)"
            )
            sql = f"SELECT *, row_number() OVER () - 1 AS row_id FROM {src}"
        elif fmt == "jsonl":
            src = self._json_source(files)
            sql = f"SELECT *, row_number() OVER () - 1 AS row_id FROM {src}"
        else:  # pragma: no cover - checked by the caller
            raise ValueError(fmt)
        # materialise the row positions once for text formats: a view would number them anew
        # (and in the same order) at every scan, which is correct but slower.
        return self.view(sql, "src")

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
        cols = ", ".join(f"{literal(c)}: {literal(str(t))}" for c, t in zip(rel.columns, rel.types))
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
    """

    name = "spark"

    def __init__(self, spark=None, *, cache: bool = True):
        if spark is None:
            from pyspark.sql import SparkSession

            spark = (
                SparkSession.builder.master("local[2]")
                .appName("parcours_research")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", "4")
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
        self.spark.table(name).localCheckpoint(eager=True).createOrReplaceTempView(new)
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
        return out

    def register(self, frame, prefix: str = "df") -> str:
        import pyarrow as pa

        name = self.new_name(prefix)
        if isinstance(frame, pa.Table):
            frame = frame.to_pandas()
        frame = frame.copy()
        for c in frame.columns:
            s = frame[c]
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                frame[c] = s.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
            elif pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
                frame[c] = s.astype(object).where(s.notna(), None)
        sdf = self.spark.createDataFrame(frame)
        sdf.createOrReplaceTempView(name)
        return name

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def read(self, paths: list[str], fmt: str, *, all_varchar: bool = True) -> str:
        from pyspark.sql import functions as F

        def load(files, schema=None):
            reader = self.spark.read
            if schema is not None:
                reader = reader.schema(schema)
            if fmt == "parquet":
                return reader.parquet(*files)
            if fmt == "csv":
                return (
                    reader.option("header", True)
                    .option("inferSchema", not all_varchar)
                    .csv(list(files))
                )
            if fmt == "jsonl":
                return reader.json(list(files))
            raise ValueError(fmt)  # pragma: no cover

        sdf = load(paths)
        if len(paths) > 1:
            # Spark plans the splits of several files by size, not in the order given: read
            # them one by one (one schema for all) and put them end to end, in that order
            schema = sdf.schema
            sdf = load(paths[:1], schema)
            for p in paths[1:]:
                sdf = sdf.union(load([p], schema))
        # increasing with the position in the file(s), not consecutive: every engine orders tied
        # timestamps the same way, by position.
        sdf = sdf.withColumn("row_id", F.monotonically_increasing_id())
        name = self.new_name("src")
        sdf.createOrReplaceTempView(name)
        return name

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
