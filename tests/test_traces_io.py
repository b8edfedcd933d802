"""Reading event logs: formats, column mappings, time zones, GA4 export, errors."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parcours_research as pr
from parcours_research.errors import TraceDataError

RAW = pd.DataFrame(
    {
        "device": ["d1", "d1", "d2", "d2", "d3"],
        "customer": ["", "C1", "C2", "", ""],
        "when": [
            "2026-03-29T01:30:00+01:00",
            "2026-03-29 03:30:00",
            "2026-03-29T00:15:00Z",
            "not-a-date",
            "2026-03-29T04:00:00.250+02:00",
        ],
        "what": ["home", "login", "home", "quote", "home"],
        "ua": ["Mozilla/5.0", "Mozilla/5.0", "curl/8.0", "Mozilla/5.0", ""],
        "page": ["/", "/login", "/", "/devis", "/"],
    }
)
MAP = {
    "user_id": "customer",
    "device_id": "device",
    "timestamp": "when",
    "event": "what",
    "user_agent": "ua",
}
EXPECTED_UTC = [
    pd.Timestamp("2026-03-29 00:30", tz="UTC"),
    pd.Timestamp("2026-03-29 01:30", tz="UTC"),  # naive 03:30 Paris = 01:30 UTC (DST)
    pd.Timestamp("2026-03-29 00:15", tz="UTC"),
    pd.NaT,
    pd.Timestamp("2026-03-29 02:00:00.250", tz="UTC"),
]


def _check(log):
    df = log.to_pandas()
    assert list(df.columns[:6]) == [
        "row_id",
        "user_id",
        "device_id",
        "timestamp",
        "event",
        "user_agent",
    ]
    assert df["row_id"].tolist() == [0, 1, 2, 3, 4]
    assert str(df["timestamp"].dt.tz) == "Europe/Paris"
    got = df["timestamp"].dt.tz_convert("UTC").tolist()
    assert [g if pd.notna(g) else None for g in got] == [
        e if pd.notna(e) else None for e in EXPECTED_UTC
    ]
    assert df["user_id"].isna().tolist() == [True, False, False, True, True]
    assert df["user_agent"].isna().tolist() == [False, False, False, False, True]
    assert df["page"].tolist() == RAW["page"].tolist()


def test_csv_plain_and_gzip(tmp_path):
    path = tmp_path / "events.csv"
    RAW.to_csv(path, index=False)
    _check(pr.traces.read_events(path, columns=MAP, timezone="Europe/Paris"))
    gz = tmp_path / "events.csv.gz"
    with gzip.open(gz, "wt") as fh:
        RAW.to_csv(fh, index=False)
    _check(pr.traces.read_events(gz, columns=MAP, timezone="Europe/Paris"))


def test_jsonl_and_parquet(tmp_path):
    path = tmp_path / "events.jsonl"
    with open(path, "w") as fh:
        for rec in RAW.to_dict("records"):
            fh.write(json.dumps(rec) + "\n")
    _check(pr.traces.read_events(path, columns=MAP, timezone="Europe/Paris"))
    pq.write_table(pa.Table.from_pandas(RAW), tmp_path / "events.parquet")
    _check(pr.traces.read_events(tmp_path / "events.parquet", columns=MAP, timezone="Europe/Paris"))


def test_parquet_timestamp_types_and_several_files(tmp_path):
    aware = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "event": ["a", "b"],
            "timestamp": pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00"], utc=True),
        }
    )
    naive = aware.assign(timestamp=aware["timestamp"].dt.tz_localize(None))
    pq.write_table(pa.Table.from_pandas(aware, preserve_index=False), tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pandas(naive, preserve_index=False), tmp_path / "b.parquet")
    a = pr.traces.read_events(tmp_path / "a.parquet").to_pandas()
    b = pr.traces.read_events(tmp_path / "b.parquet", timezone="Europe/Paris").to_pandas()
    assert a["timestamp"].tolist() == aware["timestamp"].tolist()
    # a naive 10:00 read as Paris time is 09:00 UTC
    assert (
        b["timestamp"].dt.tz_convert("UTC").tolist()
        == (aware["timestamp"] - pd.Timedelta("1h")).tolist()
    )
    both = pr.traces.read_events(
        str(tmp_path / "a.parquet").replace("a.parquet", "[ab].parquet")
    ).to_pandas()
    assert both["row_id"].tolist() == [0, 1, 2, 3]


def test_numeric_timestamps_take_their_unit_from_their_size_or_a_declaration(tmp_path):
    """Epoch numbers: the unit that puts them between 1990 and 2099 (s, ms, us and ns ranges do
    not overlap), or the declared one. 1,767,225,600 s is 2026-01-01T00:00Z (date -d @1767225600)."""
    midnight = pd.Timestamp("2026-01-01", tz="UTC")
    for unit, value in (("s", 1_767_225_600), ("ms", 1_767_225_600_000), ("us", 1_767_225_600_000_000)):
        df = pd.DataFrame({"user_id": ["u"], "event": ["a"], "ts": [value]})
        df.to_parquet(tmp_path / f"{unit}.parquet")
        for declared in (None, unit):
            log = pr.traces.read_events(tmp_path / f"{unit}.parquet", columns={"timestamp": "ts"},
                                        **({"timestamp_unit": declared} if declared else {}))
            assert log.to_pandas()["timestamp"].iloc[0] == midnight, (unit, declared)


def _ga4_rows():
    def params(sid, page):
        return [
            {
                "key": "ga_session_id",
                "value": {"string_value": None, "int_value": sid, "double_value": None},
            },
            {
                "key": "page_location",
                "value": {"string_value": page, "int_value": None, "double_value": None},
            },
        ]

    return [
        {
            "event_date": "20260105",
            "event_timestamp": 1_767_600_000_000_000,
            "event_name": "page_view",
            "user_pseudo_id": "p1",
            "user_id": None,
            "event_params": params(11, "https://x/"),
        },
        {
            "event_date": "20260105",
            "event_timestamp": 1_767_600_000_500_000,
            "event_name": "login",
            "user_pseudo_id": "p1",
            "user_id": "C9",
            "event_params": params(11, "https://x/login"),
        },
        {
            "event_date": "20260105",
            "event_timestamp": 1_767_600_100_000_000,
            "event_name": "page_view",
            "user_pseudo_id": "p2",
            "user_id": None,
            "event_params": params(12, "https://x/a"),
        },
    ]


def _check_ga4(log):
    df = log.to_pandas()
    assert df["device_id"].tolist() == ["p1", "p1", "p2"]
    assert df["user_id"].isna().tolist() == [True, False, True]
    assert df["session_id"].tolist() == ["p1:11", "p1:11", "p2:12"]
    assert df["page_location"].tolist() == ["https://x/", "https://x/login", "https://x/a"]
    assert df["timestamp"].iloc[1] == pd.Timestamp(1_767_600_000_500_000, unit="us", tz="UTC")


def test_ga4_parquet_and_jsonl(tmp_path):
    rows = _ga4_rows()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ga4.parquet")
    _check_ga4(pr.traces.read_events(tmp_path / "ga4.parquet", format="ga4"))
    with open(tmp_path / "ga4.jsonl", "w") as fh:  # BigQuery's JSON export writes INT64 as text
        for r in rows:
            r = dict(r, event_timestamp=str(r["event_timestamp"]))
            fh.write(json.dumps(r) + "\n")
    _check_ga4(pr.traces.read_events(tmp_path / "ga4.jsonl", format="ga4"))


def test_errors_list_every_problem(tmp_path):
    path = tmp_path / "events.csv"
    RAW.to_csv(path, index=False)
    with pytest.raises(TraceDataError) as info:
        pr.traces.read_events(
            path, columns={"user_id": "cust", "timestamp": "time", "event": "what"}
        )
    msgs = [p.message for p in info.value.problems]
    assert any("'cust'" in m for m in msgs) and any("'time'" in m for m in msgs)
    with pytest.raises(TraceDataError, match="file not found"):
        pr.traces.read_events(tmp_path / "missing.csv")
    with pytest.raises(TraceDataError, match="time zone"):
        pr.traces.read_events(path, columns=MAP, timezone="Mars/Olympus")
    with pytest.raises(TraceDataError, match="time-zone-aware"):
        pr.traces.clean(
            pd.DataFrame(
                {"user_id": ["u"], "event": ["a"], "timestamp": [pd.Timestamp("2026-01-01")]}
            )
        )


def test_study_integration():
    study = pr.load_study("data/sample")
    log = pr.traces.read_events(study)
    assert log.timezone == study.traces.timezone
    assert log.meta["funnel"] == tuple(study.traces.funnel)
    head = log.head(3)
    assert {"row_id", "user_id", "device_id", "timestamp", "event", "user_agent", "page"} <= set(
        head.columns
    )
    table = pr.traces.funnel(pr.traces.sessionize(pr.traces.clean(log)[0]))
    assert table["step"].tolist() == list(study.traces.funnel)
    assert "EventLog(" in repr(log) and "<table" in log._repr_html_()
