"""A text event log read once into memory reads its timestamps as the full time rules do
(issue 20): the rules are evaluated once into a column, the dominant layout (ISO with ``Z`` or an
offset) first by a plain cast and every other row by the whole rule; the scan of impossible UTC
offsets looks at the rows without a timestamp only; the check of quotes that swallow rows skips
the records of one line.

The expected values come from the code paths these replace, run in the same test: the lazy
file view (the whole rule on every row, each time it is read), the scan of every row, and a
check of every record.
"""

from __future__ import annotations

import csv
import io
import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research import _text_files
from parcours_research.traces import _offsets, _time
from parcours_research.traces.io import keep_in_memory

AWKWARD = [
    "2026-01-05T10:00:00.250+01:00",
    "2026-01-05T10:00:00.123456789+01:00",  # nanoseconds, truncated to the microsecond
    "2026-01-05T10:00:00Z",
    "2026-01-05 10:00Z",
    "2026-01-05T10:00:00+0530",
    "2026-01-05T10:00:00+05",
    "2026-01-05T10:00:00+18:00",  # the bound, read as written
    "2026-01-05T10:00:00+18:30",  # beyond it: bad_offset
    "2026-01-05T10:00:00+25:00",
    "2026-01-05T10:00:00-19:30",
    "2026-01-05T10:00:00+01:60",
    "2026-01-05T10:00:00 +01:00",  # offset after a space: the slow path reads it
    "2026-01-05T10:00:00+01:00[Europe/Paris]",
    "2026-01-05T10:00:00",  # naive: local time
    "2026-01-05 10:00",
    "2026-01-05",
    "2026-03-29T02:30:00",  # skipped by the clock change
    "2025-10-26T02:30:00",  # repeated
    "2026-01-05T10:00:00 CET",
    "2026-01-05T10:00:00 cst",  # ambiguous
    "2026-01-05T10:00:00 Europe/Paris",
    "2026-02-30T10:00:00+01:00",  # no such day
    "2026-01-05T24:00:00Z",
    "1900-01-01T00:00:00Z",  # out of the window
    "2100-01-01T00:00:00Z",
    "2099-12-31T23:59:59.999999+00:00",
    "1990-01-01T00:30:00+01:00",  # before the window in UTC
    "12026-01-05T10:00:00Z",
    "1767607200",  # epochs
    "1767607200000",
    "1767607200.5",
    "05/01/2026 10:00",
    "  2026-01-05T10:00:00Z  ",
    "",
    "not a time",
]


def _csv(path, values):
    pd.DataFrame(
        {
            "user_id": [f"u{i % 7}" for i in range(len(values))],
            "timestamp": values,
            "event": "home_view",
        }
    ).to_csv(path, index=False)
    return path


_ENGINE = pr.traces.DuckDBEngine()


def _pair(path, timezone):
    """The same file read twice: the lazy view, and the log kept in memory."""
    lazy = pr.traces.read_events(path, timezone=timezone, engine=_ENGINE)
    kept = pr.traces.read_events(path, timezone=timezone, engine=_ENGINE)
    assert keep_in_memory(kept)
    return lazy, kept


def _instants(log):
    return log.engine.fetch(f"SELECT row_id, timestamp FROM {log.ref} ORDER BY row_id")


def _cleaning_time(log):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cleaning = pr.traces.clean(log, period=False, bots_behaviour=False, duplicates=False)
    return cleaning.time


def test_kept_log_reads_awkward_timestamps_as_the_full_rule(tmp_path):
    for timezone in ("Europe/Paris", "UTC", "Asia/Kolkata"):
        lazy, kept = _pair(_csv(tmp_path / "ev.csv", AWKWARD), timezone)
        a, b = _instants(lazy), _instants(kept)
        assert a.equals(b), timezone
        assert a["timestamp"].notna().sum() > 10  # the file is read, not all refused
        if timezone == "Europe/Paris":  # offsets refused, counts by rule, clock changes
            assert _offsets.bad_offsets(lazy) == _offsets.bad_offsets(kept)
            assert _offsets.bad_offsets(kept)[0] == 4
            assert _cleaning_time(lazy).equals(_cleaning_time(kept))
            assert lazy.to_pandas().equals(kept.to_pandas())


