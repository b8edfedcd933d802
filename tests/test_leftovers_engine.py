"""``read_events(study)`` reads on the study's engine (``traces: engine:`` in study.yml), for a
Study, a study folder or its study.yml, and ``validate`` reads the log once with it.

Expected values: the engine object the study's evidence uses
(:func:`parcours_research.evidence.study_engine`), and the same log read on DuckDB.
"""

from __future__ import annotations

import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.traces import ga4_sample as gs

STUDY = """\
name: engine study
journey:
  stages: [{{id: discover, label: Discover}}]
touchpoints:
- {{id: site, label: Site, stage: discover, channel: web, events: [page_view]}}
personas: [{{id: all, label: Everyone}}]
traces:
  events: {events}
  engine: {engine}
"""


def _ga4_study(folder, engine: str):
    files = gs.write_ga4_export(folder / "ga4", fmt="json", layout="daily", days=1)
    events = f"file://{files[0]}"  # a GA4 export named by a file: URI (format from content)
    (folder / "study.yml").write_text(STUDY.format(events=events, engine=engine), encoding="utf-8")
    return folder


def _frame(log) -> pd.DataFrame:
    return log.to_pandas().sort_values("row_id").reset_index(drop=True)


def test_read_events_uses_the_studys_own_duckdb(tmp_path):
    st = pr.load_study(_ga4_study(tmp_path, "{name: duckdb, threads: 1}"))
    own = pr.evidence.study_engine(st)
    assert own is not None and own is not pr.traces.default_engine()
    assert pr.traces.read_events(st).engine is own
    # a study folder, or its study.yml, is read as the study
    for source in (tmp_path, tmp_path / "study.yml", str(tmp_path)):
        log = pr.traces.read_events(source)
        assert isinstance(log.engine, pr.traces.DuckDBEngine) and log.engine is not (
            pr.traces.default_engine()
        )
    # an engine given still wins
    assert pr.traces.read_events(st, engine=pr.traces.default_engine()).engine is (
        pr.traces.default_engine()
    )
    # validate and the prepared evidence share one read, on the study's engine
    assert pr.evidence.raw_events(st) is pr.evidence.raw_events(st, engine=own)


@pytest.mark.spark
@pytest.mark.slow
def test_read_events_of_a_spark_study_reads_on_spark(spark, tmp_path):
    st = pr.load_study(_ga4_study(tmp_path, "{name: spark, master: 'local[2]'}"))
    log = pr.traces.read_events(st)
    assert isinstance(log.engine, pr.traces.SparkEngine)
    assert log.engine is pr.evidence.study_engine(st)
    assert pr.prepare(st).traces.engine is log.engine
    duck = pr.traces.read_events(st, engine=pr.traces.default_engine())
    # the same rows in the same order (Spark numbers GA4 rows increasing, not consecutive)
    got, want = (_frame(x).drop(columns="row_id") for x in (log, duck))
    assert sorted(got.columns) == sorted(want.columns)  # Spark orders JSON keys by name
    flat = [c for c in want.columns if c != "items"]  # a nested list: Row vs dict
    pd.testing.assert_frame_equal(got[flat], want[flat], check_dtype=False)
