"""Time done right (issue 15): hostile and awkward timestamps in event logs.

Every input is built in ``tmp_path`` from a published format: Parquet written by pyarrow and
pandas (time-zone-aware in s/ms/us/ns, naive, legacy INT96), newline-delimited JSON as a
BigQuery export writes it (INT64 as strings), and CSV text. The expected instants come from an
independent computation in the test -- Python's ``datetime``/``zoneinfo`` (PEP 495: ``fold=0``
for a local time, which is the documented rule) or pandas -- never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research.errors import DataQualityWarning, TraceDataError
from parcours_research.traces import _time

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _csv(tmp_path: Path, values, name="events.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(len(values))], "event": "home", "ts": values}
    ).to_csv(path, index=False)
    return path


def _read(path, **kw):
    return pr.traces.read_events(path, columns={"timestamp": "ts"}, **kw)


def _utc(log) -> list:
    """The log's timestamps as UTC datetimes (None when missing), in file order."""
    ts = log.to_pandas()["timestamp"]
    return [None if pd.isna(t) else t.tz_convert("UTC").to_pydatetime() for t in ts]


def _local(wall: str, zone=PARIS) -> dt.datetime:
    """Independent reference: a naive local time read with fold=0 (PEP 495), in UTC."""
    return dt.datetime.fromisoformat(wall).replace(tzinfo=zone).astimezone(UTC)


def _clean(log, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return pr.traces.clean(log, period=False, bots_behaviour=False, **kw)


def _time_counts(cleaning) -> dict:
    t = cleaning.time
    return {r: int(n) for r, n in zip(t["rule"], t["n"]) if n}


# -- 1-4: Parquet/Arrow timestamps are instants, whatever their unit ---------------------------
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_tz_aware_parquet_is_read_as_instants(tmp_path, unit):
    # the issue: 00:13:34Z written by pandas/pyarrow came back as 00:13:34+01:00 in Paris
    instant = pd.Timestamp("2026-01-05 00:13:34", tz="UTC")
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "event": ["home", "home"],
            "ts": pd.Series([instant, instant]).dt.tz_convert("Europe/Paris"),
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(2, "ts", table.column("ts").cast(pa.timestamp(unit, "Europe/Paris")))
    pq.write_table(table, tmp_path / "e.parquet")
    log = _read(tmp_path / "e.parquet", timezone="Europe/Paris")
    assert _utc(log) == [dt.datetime(2026, 1, 5, 0, 13, 34, tzinfo=UTC)] * 2
    assert log.to_pandas()["timestamp"].iloc[0].hour == 1  # shown in the study's zone


def test_pandas_nanosecond_tz_parquet_keeps_its_microseconds(tmp_path):
    ts = pd.to_datetime(["2026-01-05 00:13:34.123456789+00:00"])
    pd.DataFrame({"user_id": ["u"], "event": ["e"], "ts": ts}).to_parquet(tmp_path / "n.parquet")
    assert pq.read_schema(tmp_path / "n.parquet").field("ts").type == pa.timestamp("ns", "UTC")
    got = _utc(_read(tmp_path / "n.parquet", timezone="Europe/Paris"))
    assert got == [dt.datetime(2026, 1, 5, 0, 13, 34, 123456, tzinfo=UTC)]  # truncated to us


# -- 5: legacy INT96 (Spark, Hive, Impala) is UTC ----------------------------------------------
def test_int96_parquet_is_utc(tmp_path):
    frame = pd.DataFrame(
        {"user_id": ["u"], "event": ["e"], "ts": pd.to_datetime(["2026-07-01 10:00"], utc=True)}
    )
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        tmp_path / "i.parquet",
        use_deprecated_int96_timestamps=True,
    )
    assert _utc(_read(tmp_path / "i.parquet", timezone="Europe/Paris")) == [
        dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    ]


# -- 6: naive Parquet timestamps are local times of the study ----------------------------------
def test_naive_parquet_is_local_time_with_the_dst_rule(tmp_path):
    walls = ["2026-03-29 02:30:00", "2025-10-26 02:30:00", "2026-07-01 12:00:00"]
    frame = pd.DataFrame({"user_id": ["a", "b", "c"], "event": "e", "ts": pd.to_datetime(walls)})
    frame.to_parquet(tmp_path / "w.parquet")
    log = _read(tmp_path / "w.parquet", timezone="Europe/Paris")
    assert _utc(log) == [_local(w) for w in walls]
    _, cleaning = _clean(log)
    assert _time_counts(cleaning) == {"dst_gap": 1, "dst_overlap": 1}


