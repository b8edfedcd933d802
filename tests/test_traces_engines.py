"""One row order for every engine and every way of naming the input; URIs read by the engine.

The same files named as a folder (Hive partitions), a glob, a list in any order or a
``file:///`` URI give the same ``row_id`` (the position in the files sorted by path, put end to
end), so the same cleaned tables, sessions, funnels and transitions, ties included, on DuckDB
(array path and SQL path) and on Spark. The expected values are DuckDB's SQL path on the
same data; the ties are built so that any other file order changes the transitions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parcours_research as pr
from parcours_research.errors import EngineReadError, TraceDataError

T0 = pd.Timestamp("2026-03-02 09:00", tz="UTC")
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04")


def _day_frame(day: int, n: int, seed: int) -> pd.DataFrame:
    """Events of one day; every file has a tie with the next one: user ``tie`` does ``a`` at
    the file's last row and ``b`` at the same instant in the next file's first row."""
    rng = np.random.default_rng(seed)
    start = T0 + pd.Timedelta(days=day)
    users = [f"u{k:02d}" for k in rng.integers(0, 12, n)]
    ts = start + pd.to_timedelta(np.sort(rng.integers(0, 3 * 3600, n)), unit="s")
    df = pd.DataFrame(
        {
            "user_id": users,
            "device_id": [u.replace("u", "d") for u in users],
            "timestamp": ts,
            "event": rng.choice(["a", "b", "c", "x"], n),
        }
    )
    tie = pd.DataFrame(
        {
            "user_id": ["tie", "tie"],
            "device_id": ["dtie", "dtie"],
            "timestamp": [start + pd.Timedelta(hours=5)] * 2,
            "event": ["b", "c"],
        }
    )
    out = pd.concat([tie.iloc[[0]], df, tie.iloc[[1]]], ignore_index=True)
    return out.assign(user_id=lambda d: d["user_id"].where(np.arange(len(d)) % 4 != 0, None))


def _write(tmp_path, fmt: str) -> dict:
    """The same events as files of a folder with Hive partitions (``day=...``); the files
    grow with their name, so Spark's largest-first planning would put them in reverse."""
    root = tmp_path / f"events_{fmt}"
    files = []
    for i, day in enumerate(DAYS):
        folder = root / f"day={day}"
        folder.mkdir(parents=True)
        frame = _day_frame(i, 40 + 30 * i, seed=i)
        path = folder / f"part-{i}.{fmt}"
        if fmt == "parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, path, row_group_size=25)  # several row groups a file
        else:
            frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
                path, index=False
            )
        files.append(path)
    (root / "_SUCCESS").write_text("")  # left out when the folder is read whole
    (root / f"day={DAYS[0]}" / ".part-0.crc").write_text("x")
    return {
        "folder": str(root),
        "glob": str(root / "day=*" / f"*.{fmt}"),
        "list": [str(p) for p in reversed(files)],  # any order: sorted by path
        "uri": "file://" + str(root),
    }


def _pipeline(source, engine, fmt: str) -> dict:
    log = pr.traces.read_events(source, format=fmt, engine=engine)
    cleaned, clog = pr.traces.clean(log)
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=False)
    sessions = pr.traces.sessionize(stitched, gap="30min")
    keep = ["row_id", "user_id", "event", "session_id", "day"]
    return {
        "rows": log.count(),
        "row_ids": sorted(log.to_pandas()["row_id"].tolist()),
        "log": clog.summary[["reason", "n"]],
        "cleaned": cleaned.to_pandas()[keep[:3] + ["timestamp", "day"]]
        .sort_values("row_id")
        .reset_index(drop=True),
        "sessions": sessions.to_pandas()[keep].sort_values("row_id").reset_index(drop=True),
        "funnel": pr.traces.funnel(sessions, steps=["a", "b", "c"], window="1h"),
        "transitions": pr.traces.transitions(sessions),
        "variants": pr.traces.variants(sessions, top=None),
        "kept": cleaned.count(),
    }


def _same(a: dict, b: dict, what: str) -> None:
    assert a["rows"] == b["rows"] and a["row_ids"] == b["row_ids"], what
    for key in ("log", "cleaned", "sessions", "funnel", "transitions", "variants"):
        x, y = a[key].reset_index(drop=True), b[key].reset_index(drop=True)
        if "day" in x:  # a Hive partition value: a date on both engines
            x, y = x.assign(day=x["day"].astype(str)), y.assign(day=y["day"].astype(str))
        pd.testing.assert_frame_equal(x, y, check_dtype=False, obj=f"{what}: {key}")


def _check_counts(out: dict) -> None:
    """Row ids are the positions 0..n-1, and the cleaning log adds up to the input."""
    assert out["row_ids"] == list(range(out["rows"]))
    log = out["log"].set_index("reason")["n"]
    assert log.sum() == out["rows"]
    assert log["kept"] == out["kept"] > 0


