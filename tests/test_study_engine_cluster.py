"""A study whose ``traces: engine:`` names a real Spark standalone cluster (a master and a
worker on 127.0.0.1, started by the ``spark_cluster`` fixture): ``triangulate`` equals its
result on DuckDB (the embedded default engine, on the same files), and the work runs on the
cluster's executors.

In a module of its own: one JVM holds one Spark session, and the local-mode tests of
``test_study_engine.py`` use another master.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

import parcours_research as pr

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_triangulate_on_a_study_whose_engine_is_a_standalone_cluster(
    spark_cluster, spark_cluster_session, tmp_path
):
    import spark_cluster as sc

    dst = tmp_path / "study"
    shutil.copytree(SAMPLE, dst)
    cfg = yaml.safe_load((dst / "study.yml").read_text(encoding="utf-8"))
    cfg["traces"]["engine"] = {"master": spark_cluster.url, "config": sc.cluster_conf()}
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    study = pr.load_study(dst)

    engine = pr.evidence.study_engine(study)
    assert engine.spark.sparkContext.master == spark_cluster.url
    on_cluster = pr.friction.triangulate(study)
    on_duckdb = pr.friction.triangulate(pr.prepare(study, engine="duckdb"))
    pd.testing.assert_frame_equal(on_cluster.summary, on_duckdb.summary)
    pd.testing.assert_frame_equal(on_cluster.tests, on_duckdb.tests)
    assert on_duckdb.summary["n_friction"].sum() > 0  # not a comparison of empty results
    executors = engine.spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    assert executors >= 2  # the driver and at least one executor of the worker