# aimed at the edges of the test that picks the dominant layout (ISO with ``Z`` or an offset)
EDGES = [
    "2024-02-30T10:00:00Z",  # no such day, with Z
    "2024-02-29T10:00:00Z",
    "2026-01-05T10:00:00z",  # lower-case z
    "2026-01-05t10:00:00Z",
    "2026-01-05 10:00:00+01:00",  # space, not T
    "2026-01-05  10:00:00+01:00",
    "2026-01-05T10:00+01:00",  # no seconds
    "2026-01-05T10:00:0+01:00",
    "2026-01-05T10:00:00.+01:00",
    "2026-01-05T10:00:00.1234567+01:00",  # 7 to 10 fractional digits
    "2026-01-05T10:00:00.123456789Z",
    "2026-01-05T10:00:00.1234567890Z",
    "  2026-01-05T10:00:00+01:00",  # spaces around
    "2026-01-05T10:00:00+01:00  ",
    "\t2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00+0100",  # no colon
    "2026-01-05T10:00:00+01",
    "2026-01-05T10:00:00+1",
    "2026-01-05T10:00:00+01:0",
    "2026-01-05T10:00:00+010",
    "2026-01-05T10:00:00-00:00",
    "2026-01-05T10:00:00+00",
    "2026-01-05T10:00:00+18",
    "2026-01-05T10:00:00+1800",
    "2026-01-05T10:00:00-18:01",
    "2026-01-05T10:00:00+17:59",
    "2026-01-05T10:00:00+21:00",  # accepted by the cast, refused by the rules
    "2026-01-05T10:00:00+01:60",
    "2026-01-05T10:00:00+01:00Z",
    "2026-01-05T10:00:00Z+01:00",
    "2026-01-05T10:00:00ZZ",
    "-026-01-05T10:00:00+01:00",  # a negative year: the cast reads it
    " 026-01-05T10:00:00Z",
    "+2026-01-05T10:00:00Z",
    "02026-01-05T10:00:00Z",
    "2026-1-05T10:00:00Z",
    "2026-01-05T 0:00:00Z",
    "2026-01-05T10:00:0.Z",
    "2026-01-05T10:00:00.2 0Z",
    "2026-01-05T10:00:00+01: 0",
    "2026-01-05T10:00:00+٠١:00",  # digits of another script
    "２026-01-05T10:00:00Z",
    "2026-01-05T10:00:00 Z",
    "2026-01-05T10:00:00 UTC",
    "2026-01-05T10:00:00UTC",
    "2026-01-05T10:00:00+01:00 Europe/Paris",
    "2026-03-29T02:30:00+01:00",  # a wall time skipped in Paris, with an offset
    "2026-01-05T23:59:60Z",
    "1989-12-31T23:30:00-01:00",  # in the window in UTC only
    "2099-12-31T23:30:00-01:00",
]


def test_kept_log_reads_edge_layouts_as_the_full_rule(tmp_path):
    for timezone in ("Europe/Paris", "UTC", "America/New_York"):
        lazy, kept = _pair(_csv(tmp_path / "ev.csv", EDGES), timezone)
        a, b = _instants(lazy), _instants(kept)
        assert a.equals(b), timezone
        assert len(a) == len(EDGES) and a["timestamp"].notna().sum() > 10


def _one_character_changes(layout):
    chars = [chr(c) for c in range(32, 127)] + ["é", "٣", "０"]
    return [layout[:i] + c + layout[i + 1 :] for i in range(len(layout)) for c in chars]


def test_every_one_character_change_of_the_dominant_layouts_reads_as_the_full_rule(tmp_path):
    """Each character of a few dominant layouts replaced by every printable ASCII character
    (and three non-ASCII ones): the kept log reads each as the lazy view's full rule."""
    layouts = ["2025-12-31T00:02:32.475+01:00", "2026-01-05T10:00:00Z", "2026-01-05 10:00+0530"]
    values = [v for layout in layouts for v in _one_character_changes(layout)]
    lazy, kept = _pair(_csv(tmp_path / "ev.csv", values), "Europe/Paris")
    a, b = _instants(lazy), _instants(kept)
    assert len(a) == len(values) and a.equals(b)
    assert a["timestamp"].notna().sum() > 300  # mostly a digit changed for another


