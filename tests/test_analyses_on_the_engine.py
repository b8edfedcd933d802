"""The 0.4.1 grouped SQL of the analyses (lived journeys of ``conformance``, contact totals of
``contact_counts``) gives on Spark what it gives on DuckDB, and on DuckDB what the per-event
computation of 0.4.0 gave.

Expected values: DuckDB's per-event computation, written here from the 0.4.0 code (one row per
touchpoint event fetched, visits and paths built in pandas; one row per contact fetched, counted
in pandas), is the reference of the DuckDB results; DuckDB's results are the reference of Spark's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import parcours_research as pr
from parcours_research.conformance import lived_journeys

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _journeys_per_event(ev) -> pd.DataFrame:
    """0.4.0's lived journeys: every touchpoint event fetched, visits cut in pandas."""
    log = ev.traces.log
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    if log.has("identified"):
        where += " AND identified"
    df = log.engine.fetch(
        f"SELECT user_id, session_id, touchpoint, persona FROM {log.ref} WHERE {where} "
        "ORDER BY user_id, timestamp, row_id"
    )
    user, sess, tp = (df[c].astype(str).to_numpy() for c in ("user_id", "session_id", "touchpoint"))
    new = np.ones(len(df), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (sess[1:] != sess[:-1]) | (tp[1:] != tp[:-1])
    v = pd.DataFrame({"customer_id": user[new], "touchpoint": tp[new]})
    g = v.groupby("customer_id", sort=True)["touchpoint"]
    out = g.agg(" > ".join).rename("path").reset_index()
    out["n_visits"] = g.size().to_numpy()
    first = df.drop_duplicates("user_id")
    persona = pd.Series(first["persona"].to_numpy(), index=first["user_id"].astype(str).to_numpy())
    out.insert(1, "persona", persona.reindex(out["customer_id"]).astype("string").to_numpy())
    return out.astype({"customer_id": "string", "persona": "string", "path": "string"})


def _counts_per_contact(ev) -> pd.Series:
    """0.4.0's contact totals over the study: every contact fetched, kept within the study's
    bounds, counted in pandas, for the customers of the customer file."""
    from parcours_research._contact_counts import _bounds, _contact_frame

    frame, tz, study = _contact_frame(ev, None)
    start, end = _bounds(study, frame, None, None, tz)
    frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
    frame = frame[frame["customer_id"].isin(set(study.customers["customer_id"].astype(str)))]
    return frame.groupby(["customer_id", "channel"]).size()


def test_lived_journeys_equal_the_per_event_paths(sample_study):
    ev = pr.prepare(sample_study)
    got = lived_journeys(ev)
    pd.testing.assert_frame_equal(got, _journeys_per_event(ev))
    assert got["path"].str.contains(" > ").any() and (got["n_visits"] > 1).any()


def test_contact_totals_equal_the_per_contact_counts(sample_study):
    ev = pr.prepare(sample_study)
    got = pr.traces.contact_counts(ev)
    assert set(got["period"]) == {"study"}
    counted = got[got["contacts"] > 0].set_index(["customer_id", "channel"])["contacts"]
    ref = _counts_per_contact(ev)
    pd.testing.assert_series_equal(
        counted.sort_index(), ref.sort_index(), check_names=False, check_index_type=False
    )


@pytest.fixture(scope="module")
def spark_study(spark, tmp_path_factory):
    """A copy of the sample study with ``traces: engine: spark`` (the session's local[2])."""
    dst = tmp_path_factory.mktemp("spark") / "study"
    shutil.copytree(SAMPLE, dst)
    cfg = yaml.safe_load((dst / "study.yml").read_text(encoding="utf-8"))
    cfg["traces"]["engine"] = {
        "name": "spark",
        "master": "local[2]",
        "config": {"spark.sql.shuffle.partitions": 2},
    }
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return pr.load_study(dst)


@pytest.mark.spark
@pytest.mark.slow
def test_journeys_and_contacts_on_spark_equal_duckdb(spark, spark_study):
    duck = pr.prepare(spark_study, engine="duckdb")
    pd.testing.assert_frame_equal(lived_journeys(spark_study), lived_journeys(duck))
    pd.testing.assert_frame_equal(
        pr.traces.contact_counts(spark_study), pr.traces.contact_counts(duck)
    )
