"""The study's engine (``traces: engine:`` in study.yml, or ``pr.prepare(study, engine=...)``)
runs every trace analysis, and only aggregated tables come back from it.

Expected values are never produced by the code under test alone: the counts and paths computed
on the engine (Spark, DuckDB's SQL path) are compared with the per-user computation of DuckDB's
array path and with the pandas paths table (the implementations these replaced for non-embedded
engines, kept for DuckDB and DataFrames), and ``triangulate`` on Spark with ``triangulate`` on
DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

import parcours_research as pr
from parcours_research.errors import StudyError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _study_with_engine(tmp_path: Path, engine) -> pr.Study:
    """A copy of the sample study (read from the copy: other tests may rewrite the sample)
    whose ``traces: engine:`` is ``engine`` (none when None)."""
    dst = tmp_path / "study"
    shutil.copytree(SAMPLE, dst)
    cfg = yaml.safe_load((dst / "study.yml").read_text(encoding="utf-8"))
    if engine is not None:
        cfg["traces"]["engine"] = engine
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return pr.load_study(dst)


class _Fetches:
    """Counts the rows every ``fetch`` of an engine brings back to Python."""

    def __init__(self, engine):
        self.rows: list[int] = []
        fetch = engine.fetch

        def counted(sql):
            out = fetch(sql)
            self.rows.append(len(out))
            return out

        engine.fetch = counted


# ---------------------------------------------------------------------------------------------
# study.yml: the `engine:` key
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("sprak", r"traces\.engine: unknown engine 'sprak' -> did you mean 'spark'"),
        ("postgres", r"unknown engine 'postgres' -> use one of duckdb, spark"),
        (
            {"name": "spark", "threads": 2},
            r"traces\.engine\.threads: is not a setting of the spark",
        ),
        (
            {"name": "duckdb", "mastr": "local"},
            r"traces\.engine\.mastr: unknown key -> did you mean 'master'",
        ),
    ],
)
def test_unknown_engine_settings_are_errors_with_did_you_mean(tmp_path, engine, message):
    with pytest.raises(StudyError, match=message):
        _study_with_engine(tmp_path, engine)


def test_engine_key_is_read(tmp_path):
    st = _study_with_engine(tmp_path, {"master": "spark://host:7077", "config": {"a.b": True}})
    assert (st.traces.engine, dict(st.traces.engine_options)) == (
        "spark",
        {"master": "spark://host:7077", "config": {"a.b": "true"}},
    )


@pytest.fixture(scope="module")
def sample_study(tmp_path_factory):
    """A copy of the sample study, with no engine named."""
    return _study_with_engine(tmp_path_factory.mktemp("duckdb"), None)


def test_unknown_engine_argument_is_an_error_with_did_you_mean(sample_study):
    with pytest.raises(StudyError, match="did you mean 'duckdb'"):
        pr.prepare(sample_study, engine="duckbd")
    with pytest.raises(StudyError, match="not an engine"):
        pr.prepare(sample_study, engine=3)


def test_duckdb_settings_give_the_study_its_own_engine(tmp_path):
    st = _study_with_engine(tmp_path, {"name": "duckdb", "threads": 1})
    ev = pr.prepare(st)
    engine = pr.evidence.study_engine(st)
    assert isinstance(engine, pr.traces.DuckDBEngine) and engine is not pr.traces.default_engine()
    assert engine.con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert pr.prepare(st, engine="duckdb") is ev  # the name of the study's own engine
    assert ev.traces.engine is engine
    assert ("trace engine", repr(engine)) in list(ev.summary.itertuples(index=False, name=None))


def test_default_study_keeps_the_shared_duckdb(sample_study):
    assert sample_study.traces.engine == "duckdb"  # no `engine:` key
    assert pr.evidence.study_engine(sample_study) is None
    assert pr.prepare(sample_study).options.engine is None


# ---------------------------------------------------------------------------------------------
# counts and paths on the engine (DuckDB's SQL path: what Spark runs)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sql_evidence(sample_study):
    """The sample study prepared on a DuckDB engine without the array fast path: every
    analysis then runs the SQL that Spark runs."""
    return pr.prepare(sample_study, engine=pr.traces.DuckDBEngine(fast=False, threads=1))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"complete_window": False},
        {"period_split": "half"},
        {"period_split": "2026-02-15", "observed_until": "2026-03-01"},
        {"window": "2D", "touchpoint_steps": False},
    ],
    ids=["default", "no-censoring", "half", "date", "window"],
)
def test_counts_on_the_engine_equal_the_per_user_counts(sample_study, sql_evidence, options):
    expected = pr.friction.trace_counts(sample_study, **options)  # per-user table, arrays
    fetches = _Fetches(sql_evidence.traces.engine)
    try:
        got = pr.friction.trace_counts(sql_evidence, **options)
    finally:
        del sql_evidence.traces.engine.fetch
    pd.testing.assert_frame_equal(got, expected)
    # only the count table (and the span of the log) comes back, never a row per user
    assert max(fetches.rows) <= len(expected)


def test_counts_with_given_personas_on_the_engine(sample_study, sql_evidence):
    personas = sample_study.customers[["customer_id", "persona"]].iloc[::2]
    options = {"personas": personas, "period_split": "half"}
    pd.testing.assert_frame_equal(
        pr.friction.trace_counts(sql_evidence, **options),
        pr.friction.trace_counts(sample_study, **options),
    )


def test_counts_without_personas_on_the_engine(sample_study):
    events = pr.prepare(sample_study).traces.log.to_pandas().drop(columns=["persona"])
    options = {
        "funnel": sample_study.traces.funnel,
        "window": "30D",
        "journey": sample_study.journey,
        "period_split": "half",
    }
    fast, sql = pr.traces.DuckDBEngine(), pr.traces.DuckDBEngine(fast=False)
    expected = pr.friction.trace_counts(pr.traces.read_events(events, engine=fast), **options)
    got = pr.friction.trace_counts(pr.traces.read_events(events, engine=sql), **options)
    pd.testing.assert_frame_equal(got, expected)
    assert set(got["persona"]) == {"all"}


def test_customer_paths_on_the_engine_equal_the_pandas_paths(sample_study, sql_evidence):
    from parcours_research.friction.paths import _survey_customers

    events = pr.prepare(sample_study).traces.log.to_pandas().sort_values("row_id")
    expected = pr.friction.customer_paths(
        events, sample_study.journey, customers=_survey_customers(sample_study)
    )
    pd.testing.assert_frame_equal(pr.friction.customer_paths(sample_study), expected)
    pd.testing.assert_frame_equal(pr.friction.customer_paths(sql_evidence), expected)


# ---------------------------------------------------------------------------------------------
# a study whose engine is Spark
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark_study(spark, tmp_path_factory):
    """The sample study with ``traces: engine: spark`` (the test session's local[2])."""
    settings = {
        "name": "spark",
        "master": "local[2]",
        "config": {"spark.sql.shuffle.partitions": 2},
    }
    return _study_with_engine(tmp_path_factory.mktemp("spark"), settings)


class _Collected:
    """Counts the rows every Spark action brings back to the driver."""

    def __init__(self, monkeypatch, spark):
        DataFrame = type(spark.range(1))  # noqa: N806 - pyspark's classic DataFrame class
        self.rows: list[int] = []
        collect, to_pandas = DataFrame.collect, DataFrame.toPandas

        def counted_collect(df):
            out = collect(df)
            self.rows.append(len(out))
            return out

        def counted_to_pandas(df):
            out = to_pandas(df)
            self.rows.append(len(out))
            return out

        monkeypatch.setattr(DataFrame, "collect", counted_collect)
        monkeypatch.setattr(DataFrame, "toPandas", counted_to_pandas)


@pytest.mark.spark
@pytest.mark.slow
def test_triangulate_on_a_spark_study_equals_duckdb_without_pulling_the_log(
    spark, spark_study, monkeypatch
):
    ev = pr.prepare(spark_study)
    assert isinstance(ev.traces.engine, pr.traces.SparkEngine)
    n_events = ev.traces.log.count()
    collected = _Collected(monkeypatch, spark)
    tri = pr.friction.triangulate(spark_study)
    duck = pr.friction.triangulate(pr.prepare(spark_study, engine="duckdb"))
    pd.testing.assert_frame_equal(tri.summary, duck.summary)
    pd.testing.assert_frame_equal(tri.tests, duck.tests)
    # the step counts cross, not the log (37,070 events) nor a row per user (3,209)
    assert collected.rows and max(collected.rows) <= 100
    assert sum(collected.rows) < n_events / 50


@pytest.mark.spark
@pytest.mark.slow
def test_paths_and_pyramid_on_a_spark_study_equal_duckdb(spark, spark_study, monkeypatch):
    duck = pr.prepare(spark_study, engine="duckdb")
    collected = _Collected(monkeypatch, spark)
    pd.testing.assert_frame_equal(pr.traces.pyramid(spark_study), pr.traces.pyramid(duck))
    assert max(collected.rows) <= 100  # one row per persona and step
    pd.testing.assert_frame_equal(pr.friction.test_paths(spark_study), pr.friction.test_paths(duck))
    from parcours_research.report import _Context

    ctx = _Context(spark_study, spark_study.root / "report", "en", 0, 10)
    assert ctx.evidence is pr.prepare(spark_study)  # the report reads the same Spark log
