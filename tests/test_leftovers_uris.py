"""study.yml may name the event log by a URI (``file:///``, ``s3a://``...), and a GA4 export
named by a ``file:`` URI reads like its local path.

Expected values: the same log read from its local path (the behaviour these URIs must match),
and the problems study.yml's checks are documented to list.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.errors import StudyError, TraceDataError
from parcours_research.traces import _ga4, io
from parcours_research.traces import ga4_sample as gs

STUDY = """\
name: URI study
journey:
  stages:
  - {{id: discover, label: Discover}}
  - {{id: buy, label: Buy}}
touchpoints:
- {{id: site, label: Site, stage: discover, channel: web, events: [page_view, home_view]}}
- {{id: product, label: Product page, stage: discover, channel: web, events: [view_item]}}
- {{id: basket, label: Basket, stage: buy, channel: web, events: [add_to_cart, purchase]}}
personas:
- {{id: all, label: Everyone}}
traces:
  events: {events}
  timezone: Europe/Paris
{extra}"""

CSV = (
    "customer_id,ts,event_name\n"
    "c1,2026-01-05 10:00:00,home_view\n"
    "c1,2026-01-05 10:01:00,view_item\n"
    "c2,2026-01-05 11:00:00+01:00,home_view\n"
    "c2,2026-01-06 09:00:00,purchase\n"
)
CSV_KEYS = "  columns: {user_id: customer_id, timestamp: ts, event: event_name}\n"


def _study(folder: Path, events: str, extra: str = CSV_KEYS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yml").write_text(STUDY.format(events=events, extra=extra), encoding="utf-8")
    return folder


def _frame(log) -> pd.DataFrame:
    return log.to_pandas().sort_values("row_id").reset_index(drop=True)


@pytest.fixture
def outside(tmp_path):
    """An event log outside the study folder (two daily CSV files)."""
    logs = tmp_path / "warehouse" / "events"
    logs.mkdir(parents=True)
    lines = CSV.splitlines(keepends=True)
    (logs / "day1.csv").write_text("".join(lines[:3]), encoding="utf-8")
    (logs / "day2.csv").write_text(lines[0] + "".join(lines[3:]), encoding="utf-8")
    return logs


# -- study.yml ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["day1.csv", "*.csv", ""])  # a file, a pattern, a folder
def test_file_uri_in_study_yml_reads_like_the_local_path(tmp_path, outside, name):
    uri = f"file://{outside}/{name}"
    st = pr.load_study(_study(tmp_path / "study", uri))
    assert st.traces.events == uri and st.traces.sources == (uri,)  # kept as written
    assert st.traces.format == "csv"
    one = name == "day1.csv"
    local = [str(outside / name)] if one else sorted(str(p) for p in outside.glob("*.csv"))
    expected = _frame(
        pr.traces.read_events(
            local,
            columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
            timezone="Europe/Paris",
        )
    )
    pd.testing.assert_frame_equal(_frame(pr.traces.read_events(st)), expected)
    assert ("event log", uri) in list(st.summary().itertuples(index=False, name=None))
    v = pr.validate(st.root)  # `parcours validate` reads the URI and names it as written
    assert v.ok, v.summary
    events = v.sources.set_index("source").loc["events"]
    assert events["status"] == "ok" and f"{len(expected)} raw rows" in events["detail"]


def test_a_uri_needs_no_allow_outside_paths_but_a_path_does(tmp_path, outside):
    with pytest.raises(StudyError, match="leaves the study folder"):
        pr.load_study(_study(tmp_path / "a", str(outside / "day1.csv")))
    assert pr.load_study(_study(tmp_path / "b", f"file://{outside}/day1.csv")).traces


def test_uri_problems_are_listed_at_once(tmp_path, outside):
    events = f"[file://{outside.name}/day1.csv, 'file://{outside}/nope.csv', 's3a://']"
    with pytest.raises(StudyError) as info:
        pr.load_study(_study(tmp_path / "study", events))
    text = str(info.value)
    assert "(3 problems found)" in text
    assert "is not an absolute file URI" in text and f"file:///{outside.name}/day1.csv" in text
    assert f"'file://{outside}/nope.csv' does not exist" in text
    assert "'s3a://' names no bucket" in text


def test_remote_uri_is_kept_for_the_engine(tmp_path):
    # nothing is read when the study loads: the engine lists and reads it later
    st = pr.load_study(_study(tmp_path / "a", "s3a://bucket/events/*.parquet", extra=""))
    assert (st.traces.events, st.traces.format) == ("s3a://bucket/events/*.parquet", "parquet")
    with pytest.raises(
        StudyError,
        match=r"traces\.format: the format of 's3a://bucket/ev/' "
        r"cannot be told from its name -> add `format:`",
    ):
        pr.load_study(_study(tmp_path / "b", "s3a://bucket/ev/", extra=""))
    st = pr.load_study(_study(tmp_path / "c", "s3a://bucket/ev/", extra="  format: jsonl\n"))
    assert st.traces.format == "jsonl"


def test_validate_lists_a_file_uri_that_went_missing(tmp_path, outside):
    root = _study(tmp_path / "study", f"file://{outside}/day1.csv")
    (outside / "day1.csv").unlink()
    v = pr.validate(root)
    assert not v.ok
    row = v.summary.iloc[0]
    assert (row["source"], row["severity"]) == ("study.yml", "error")
    assert "does not exist" in row["message"] and "file://" in row["message"]


# -- GA4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_ga4_export_by_file_uri_reads_like_its_path(tmp_path, fmt):
    files = gs.write_ga4_export(tmp_path / "ga4", fmt=fmt, layout="daily", days=2)
    expected = _frame(pr.traces.read_events([str(f) for f in files], timezone="Europe/Paris"))
    assert _ga4.sniff(f"file://{files[0]}") == _ga4.sniff(f"file:{files[0]}") == "ga4"
    # Spark lists local files as ``file:/...``: the format is still told from the content
    assert io._guess_format([f"file:{f}" for f in files]) == "ga4"
    got = _frame(pr.traces.read_events(f"file://{files[0].parent}/", timezone="Europe/Paris"))
    pd.testing.assert_frame_equal(got, expected)
    # and from study.yml, with no `format:`
    st = pr.load_study(_study(tmp_path / "study", f"file://{tmp_path}/ga4/events_*", extra=""))
    assert st.traces.format == "ga4"
    pd.testing.assert_frame_equal(_frame(pr.traces.read_events(st)), expected)


def test_ga4_read_of_a_file_uri_this_machine_cannot_open_uses_the_name(tmp_path):
    # a ``file:`` URI only the executors see: told by its name, not an OSError
    assert _ga4.sniff("file:///no/such/dir/events_20260101.json") is None
    assert _ga4.container("s3a://bucket/events_20260101.json") is None
    f = gs.write_ga4_export(tmp_path, fmt="json", layout="single", days=1)[0]
    moved = tmp_path / "elsewhere.json"
    shutil.copy(f, moved)
    log = pr.traces.read_events(f"file://{moved}", format="ga4")
    assert log.count() == pr.traces.read_events(f).count()


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_a_remote_ga4_export_is_told_by_its_columns(tmp_path, fmt, monkeypatch):
    """A GA4 export only the engine can open (s3://, gs://: no content to sniff here, and a
    name like ``events_20260101.parquet``) reads as GA4, as the same file on this machine."""
    files = gs.write_ga4_export(tmp_path / "ga4", fmt=fmt, layout="daily", days=2)
    expected = _frame(pr.traces.read_events([str(f) for f in files], format="ga4"))
    monkeypatch.setattr(io, "_local_file", lambda path: None)  # as for a remote URI
    assert io._guess_format([str(files[0])]) == ("parquet" if fmt == "parquet" else "jsonl")
    got = _frame(pr.traces.read_events([str(f) for f in files]))
    pd.testing.assert_frame_equal(got, expected)


def test_a_remote_plain_parquet_log_stays_plain(tmp_path, monkeypatch):
    f = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
            "event": ["a", "b"],
        }
    ).to_parquet(f)
    expected = _frame(pr.traces.read_events(str(f)))
    monkeypatch.setattr(io, "_local_file", lambda path: None)
    got = _frame(pr.traces.read_events(str(f)))
    pd.testing.assert_frame_equal(got, expected)
    assert list(got["event"]) == ["a", "b"]


def test_a_local_file_is_not_described_twice(tmp_path, monkeypatch):
    """The content of a local file was read by ``_guess_format``: no second look."""
    f = tmp_path / "events.parquet"
    pd.DataFrame(
        {"user_id": ["u1"], "timestamp": pd.to_datetime(["2026-01-01"], utc=True), "event": ["a"]}
    ).to_parquet(f)

    def boom(*a):
        raise AssertionError("described again")

    monkeypatch.setattr(io, "_ga4_columns", boom)
    assert pr.traces.read_events(str(f)).count() == 1


def test_a_ga4_export_forced_to_plain_parquet_says_to_read_it_as_ga4(tmp_path):
    files = gs.write_ga4_export(tmp_path / "ga4", fmt="parquet", layout="daily", days=1)
    with pytest.raises(TraceDataError) as err:
        pr.traces.read_events([str(f) for f in files], format="parquet")
    first = err.value.problems[0]
    assert "Google Analytics 4 export" in first.message
    assert "format='ga4'" in first.fix
    assert len(err.value.problems) == 3  # and the columns it could not map, as before