_DATE = st.tuples(st.integers(1985, 2105), st.integers(0, 13), st.integers(0, 32)).map(
    lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"
)
_CLOCK = st.tuples(
    st.sampled_from(["T", " "]),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".250", ".123456", ".123456789", "."]),
    st.booleans(),
).map(lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}" + (f":{t[3]:02d}{t[4]}" if t[5] else ""))
_ZONE = st.one_of(
    st.sampled_from(["", "Z", "z", " Z", " UTC", " CET", " PST", " CST", " Europe/Paris", " XYZ"]),
    st.tuples(
        st.sampled_from(["+", "-"]),
        st.integers(0, 26),
        st.integers(0, 61),
        st.sampled_from(["{h:02d}:{m:02d}", "{h:02d}{m:02d}", "{h:02d}", " {h:02d}:{m:02d}"]),
    ).map(lambda t: t[0] + t[3].format(h=t[1], m=t[2])),
)
_TEXT = st.one_of(
    st.tuples(_DATE, st.one_of(st.just(""), _CLOCK), _ZONE).map("".join),
    st.integers(-10, 2 * 10**18).map(str),
    st.sampled_from(["", " ", "05/01/2026", "2026-01-05T10:00:00+01:00[Europe/Paris]"]),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(_TEXT, min_size=1, max_size=40),
    timezone=st.sampled_from(["Europe/Paris", "UTC", "America/New_York"]),
)
def test_property_kept_timestamps_are_the_full_rule(tmp_path, values, timezone):
    lazy, kept = _pair(_csv(tmp_path / "ev.csv", values), timezone)
    assert _instants(lazy).equals(_instants(kept))


def test_kept_expression_only_for_iso_text_on_duckdb():
    eng = pr.traces.DuckDBEngine()
    text = _time.TimeSource("f", "ts", "VARCHAR", "text", "UTC", None, None, "v")
    assert _time.kept_expression(eng, text) is not None
    declared = _time.TimeSource("f", "ts", "VARCHAR", "text", "UTC", None, "%d/%m/%Y", "v")
    number = _time.TimeSource("f", "ts", "BIGINT", "number", "UTC", None, None, "v")
    assert _time.kept_expression(eng, declared) is None
    assert _time.kept_expression(eng, number) is None


def _bad_offsets_every_row(log, limit=_offsets.SHOWN):
    """The scan before the filter: the rule on every row."""
    source, ts = log._time
    eng = log.engine
    inner, rule = _time.classify(eng, source, ts)
    bad = (
        f"SELECT row_id, _e FROM (SELECT {rule} AS rule, row_id, _e FROM "
        f"(SELECT {inner}, row_id FROM {eng.q(source.src)}) AS p) AS c WHERE rule = 'bad_offset'"
    )
    n = int(eng.scalar(f"SELECT count(*) FROM ({bad}) AS b") or 0)
    first = eng.fetch(f"{bad} ORDER BY row_id LIMIT {int(limit)}")
    return (n, [(int(r), str(e)) for r, e in zip(first["row_id"], first["_e"])]) if n else (0, [])


def test_bad_offset_scan_of_rows_without_timestamp_finds_the_same_rows(tmp_path):
    values = AWKWARD * 3
    for fmt in (None, "%Y-%m-%dT%H:%M:%S%z"):
        log = pr.traces.read_events(
            _csv(tmp_path / "ev.csv", values), timezone="Europe/Paris", timestamp_format=fmt
        )
        want = _bad_offsets_every_row(log)
        assert _offsets.bad_offsets(log) == want and want[0] > 0, fmt


# ---- quotes that swallow rows --------------------------------------------------------------
def _quote_problems_every_record(text, sep, name, header_rows=1):
    """The check before the shortcuts: every record looked at."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    problems, header, start, row = [], None, 1, 0
    try:
        for rec in reader:
            row += 1
            end = reader.line_num
            if header is None:
                header = rec
            elif row > header_rows:
                problems += _text_files._swallowed(rec, start, end, row, header, sep, name)
            start = end + 1
    except csv.Error:
        return problems
    return problems


_CELL = st.one_of(
    st.sampled_from(["R0101", "R0102", "x", "", "3", "a,b", "R0103,5,4", "R0104,3"]),
    st.text(alphabet='ab9,;"\n\r R', max_size=12),
)
_LINE = st.lists(_CELL, min_size=1, max_size=4).map(",".join)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(_LINE, min_size=1, max_size=12),
    ends=st.sampled_from(["\n", "\r\n", "\r"]),
    header_rows=st.integers(1, 2),
)
def test_property_quote_problems_as_checking_every_record(lines, ends, header_rows):
    text = ends.join(["id,a,b"] + lines) + ends
    want = _quote_problems_every_record(text, ",", "f.csv", header_rows)
    assert _text_files.quote_problems(text, ",", "f.csv", header_rows=header_rows) == want


def test_quote_problems_still_finds_a_quote_that_swallows_rows():
    rows = [f"R{i:04d},{i % 5},{i % 3}" for i in range(10)]
    rows[3] = 'R0003,"4,2'  # the quote is never closed in its line
    rows[6] = 'R0006,1,2"'
    text = "id,a,b\n" + "\n".join(rows) + "\n"
    got = _text_files.quote_problems(text, ",", "f.csv")
    assert got == _quote_problems_every_record(text, ",", "f.csv") and len(got) == 1
    assert got[0].row == 5 and "line 5" in got[0].message