# -- 7-8: epochs as text: BigQuery NDJSON (INT64 as strings) and CSV ----------------------------
def test_bigquery_ndjson_epoch_strings(tmp_path):
    # BigQuery writes INT64 columns as JSON strings; microseconds since the epoch here
    path = tmp_path / "bq.json"
    with open(path, "w") as fh:
        for i, us in enumerate(["1767571200123456", "1767571260000000"]):
            fh.write(
                json.dumps({"user_pseudo_id": f"d{i}", "event_name": "page_view", "ts": us}) + "\n"
            )
    log = pr.traces.read_events(
        path,
        format="jsonl",
        columns={"device_id": "user_pseudo_id", "event": "event_name", "timestamp": "ts"},
        timezone="Europe/Paris",
    )
    expected = [
        dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=v)
        for v in (1767571200123456, 1767571260000000)
    ]
    assert _utc(log) == expected
    _, cleaning = _clean(log)
    assert cleaning.n_kept == 2


@pytest.mark.parametrize(
    ("text", "unit", "expected_us"),
    [
        ("1767571200", None, 1767571200 * 10**6),  # seconds, by magnitude
        ("1767571200123", None, 1767571200123 * 10**3),  # milliseconds
        ("1767571200123456", None, 1767571200123456),  # microseconds
        ("1767571200123456789", None, 1767571200123456),  # nanoseconds (truncated)
        ("1767571200.5", None, 1767571200500000),  # fractional seconds
        ("1767571200123", "ms", 1767571200123 * 10**3),  # declared
        ("1767571200", "ms", None),  # declared ms: 1970-01-21, out of the window
    ],
)
def test_csv_epoch_text_detected_or_declared(tmp_path, text, unit, expected_us):
    log = _read(_csv(tmp_path, [text, "2026-01-05T10:00:00Z"]), timestamp_unit=unit)
    first = _utc(log)[0]
    if expected_us is None:
        assert first is None
    else:
        assert first == dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=expected_us)


def test_numeric_parquet_epochs_by_magnitude(tmp_path):
    values = [1_767_571_200, 1_767_571_200_000, 1_767_571_200_000_000, 1_767_571_200_000_000_000]
    pd.DataFrame({"user_id": list("abcd"), "event": "e", "ts": values}).to_parquet(
        tmp_path / "n.parquet"
    )
    assert _utc(_read(tmp_path / "n.parquet")) == [dt.datetime(2026, 1, 5, tzinfo=UTC)] * 4


# -- 9-13: zones and offsets written after the time ---------------------------------------------
ZONES = [
    ("2026-01-05T00:13:34Z", dt.datetime(2026, 1, 5, 0, 13, 34, tzinfo=UTC)),
    ("2026-01-05 10:00:00+02:00", dt.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)),
    ("2026-01-05 10:00:00 +0530", dt.datetime(2026, 1, 5, 4, 30, tzinfo=UTC)),
    ("2026-01-05 10:00:00-03", dt.datetime(2026, 1, 5, 13, 0, tzinfo=UTC)),
    ("2026-01-05 10:00:00 UTC", dt.datetime(2026, 1, 5, 10, 0, tzinfo=UTC)),
    ("2026-01-05 10:00:00 PST", dt.datetime(2026, 1, 5, 18, 0, tzinfo=UTC)),  # RFC 5322: -08:00
    ("2026-07-05 10:00:00 CEST", dt.datetime(2026, 7, 5, 8, 0, tzinfo=UTC)),
    ("2026-01-05T10:00+01:00[Europe/Paris]", dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),  # Java
    ("2026-01-05 10:00 Europe/Paris", dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),  # study zone
    ("2026-01-05 10:00:00+25:00", None),  # no such offset
    ("2026-01-05 10:00:00+02:75", None),  # minutes beyond 59
    ("2026-01-05 10:00:00 CST", None),  # US, China or Cuba: refused
    ("2026-01-05 10:00:00 IST", None),  # India, Ireland or Israel: refused
    ("2026-01-05 10:00 America/New_York", None),  # another zone's name: refused
]


