"""GA4 BigQuery exports as exported, ties between equal timestamps, defensible duplicate rules.

The exports are written in tmp_path the way BigQuery writes them (newline-delimited JSON with
INT64 as text and NULL fields left out; Parquet with nested STRUCT/LIST columns via pyarrow),
from the published export schema (https://support.google.com/analytics/answer/7029846), by
:mod:`parcours_research.traces.ga4_sample`. Expected orders and counts follow from how the
rows are built (stated next to each assertion).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError
from parcours_research.traces import _ga4
from parcours_research.traces import ga4_sample as gs

STEPS = ["page_view", "view_item", "add_to_cart", "purchase"]
#: per visitor, in true order (see ``journey_rows``); desktop visitors (even) also buy
TRUE_ORDER = [
    "first_visit",
    "session_start",
    "page_view",
    "click",
    "scroll",
    "view_item",
    "user_engagement",
]
BUY = ["add_to_cart", "purchase"]


def _paths(log) -> dict[str, list[str]]:
    """Each device's events in the log's order (timestamp, then row_id)."""
    df = log.to_pandas().sort_values(["timestamp", "row_id"], kind="stable")
    return {d: g["event"].tolist() for d, g in df.groupby("device_id", sort=True)}


def _expected(n_users=6):
    return {
        f"{1000 + u}.1767258000": TRUE_ORDER + (BUY if u % 2 == 0 else []) for u in range(n_users)
    }


@pytest.fixture(params=["json", "parquet"])
def export(request, tmp_path):
    """A one-day GA4 export (first_visit, session_start, page_view written in the wrong order)."""
    return gs.write_ga4_export(tmp_path, fmt=request.param, layout="single", days=1)[0]


# -- format -------------------------------------------------------------------------------------
def test_format_detected_from_content(tmp_path, export):
    # a .json / .parquet GA4 export is recognised without format=
    assert _ga4.sniff(str(export)) == "ga4"
    log = pr.traces.read_events(export)
    assert "device_category" in log.columns and log.count() == 7 * 6 + 2 * 3
    # a JSON Lines file that is not GA4 stays JSON Lines
    other = tmp_path / "plain.json"
    other.write_text('{"user_id": "u1", "timestamp": "2026-01-01T10:00:00Z", "event": "a"}\n')
    assert _ga4.sniff(str(other)) == "jsonl"
    assert pr.traces.read_events(other).to_pandas()["event"].tolist() == ["a"]
    # content wins over a misleading name: GA4 NDJSON saved as .txt
    renamed = tmp_path / "export.txt"
    renamed.write_bytes(export.read_bytes())
    assert _ga4.sniff(str(renamed)) == _ga4.sniff(str(export))


# -- ties ---------------------------------------------------------------------------------------
def test_ties_ordered_by_batch_fields(export):
    # first_visit / session_start / page_view share a microsecond and are written in reverse;
    # click and scroll share one too (scroll first in the file): batch_event_index knows
    log = pr.traces.read_events(export)
    assert _paths(log) == _expected()
    df = log.to_pandas()
    assert df["row_id"].is_monotonic_increasing and not df["file_row"].is_monotonic_increasing
    tr = pr.traces.transitions(log, within="session")
    n = dict(zip(zip(tr["source"], tr["target"]), tr["n"]))
    # 6 visitors, each with first_visit > session_start > page_view > click > scroll
    assert n[("first_visit", "session_start")] == 6 and n[("click", "scroll")] == 6
    assert ("page_view", "session_start") not in n and ("scroll", "click") not in n


def test_ties_ordered_by_event_rank_then_file_order(tmp_path):
    # an export without batch fields, rows shuffled: the documented rank of automatic events
    # (first_visit < session_start < page_view < other events < user_engagement) orders the
    # ties; click and scroll have the same rank, so their order in the file decides
    rows = gs.journey_rows(6, batch=False)
    random.Random(7).shuffle(rows)
    path = gs.write_ndjson(rows, tmp_path / "events_20260101.json")
    log = pr.traces.read_events(path)
    df = log.to_pandas().sort_values(["timestamp", "row_id"])
    for _dev, g in df.groupby("device_id"):
        ev = g["event"].tolist()
        assert ev[:3] == ["first_visit", "session_start", "page_view"]
        assert ev[5:7] == ["view_item", "user_engagement"]
        pair = g[g["event"].isin(["click", "scroll"])]
        assert pair["file_row"].is_monotonic_increasing  # file order as last resort
    assert _ga4.EVENT_RANK["session_start"] < _ga4.EVENT_RANK["page_view"] < _ga4.OTHER_RANK


def test_same_order_on_every_path(export):
    # the array fast path and the SQL of every engine read the same row_id order
    fast = pr.traces.read_events(export)
    sql = pr.traces.read_events(export, engine=pr.traces.DuckDBEngine(fast=False))
    a = pr.traces.transitions(fast, within="session")
    b = pr.traces.transitions(sql, within="session")
    cols = ["source", "target", "n"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
    assert (
        pr.traces.variants(fast, top=3)["variant"].tolist()
        == pr.traces.variants(sql, top=3)["variant"].tolist()
    )


def test_equal_timestamps_in_any_log_keep_file_order(tmp_path):
    # a plain CSV log with ties and no sequence field: file order, on both paths
    path = tmp_path / "events.csv"
    pd.DataFrame(
        {
            "user_id": ["u1"] * 4,
            "timestamp": ["2026-01-01T10:00:00Z"] * 3 + ["2026-01-01T10:00:05Z"],
            "event": ["c", "a", "b", "d"],
        }
    ).to_csv(path, index=False)
    for eng in (None, pr.traces.DuckDBEngine(fast=False)):
        tr = pr.traces.transitions(pr.traces.read_events(path, engine=eng), within="user")
        assert sorted(zip(tr["source"], tr["target"])) == [("a", "b"), ("b", "d"), ("c", "a")]


# -- flattening ---------------------------------------------------------------------------------
def test_flattened_columns_and_funnel_by_device_category(export):
    log = pr.traces.read_events(export)
    for col in (
        "device_category",
        "device_operating_system",
        "device_web_info_browser",
        "geo_country",
        "geo_city",
        "traffic_source_source",
        "traffic_source_medium",
        "collected_traffic_source_manual_source",
        "platform",
        "param_page_location",
    ):
        assert col in log.columns, col
    # buyers log in at the purchase (user_id): stitching gives the device's events to them
    log, _ = pr.traces.stitch(log)
    out = pr.traces.funnel(log, steps=STEPS, window="1D", by="device_category")
    got = {(r.device_category, r.step): r.converted for r in out.itertuples()}
    # visitors 0, 2, 4 are on desktop and buy; 1, 3, 5 on mobile only view the product
    assert [got[("desktop", s)] for s in STEPS] == [3, 3, 3, 3]
    assert [got[("mobile", s)] for s in STEPS] == [3, 3, 0, 0]
    by_country = pr.traces.funnel(log, steps=STEPS, window="1D", by="geo_country")
    assert set(by_country["geo_country"]) == {"France", "Belgium"}


def test_params_are_typed(tmp_path):
    rows = gs.journey_rows(4)
    a = pr.traces.read_events(gs.write_ndjson(rows, tmp_path / "e.json")).to_pandas()
    b = pr.traces.read_events(gs.write_parquet(rows, tmp_path / "e.parquet")).to_pandas()
    for df in (a, b):
        assert pd.api.types.is_integer_dtype(df["param_engagement_time_msec"])
        assert pd.api.types.is_integer_dtype(df["param_ga_session_id"])
        assert pd.api.types.is_integer_dtype(df["device_time_zone_offset_seconds"])  # INT64 text
        assert pd.api.types.is_integer_dtype(df["batch_event_index"])
        assert pd.api.types.is_float_dtype(df["param_value"])
        assert pd.api.types.is_string_dtype(df["param_outbound"])
        ue = df[df["event"] == "user_engagement"]
        assert sorted(ue["param_engagement_time_msec"].tolist()) == [4000, 4001, 4002, 4003]
        assert df.loc[df["event"] == "purchase", "param_value"].tolist() == [19.9, 19.9]
        assert df["session_id"].iloc[0] == f"{df['device_id'].iloc[0]}:1767258000"
    # the JSON export leaves out fields that are NULL everywhere; the others agree
    shared = [c for c in a.columns if c in b.columns and c != "items"]
    pd.testing.assert_frame_equal(a[shared], b[shared], check_dtype=False)


def test_nested_column_in_by_gives_a_clear_error(tmp_path):
    path = gs.write_parquet(gs.journey_rows(2), tmp_path / "e.parquet")
    log = pr.traces.read_events(path)
    with pytest.raises(AnalysisError, match="nested") as info:
        pr.traces.funnel(log, steps=STEPS, by="items")
    assert "items" in str(info.value)
    # the same file read as plain Parquet keeps the nested structs: the hint names format='ga4'
    raw = pr.traces.read_events(
        path,
        format="parquet",
        columns={
            "timestamp": "event_timestamp",
            "event": "event_name",
            "device_id": "user_pseudo_id",
        },
        timestamp_unit="us",
    )
    with pytest.raises(AnalysisError, match="format='ga4'"):
        pr.traces.funnel(raw, steps=STEPS, by="device")
    with pytest.raises(AnalysisError, match="nested"):
        pr.traces.time_to_step(raw, "purchase", by=["device"])


# -- study.yml ----------------------------------------------------------------------------------
STUDY = """\
name: GA4 study
journey:
  stages:
  - {{id: discover, label: Discover}}
  - {{id: buy, label: Buy}}
