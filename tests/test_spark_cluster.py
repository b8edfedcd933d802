"""The README's Spark pipeline on a real standalone cluster (a master and a worker on
127.0.0.1, started by the ``spark_cluster`` fixture), reading a ``file:///`` URI: every table
equals DuckDB's on the same files.

The expected values are DuckDB's (the embedded default engine) on the sample study's event log,
written as three Parquet files; the executors are separate JVMs started by the worker, so the
files are read by them, not by the driver.
"""

from __future__ import annotations

import pandas as pd
import pytest

import parcours_research as pr

pytestmark = [pytest.mark.spark, pytest.mark.slow]

COLUMNS = {
    "user_id": "customer_id",
    "device_id": "device_id",
    "timestamp": "ts",
    "event": "event_name",
    "user_agent": "user_agent",
}
STEPS = ["home_view", "product_view", "quote_done", "signup_done", "kyc_done"]


def _export(sample_dir, folder):
    """The sample's events as three Parquet files (one per third of the rows)."""
    events = pd.read_csv(sample_dir / "traces" / "events.csv.gz", dtype=str)
    folder.mkdir()
    step = -(-len(events) // 3)
    for i in range(3):
        events.iloc[i * step : (i + 1) * step].to_parquet(folder / f"events_{i}.parquet")
    return len(events)


def _readme_pipeline(uri, engine, identity_map):
    """The README's example, as written there."""
    events = pr.traces.read_events(uri, columns=COLUMNS, timezone="Europe/Paris", engine=engine)
    cleaned, log = pr.traces.clean(events)
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=identity_map)
    sessions = pr.traces.sessionize(stitched, gap="30min")
    return {
        "log": log.summary,
        "conflicts": conflicts,
        "funnel": pr.traces.funnel(sessions, steps=STEPS, window="7D"),
        "sessions": sessions.to_pandas()[["row_id", "user_id", "session_id"]]
        .sort_values("row_id")
        .reset_index(drop=True),
    }


def test_readme_pipeline_on_a_standalone_cluster(spark_cluster_session, sample_dir, tmp_path):
    spark = spark_cluster_session
    assert spark.sparkContext.master.startswith("spark://127.0.0.1:")
    n = _export(sample_dir, tmp_path / "events")
    uri = f"file://{tmp_path}/events/*.parquet"
    identity = str(sample_dir / "traces" / "identity.csv")
    on_cluster = _readme_pipeline(uri, pr.traces.SparkEngine(spark), identity)
    on_duckdb = _readme_pipeline(uri, pr.traces.DuckDBEngine(), identity)
    for key, expected in on_duckdb.items():
        pd.testing.assert_frame_equal(
            on_cluster[key].reset_index(drop=True),
            expected.reset_index(drop=True),
            check_dtype=False,
            obj=key,
        )
    # not a comparison of empty tables; the log adds up to the input
    assert on_duckdb["log"]["n"].sum() == n
    assert on_duckdb["funnel"]["entered"].iloc[0] > 100 and len(on_duckdb["conflicts"]) > 0
    # the work ran on the worker's executors, not in the driver
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    assert executors >= 2  # the driver and at least one executor