def test_zone_words_and_offsets_honoured_or_refused(tmp_path):
    log = _read(_csv(tmp_path, [z for z, _ in ZONES]), timezone="Europe/Paris")
    assert _utc(log) == [e for _, e in ZONES]
    _, cleaning = _clean(log)
    assert _time_counts(cleaning) == {"bad_offset": 2, "unknown_zone": 3}
    fixes = cleaning.time.set_index("rule")["fix"]
    assert "UTC offset" in fixes["unknown_zone"] or "ambiguous" in fixes["unknown_zone"]
    assert "+25:00" in cleaning.time.set_index("rule")["examples"]["bad_offset"]


def test_pst_is_never_read_as_the_study_zone(tmp_path):
    got = _utc(_read(_csv(tmp_path, ["2026-01-05 10:00:00 PST"]), timezone="Europe/Paris"))
    paris = _local("2026-01-05 10:00:00")
    assert got == [dt.datetime(2026, 1, 5, 18, 0, tzinfo=UTC)] and got[0] != paris


# -- 14: one rule for naive times, dates alone too ----------------------------------------------
def test_date_alone_is_midnight_in_the_study_zone(tmp_path):
    values = ["2026-01-05", "2026-01-05 00:00:00", "2026-07-05"]
    got = _utc(_read(_csv(tmp_path, values), timezone="Europe/Paris"))
    assert got == [
        _local("2026-01-05 00:00"),
        _local("2026-01-05 00:00"),
        _local("2026-07-05 00:00"),
    ]


# -- 15: clock changes resolved by the documented rule and counted ------------------------------
def test_dst_gap_and_overlap_resolved_and_counted(tmp_path):
    walls = [
        "2026-03-29 02:30:00",  # does not exist in Paris: 03:30+02:00
        "2026-03-29 02:59:59",
        "2025-10-26 02:30:00",  # occurs twice: the first (02:30+02:00)
        "2025-10-26 02:00:00",
        "2025-10-26 03:00:00",  # after the change: plain
        "2026-03-29 03:00:00",
    ]
    log = _read(_csv(tmp_path, walls), timezone="Europe/Paris")
    got = _utc(log)
    assert got == [_local(w) for w in walls]
    assert got[0] == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert got[2] == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    for engine in (pr.traces.DuckDBEngine(), pr.traces.DuckDBEngine(fast=False)):
        _, cleaning = _clean(_read(tmp_path / "events.csv", timezone="Europe/Paris", engine=engine))
        assert _time_counts(cleaning) == {"dst_gap": 2, "dst_overlap": 2}
        assert cleaning.n_input == 6 and cleaning.n_kept == 6


# -- 16: out-of-range years refused and counted, never an OverflowError later -----------------
def test_out_of_range_years_are_refused_and_counted(tmp_path):
    values = ["0001-01-01", "1900-01-01 10:00", "9999-12-31 23:59:59", "12026-01-01", "1989-12-31"]
    values += ["2026-01-05 10:00"] * 200
    log = _read(_csv(tmp_path, values), timezone="Europe/Paris")
    assert _utc(log)[:5] == [None] * 5
    with pytest.warns(DataQualityWarning, match=r"5 of 205 rows \(2\.4%\)"):
        kept, cleaning = pr.traces.clean(
            log, period=False, bots_behaviour=False, near_duplicates=None
        )
    assert _time_counts(cleaning) == {"out_of_range": 5}
    assert "1990" in cleaning.time.set_index("rule")["fix"]["out_of_range"]
    assert cleaning.summary.set_index("reason")["n"]["unparseable"] == 5
    assert cleaning.n_input == 205
    kept.to_pandas()["timestamp"].astype(str)  # every kept instant can be shown


# -- 17-19: a declared timestamp_format, and hints when there is none ---------------------------
def test_declared_timestamp_format_reads_day_month(tmp_path):
    values = ["05/01/2026 10:00", "13/01/2026 09:30", "29/03/2026 02:30"]
    log = _read(_csv(tmp_path, values), timezone="Europe/Paris", timestamp_format="%d/%m/%Y %H:%M")
    assert _utc(log) == [
        _local("2026-01-05 10:00"),
        _local("2026-01-13 09:30"),
        _local("2026-03-29 02:30"),
    ]
    _, cleaning = _clean(log)
    assert _time_counts(cleaning) == {"dst_gap": 1}