def _tie_transition(out: dict) -> None:
    """The ties across files are broken by file order: ``tie`` does b, c, b, c, b, c."""
    tie = out["sessions"][out["sessions"]["user_id"] == "tie"]
    assert tie["event"].tolist() == ["b", "c"] * 3


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_every_way_of_naming_the_files_gives_one_row_order_on_duckdb(tmp_path, fmt):
    names = _write(tmp_path, fmt)
    ref = _pipeline(names["folder"], pr.traces.DuckDBEngine(fast=False), fmt)
    _check_counts(ref)
    _tie_transition(ref)
    assert set(ref["cleaned"]["day"].astype(str)) == set(DAYS)  # Hive columns kept
    for how, source in names.items():  # the array path, equal to the SQL path
        out = _pipeline(source, pr.traces.DuckDBEngine(), fmt)
        _check_counts(out)
        _same(ref, out, f"{fmt} {how}")


def test_a_file_named_twice_is_an_error(tmp_path):
    names = _write(tmp_path, "parquet")
    with pytest.raises(TraceDataError, match="named twice"):
        pr.traces.read_events([names["folder"], names["list"][0]], format="parquet")


def test_a_uri_is_listed_by_the_engine_and_a_missing_one_named(tmp_path):
    names = _write(tmp_path, "parquet")
    log = pr.traces.read_events(names["uri"] + "/day=*/*.parquet", format="parquet")
    assert log.count() == pr.traces.read_events(names["folder"], format="parquet").count()
    with pytest.raises(EngineReadError, match="duckdb") as err:
        pr.traces.read_events(f"file://{tmp_path}/nowhere/*.parquet", format="parquet")
    assert "nowhere" in str(err.value) and isinstance(err.value, ValueError)


# -- Spark ---------------------------------------------------------------------------------
@pytest.mark.spark
@pytest.mark.slow
def test_spark_numbers_rows_like_duckdb_whatever_the_naming(spark, tmp_path):
    eng = pr.traces.SparkEngine(spark)
    # the other namings give DuckDB the same files in the same order (test above)
    for fmt, how in (("parquet", "folder"), ("csv", "list")):
        names = _write(tmp_path / fmt, fmt)
        ref = _pipeline(names["folder"], pr.traces.DuckDBEngine(fast=False), fmt)
        out = _pipeline(names[how], eng, fmt)
        _check_counts(out)
        _tie_transition(out)
        _same(ref, out, f"spark {fmt} {how}")


@pytest.mark.spark
@pytest.mark.slow
def test_spark_names_a_uri_it_cannot_read(spark, tmp_path):
    """s3a:// without the hadoop-aws connector: the engine says so (the driver's disk is not
    searched, so no "no file matches this pattern")."""
    eng = pr.traces.SparkEngine(spark)
    with pytest.raises(EngineReadError) as err:
        pr.traces.read_events("s3a://bucket/events/*.parquet", engine=eng, format="parquet")
    text = str(err.value)
    assert "spark" in text and "s3a://bucket/events/*.parquet" in text and "hadoop-aws" in text
    assert "no file matches" not in text


class _FileGoneOnExecutors(pr.traces.SparkEngine):
    """Lists the files on the driver, then one disappears before the executors read it: a
    path the driver sees but the executors do not."""

    gone = None

    def _load(self, uris, fmt, all_varchar):
        sdf = super()._load(uris, fmt, all_varchar)
        import os

        os.remove(self.gone)
        return sdf


@pytest.mark.spark
@pytest.mark.slow
def test_spark_names_the_file_its_executors_cannot_read(spark, tmp_path):
    names = _write(tmp_path, "parquet")
    eng = _FileGoneOnExecutors(spark)
    eng.gone = names["list"][0]
    with pytest.raises(EngineReadError) as err:
        pr.traces.read_events(names["folder"], engine=eng, format="parquet")
    text = str(err.value)
    assert "spark engine cannot read" in text and "part-2.parquet" in text
    assert "not found" in text and "executor" in text


@pytest.mark.spark
@pytest.mark.slow
def test_spark_defaults_partitions_broadcast_and_no_pandas_warning(spark, tmp_path):
    """Shuffle partitions follow the log's size unless set; the identity map is joined by
    broadcast, in slices that keep tasks small; no pyspark FutureWarning about pandas."""
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"  # set by the session
    eng = pr.traces.SparkEngine(spark)
    assert not eng._auto_partitions  # a value somebody chose is left alone
    eng._auto_partitions, eng.rows_per_partition = True, 10
    names = _write(tmp_path, "parquet")
    try:
        log = pr.traces.read_events(names["folder"], format="parquet", engine=eng)
        rows = log.count()
        assert spark.conf.get("spark.sql.shuffle.partitions") == str(-(-rows // 10))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")
    idmap = pd.DataFrame(
        {"device_id": [f"d{i:06d}" for i in range(20_000)], "customer_id": "c"}
    ).assign(customer_id=lambda d: "c" + d["device_id"].str[1:])
    idmap.loc[0, "device_id"] = "dtie"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        stitched, _ = pr.traces.stitch(log, identity_map=idmap, login_events=False)
        frame = stitched.to_pandas()
    # the tie's device: rows without a customer id get the map's customer
    assert set(frame.loc[frame["device_id"] == "dtie", "user_id"]) == {"tie", "c000000"}
    plan = spark.table(stitched.name)._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastHashJoin" in plan
    eng.max_task_bytes = 16 << 10  # the 20,000 rows (about 400 KB) in several slices
    name = eng.register(idmap)
    scans = spark.table(name)._jdf.queryExecution().analyzed().toString().count("LocalRelation")
    assert scans > 1 and spark.table(name).count() == len(idmap)