touchpoints:
- {{id: site, label: Site, stage: discover, channel: web, events: [page_view]}}
- {{id: product, label: Product page, stage: discover, channel: web, events: [view_item]}}
- {{id: basket, label: Basket, stage: buy, channel: web, events: [add_to_cart, purchase]}}
personas:
- {{id: all, label: Everyone}}
traces:
  events: {events}
  timezone: Europe/Paris
"""


@pytest.mark.parametrize(
    "fmt, layout, events",
    [
        ("json", "daily", "ga4/events_*.json"),
        ("json", "daily", "[ga4/events_20260101.json, ga4/events_20260102.json]"),
        ("parquet", "hive", "ga4"),
        ("parquet", "daily", "ga4/events_2026010?.parquet"),
    ],
)
def test_study_yml_globs_lists_and_hive_folders(tmp_path, fmt, layout, events):
    gs.write_ga4_export(tmp_path / "ga4", fmt=fmt, layout=layout, days=2)
    (tmp_path / "study.yml").write_text(STUDY.format(events=events), encoding="utf-8")
    study = pr.load_study(tmp_path)
    assert study.traces.format == "ga4"  # told by content, no format: in study.yml
    assert len(study.traces.sources) == 2
    log = pr.traces.read_events(study)
    df = log.to_pandas()
    assert len(df) == 2 * (7 * 6 + 2 * 3) and df["row_id"].tolist() == list(range(len(df)))
    assert sorted(df["event_date"].unique()) == ["20260101", "20260102"]
    assert str(df["timestamp"].dt.tz) == "Europe/Paris"


def test_study_yml_event_files_problems_are_listed(tmp_path):
    gs.write_ga4_export(tmp_path / "ga4", days=1)
    events = "[ga4/events_20260101.json, ga4/events_20260199.json, 'nope/*.json']"
    (tmp_path / "study.yml").write_text(STUDY.format(events=events), encoding="utf-8")
    with pytest.raises(StudyError) as info:
        pr.load_study(tmp_path)
    text = str(info.value)
    assert (
        "events_20260199.json' does not exist" in text and "no file matches 'nope/*.json'" in text
    )
    assert "unknown format" not in text


# -- duplicates ---------------------------------------------------------------------------------
def _with_duplicates(tmp_path):
    """6 visitors' export plus: one exact copy of a row (a re-sent hit); one double fire (same
    event and parameters, 40 ms later, next batch index); one real repeat (same event, another
    page, 200 ms later)."""
    rows = gs.journey_rows(6)
    view = next(r for r in rows if r["event_name"] == "view_item")
    twice = json.loads(json.dumps(view))
    twice["event_timestamp"] += 40_000
    twice["batch_event_index"] = 5
    repeat = json.loads(json.dumps(view))
    repeat["event_timestamp"] += 200_000
    repeat["event_params"][2]["value"]["string_value"] = "https://shop.example/p/2"
    rows += [json.loads(json.dumps(rows[3])), twice, repeat]
    return gs.write_ndjson(rows, tmp_path / "events_20260101.json"), len(rows)


def test_duplicate_rules_default_only_exact(tmp_path):
    path, n = _with_duplicates(tmp_path)
    log = pr.traces.read_events(path)
    _, cl = pr.traces.clean(log, bots_behaviour=False)
    s = cl.summary.set_index("reason")["n"]
    assert s["exact_duplicate"] == 1 and s["near_duplicate"] == 0 and s["kept"] == n - 1
    assert s.sum() == n
    assert not cl.summary.set_index("reason").loc["near_duplicate", "enabled"]
    assert cl.duplicates.to_dict("records") == [
        {"reason": "exact_duplicate", "event": "scroll", "n": 1}
    ]
    assert "Duplicates removed, by event" in cl._repr_html_()


def test_near_duplicates_need_identical_properties(tmp_path):
    path, n = _with_duplicates(tmp_path)
    for eng in (None, pr.traces.DuckDBEngine(fast=False)):
        log = pr.traces.read_events(path, engine=eng)
        _, cl = pr.traces.clean(log, bots_behaviour=False, near_duplicates="300ms")
        s = cl.summary.set_index("reason")["n"]
        # the double fire goes (40 ms, same parameters); the repeat on another page stays
        assert s["exact_duplicate"] == 1 and s["near_duplicate"] == 1 and s.sum() == n
        d = cl.duplicates
        assert d["n"].sum() == s["exact_duplicate"] + s["near_duplicate"]
        assert d.set_index("reason").loc["near_duplicate", "event"] == "view_item"
        gone = cl.removed()
        near = gone.loc[gone["reason"] == "near_duplicate", "row_id"].tolist()
        assert log.to_pandas().set_index("row_id").loc[near, "batch_event_index"].tolist() == [5]


def test_fast_repeats_of_a_retentioneering_shaped_log_are_kept():
    # the shape of Retentioneering's simple_shop demo log (user_id, event, timestamp; people
    # reload `catalog` and `main` 0.09-0.99 s apart): the defaults keep every such repeat, the
    # former 1-second rule removed them all
    rng = np.random.default_rng(3)
    rows = []
    for u in range(40):
        t = pd.Timestamp("2019-11-01 10:00", tz="UTC") + pd.Timedelta(minutes=u)
        for ev in ["main", "catalog", "catalog", "product1", "cart"]:
            gap = (
                rng.uniform(0.09, 0.99) if rows and rows[-1]["event"] == ev else rng.uniform(5, 60)
            )
            t += pd.Timedelta(seconds=float(gap))
            rows.append({"user_id": f"{219483890 + u}", "event": ev, "timestamp": t})
    df = pd.DataFrame(rows)
    _, default = pr.traces.clean(df)
    assert default.n_kept == len(df)
    _, old = pr.traces.clean(df, near_duplicates="1s")
    assert old.summary.set_index("reason").loc["near_duplicate", "n"] == 40
    assert old.duplicates.to_dict("records") == [
        {"reason": "near_duplicate", "event": "catalog", "n": 40}
    ]


def test_a_parameter_first_seen_late_in_a_json_export_is_kept(tmp_path):
    # DuckDB infers JSON types from a sample of 20,480 lines by default: a key first seen after
    # it (a rare parameter's double_value, a new device field) was dropped without a word
    rows = gs.journey_rows(2, batch=False)
    base = rows[0]
    path = tmp_path / "events_20260101.json"
    with open(path, "w", encoding="utf-8") as fh:
        line = json.dumps(gs._json_value(base)) + "\n"
        fh.write(line * 21_000)
        late = gs.event("purchase", gs.T0 + 10**9, "late.1", extra={"value": 12.5})
        late["device"]["web_info"]["browser"] = "Firefox"
        fh.write(json.dumps(gs._json_value(late)) + "\n")
    log = pr.traces.read_events(path)
    got = log.engine.fetch(
        f"SELECT param_value, device_web_info_browser FROM {log.ref} WHERE device_id = 'late.1'"
    )
    assert got.to_dict("records") == [{"param_value": 12.5, "device_web_info_browser": "Firefox"}]