def test_format_with_offset(tmp_path):
    log = _read(
        _csv(tmp_path, ["05/01/2026 10:00 +0100", "05/01/2026 10:00 +2500"]),
        timestamp_format="%d/%m/%Y %H:%M %z",
        timezone="Europe/Paris",
    )
    assert _utc(log) == [dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC), None]


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        (["13/01/2026 10:00", "14/01/2026 11:00"], "timestamp_format='%d/%m/%Y %H:%M'"),
        (["01/13/2026 10:00:00"], "timestamp_format='%m/%d/%Y %H:%M:%S'"),
        (["Mon, 05 Jan 2026 10:00:00 +0100"], "RFC 2822"),
        (["2026-W02-1"], "ISO week"),
        (["20260105"], "'%Y%m%d'"),
    ],
)
def test_a_column_of_which_nothing_is_read_is_an_error_with_a_hint(tmp_path, values, hint):
    path = _csv(tmp_path, values)
    log = _read(path, timezone="Europe/Paris")
    with pytest.raises(TraceDataError) as err:
        pr.traces.clean(log, period=False)
    text = str(err.value)
    assert "events.csv" in text and "'ts'" in text and values[0] in text and hint in text


def test_the_hinted_format_then_reads_the_rfc2822_and_iso_week_values(tmp_path):
    got = _utc(
        _read(
            _csv(tmp_path, ["Mon, 05 Jan 2026 10:00:00 +0100"]),
            timestamp_format="%a, %d %b %Y %H:%M:%S %z",
        )
    )
    assert got == [dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    week = _utc(
        _read(
            _csv(tmp_path, ["2026-W02-1"], "w.csv"),
            timestamp_format="%G-W%V-%u",
            timezone="Europe/Paris",
        )
    )
    assert week == [_local(dt.date.fromisocalendar(2026, 2, 1).isoformat())]


# -- 20: boolean timestamps in Parquet: an error at once -----------------------------------------
def test_boolean_parquet_timestamps_are_an_error(tmp_path):
    pd.DataFrame({"user_id": ["u", "v"], "event": "e", "ts": [True, False]}).to_parquet(
        tmp_path / "b.parquet"
    )
    with pytest.raises(TraceDataError, match=r"b\.parquet.*'ts'.*BOOLEAN"):
        _read(tmp_path / "b.parquet")


# -- 21: a high share unparseable is a loud warning naming the count ----------------------------
def test_more_than_one_percent_unparseable_warns_with_the_count(tmp_path):
    values = ["2026-01-05 10:00:00"] * 97 + ["05/01/2026 10:00"] * 3
    log = _read(_csv(tmp_path, values), timezone="Europe/Paris")
    with pytest.warns(DataQualityWarning, match=r"3 of 100 rows \(3\.0%\).*unknown_format: 3"):
        pr.traces.clean(log, period=False, bots_behaviour=False, near_duplicates=None)
    few = ["2026-01-05 10:00:00"] * 200 + ["garbage"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)  # 0.5 %: no time warning
        pr.traces.clean(
            _read(_csv(tmp_path, few, "few.csv")),
            period=False,
            bots_behaviour=False,
            near_duplicates=None,
        )


# -- 22: study.yml carries timestamp_format and timestamp_unit ------------------------------------
def test_study_yml_timestamp_format(tmp_path):
    dst = tmp_path / "study"
    shutil.copytree(SAMPLE, dst)
    cfg = yaml.safe_load((dst / "study.yml").read_text(encoding="utf-8"))
    events = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "device_id": ["d1", "d2"],
            "ts": ["05/01/2026 10:00", "29/03/2026 02:30"],
            "event_name": ["home", "home"],
            "user_agent": ["Mozilla/5.0", "Mozilla/5.0"],
        }
    )
    events.to_csv(dst / "traces" / "dm.csv", index=False)
    cfg["traces"]["events"] = "traces/dm.csv"
    cfg["traces"]["timestamp_format"] = "%d/%m/%Y %H:%M"
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    study = pr.load_study(dst)
    assert study.traces.timestamp_format == "%d/%m/%Y %H:%M"
    assert _utc(pr.traces.read_events(study)) == [
        _local("2026-01-05 10:00"),
        _local("2026-03-29 02:30"),
    ]
    cfg["traces"]["timestamp_unit"] = "minutes"
    cfg["traces"]["timestamp_format"] = "%Z"
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"timestamp_unit(.|\n)*timestamp_format|timestamp_format(.|\n)*timestamp_unit",
    ):
        pr.load_study(dst)


def test_bad_arguments_are_refused_together():
    with pytest.raises(TraceDataError, match=r"timestamp_unit='m'(.|\n)*timestamp_format='dd/mm'"):
        _time.check_spec("m", "dd/mm")


