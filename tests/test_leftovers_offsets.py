"""UTC offsets in JSON Lines follow the kit's time rules, as in CSV: at most +/-18:00 (the bound
of java.time, Oracle and PostgreSQL, and the kit's since 0.3.0); beyond it the timestamp is
refused (``bad_offset``, counted in the cleaning log) and ``validate`` gives a warning naming the
file and line, listed with every other problem.

Expected instants are computed with Python's ``datetime`` and fixed ``timezone`` offsets.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd

import parcours_research as pr

ROWS = [  # (text, offset in hours or None when refused)
    ("2026-01-05T10:00:00+01:00", 1),
    ("2026-01-05T10:00:00+25:00", None),  # no such offset
    ("2026-01-05T10:00:00+18:00", 18),  # the bound, read as written
    ("2026-01-05T10:00:00-14:00", -14),
    ("2026-01-05T10:00:00-19:30", None),
]


def _jsonl(path, rows, blank_after=None):
    lines = [
        json.dumps({"user_id": f"u{i}", "timestamp": t, "event": "home_view"})
        for i, (t, _) in enumerate(rows)
    ]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _expected(text: str, hours: int | None):
    if hours is None:
        return pd.NaT
    wall = dt.datetime.fromisoformat(text[:19])
    return pd.Timestamp(wall.replace(tzinfo=dt.timezone(dt.timedelta(hours=hours))))


def test_jsonl_offsets_follow_the_time_rules(tmp_path):
    log = pr.traces.read_events(_jsonl(tmp_path / "ev.jsonl", ROWS))
    got = log.to_pandas().sort_values("row_id")["timestamp"].tolist()
    for (text, hours), value in zip(ROWS, got):
        want = _expected(text, hours)
        assert (pd.isna(value) and pd.isna(want)) or value == want, (text, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cleaning = pr.traces.clean(log, period=False, bots_behaviour=False)
    n = cleaning.time.set_index("rule")["n"]
    assert n["bad_offset"] == 2 and n.drop("bad_offset").sum() == 0


STUDY = """\
name: offsets
journey:
  stages: [{{id: discover, label: Discover}}]
touchpoints:
- {{id: site, label: Site, stage: discover, channel: web, events: [home_view]}}
personas: [{{id: all, label: Everyone}}]
traces:
  events: {events}
"""


def test_validate_names_file_and_line_of_bad_offsets_with_the_other_problems(tmp_path):
    rows = ROWS + [("2026-01-05T11:00:00Z", 0)] * 3
    _jsonl(tmp_path / "ev.jsonl", rows, blank_after=1)  # line 2 is blank: record 2 is line 3
    with (tmp_path / "ev.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(
            json.dumps({"user_id": "u9", "timestamp": "2026-01-05T12:00:00Z", "event": "stray"})
            + "\n"
        )
    (tmp_path / "study.yml").write_text(STUDY.format(events="ev.jsonl"), encoding="utf-8")
    v = pr.validate(tmp_path)
    events = v.summary[v.summary["source"] == "events"]
    err = events[events["message"].str.contains("UTC offset")].iloc[0]
    assert err["severity"] == "warning"
    assert (err["file"], err["row"], err["column"]) == ("ev.jsonl", 3, "timestamp")
    assert "2 timestamp(s) with a UTC offset beyond +/-18:00" in err["message"]
    assert (
        "line 3: '2026-01-05T10:00:00+25:00'; line 6: '2026-01-05T10:00:00-19:30'"
        in (err["message"])
    )
    assert "offsets run from -18:00 to +18:00" in err["fix"]
    # listed with the others: the share without a timestamp, the event of no touchpoint
    messages = " | ".join(events["message"])
    assert "have no readable timestamp" in messages and "marks no touchpoint" in messages


def test_validate_names_the_row_of_a_bad_offset_in_csv(tmp_path):
    text = "user_id,timestamp,event\n" + "".join(
        f"u{i},{t},home_view\n" for i, (t, _) in enumerate(ROWS)
    )
    (tmp_path / "ev.csv").write_text(text, encoding="utf-8")
    (tmp_path / "study.yml").write_text(STUDY.format(events="ev.csv"), encoding="utf-8")
    v = pr.validate(tmp_path)
    err = v.summary[v.summary["message"].str.contains("UTC offset")].iloc[0]
    assert err["severity"] == "warning"
    assert err["row"] == 3  # the header is row 1
    assert "row 3: '2026-01-05T10:00:00+25:00'; row 6:" in err["message"]


def test_a_log_without_bad_offsets_gives_no_offset_problem(tmp_path):
    _jsonl(tmp_path / "ev.jsonl", [r for r in ROWS if r[1] is not None])
    (tmp_path / "study.yml").write_text(STUDY.format(events="ev.jsonl"), encoding="utf-8")
    v = pr.validate(tmp_path)
    assert v.ok and v.summary.empty, v.summary