# -- property tests ------------------------------------------------------------------------------
INSTANTS = st.datetimes(
    min_value=dt.datetime(1990, 1, 2), max_value=dt.datetime(2099, 12, 30), timezones=st.just(UTC)
)
ZONE_NAMES = st.sampled_from(
    [
        "Europe/Paris",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "UTC",
        "America/Sao_Paulo",
    ]
)
# few examples, each a whole file read and cleaned (a second or so under load)
FAST = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(
    instants=st.lists(INSTANTS, min_size=1, max_size=8),
    zone=ZONE_NAMES,
    unit=st.sampled_from(["us", "ns", "ms"]),
)
def test_property_tz_aware_parquet_round_trips(tmp_path, instants, zone, unit):
    scale = {"us": 1, "ns": 1, "ms": 1000}[unit]
    instants = [i.replace(microsecond=i.microsecond // scale * scale) for i in instants]
    frame = pd.DataFrame(
        {"user_id": "u", "event": "e", "ts": pd.Series(instants).dt.tz_convert(zone)}
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(2, "ts", table.column("ts").cast(pa.timestamp(unit, zone)))
    pq.write_table(table, tmp_path / "p.parquet")
    assert _utc(_read(tmp_path / "p.parquet", timezone="Europe/Paris")) == instants


@FAST
@given(
    instants=st.lists(INSTANTS, min_size=1, max_size=8),
    offsets=st.lists(st.integers(-14 * 4, 14 * 4), min_size=8, max_size=8),
)
def test_property_iso_with_offset_round_trips(tmp_path, instants, offsets):
    texts = []
    for i, q in zip(instants, offsets):
        tz = dt.timezone(dt.timedelta(minutes=15 * q))
        texts.append(i.astimezone(tz).isoformat())  # e.g. 2031-04-05T10:00:00.123456+05:45
    assert _utc(_read(_csv(tmp_path, texts), timezone="Europe/Paris")) == instants


WALLS = st.datetimes(min_value=dt.datetime(1990, 1, 3), max_value=dt.datetime(2099, 12, 29))


@FAST
@given(walls=st.lists(WALLS, min_size=1, max_size=8), zone=ZONE_NAMES)
def test_property_naive_local_times_follow_zoneinfo_fold0(tmp_path, walls, zone):
    z = ZoneInfo(zone)
    texts = [w.isoformat(sep=" ") for w in walls]
    expected = [w.replace(tzinfo=z).astimezone(UTC) for w in walls]  # fold=0
    assert _utc(_read(_csv(tmp_path, texts), timezone=zone)) == expected


def _kind(wall: dt.datetime, z: ZoneInfo) -> str | None:
    """Independent reference for the counts: a wall time is skipped when it does not survive
    a round trip, repeated when fold=0 and fold=1 give different instants."""
    a = wall.replace(tzinfo=z, fold=0)
    b = wall.replace(tzinfo=z, fold=1)
    if a.astimezone(UTC).astimezone(z).replace(tzinfo=None) != wall:
        return "dst_gap"
    if a.utcoffset() != b.utcoffset():
        return "dst_overlap"
    return None


@FAST
@given(
    data=st.data(),
    zone=st.sampled_from(
        ["Europe/Paris", "America/New_York", "Australia/Sydney", "America/Sao_Paulo"]
    ),
)
def test_property_dst_counts_add_up(tmp_path, data, zone):
    z = ZoneInfo(zone)
    _, changes = _time.transitions(zone)
    change = data.draw(st.sampled_from([c for c in changes if c[0] < 4_000_000_000 * 10**6]))
    t0 = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=change[0] + change[1])
    minutes = data.draw(st.lists(st.integers(-150, 150), min_size=1, max_size=12))
    walls = [t0 + dt.timedelta(minutes=m) for m in minutes]
    log = _read(_csv(tmp_path, [w.isoformat(sep=" ") for w in walls]), timezone=zone)
    assert _utc(log) == [w.replace(tzinfo=z).astimezone(UTC) for w in walls]
    _, cleaning = _clean(log, near_duplicates=None, duplicates=False)
    expected: dict[str, int] = {}
    for w in walls:
        k = _kind(w, z)
        if k:
            expected[k] = expected.get(k, 0) + 1
    assert _time_counts(cleaning) == expected
    assert cleaning.n_input == len(walls) == cleaning.summary["n"].sum()
