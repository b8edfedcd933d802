"""Write small GA4 BigQuery exports exactly as BigQuery writes them, to try the GA4 reader
(notebook 08, the tests): newline-delimited JSON (INT64 as text, NULL fields left out, one
file per day ``events_YYYYMMDD.json``) or Parquet (nested STRUCT and LIST columns, optionally
in Hive folders ``event_date=YYYY-MM-DD/part-0.parquet``), following the published export
schema (https://support.google.com/analytics/answer/7029846). Synthetic rows, no statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["write_ga4_export", "journey_rows"]

T0 = 1_767_258_000_000_000  # 2026-01-01 09:00:00 UTC, in microseconds

_VALUE = pa.struct(
    [
        ("string_value", pa.string()),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("double_value", pa.float64()),
    ]
)
_PARAMS = pa.list_(pa.struct([("key", pa.string()), ("value", _VALUE)]))
SCHEMA = pa.schema(
    [
        ("event_date", pa.string()),
        ("event_timestamp", pa.int64()),
        ("event_name", pa.string()),
        ("event_params", _PARAMS),
        ("event_previous_timestamp", pa.int64()),
        ("event_bundle_sequence_id", pa.int64()),
        ("user_id", pa.string()),
        ("user_pseudo_id", pa.string()),
        (
            "device",
            pa.struct(
                [
                    ("category", pa.string()),
                    ("mobile_brand_name", pa.string()),
                    ("operating_system", pa.string()),
                    ("language", pa.string()),
                    ("time_zone_offset_seconds", pa.int64()),
                    ("web_info", pa.struct([("browser", pa.string()), ("hostname", pa.string())])),
                ]
            ),
        ),
        (
            "geo",
            pa.struct(
                [
                    ("continent", pa.string()),
                    ("country", pa.string()),
                    ("region", pa.string()),
                    ("city", pa.string()),
                ]
            ),
        ),
        (
            "traffic_source",
            pa.struct([("name", pa.string()), ("medium", pa.string()), ("source", pa.string())]),
        ),
        (
            "collected_traffic_source",
            pa.struct(
                [
                    ("manual_source", pa.string()),
                    ("manual_medium", pa.string()),
                    ("manual_campaign_name", pa.string()),
                ]
            ),
        ),
        ("stream_id", pa.string()),
        ("platform", pa.string()),
        (
            "ecommerce",
            pa.struct(
                [
                    ("total_item_quantity", pa.int64()),
                    ("purchase_revenue", pa.float64()),
                    ("transaction_id", pa.string()),
                ]
            ),
        ),
        (
            "items",
            pa.list_(
                pa.struct(
                    [("item_id", pa.string()), ("item_name", pa.string()), ("quantity", pa.int64())]
                )
            ),
        ),
        ("batch_event_index", pa.int64()),
        ("batch_ordering_id", pa.int64()),
        ("batch_page_id", pa.int64()),
    ]
)


def params(**kv) -> list[dict]:
    """``event_params`` as GA4 writes them: one typed slot filled per key."""
    out = []
    for k, v in kv.items():
        value = {"string_value": None, "int_value": None, "float_value": None, "double_value": None}
        if isinstance(v, bool) or isinstance(v, int):
            value["int_value"] = int(v)
        elif isinstance(v, float):
            value["double_value"] = v
        else:
            value["string_value"] = str(v)
        out.append({"key": k, "value": value})
    return out


def event(
    name,
    t_us,
    pseudo,
    *,
    user=None,
    session=1,
    page="/",
    device="desktop",
    country="France",
    source="google",
    medium="organic",
    batch=None,
    extra=None,
    items=None,
) -> dict:
    """One exported row (``batch`` = (page_id, ordering_id, event_index) or None)."""
    p = {
        "ga_session_id": session,
        "ga_session_number": 1,
        "page_location": f"https://shop.example{page}",
    }
    p.update(extra or {})
    page_id, ordering_id, index = batch if batch else (None, None, None)
    day = (int(t_us) - T0) // 86_400_000_000 + 1
    return {
        "event_date": f"202601{day:02d}",
        "event_timestamp": int(t_us),
        "event_name": name,
        "event_params": params(**p),
        "event_previous_timestamp": None,
        "event_bundle_sequence_id": 1,
        "user_id": user,
        "user_pseudo_id": pseudo,
        "device": {
            "category": device,
            "mobile_brand_name": "Apple" if device == "mobile" else None,
            "operating_system": "iOS" if device == "mobile" else "Windows",
            "language": "fr-fr",
            "time_zone_offset_seconds": 3600,
            "web_info": {
                "browser": "Safari" if device == "mobile" else "Chrome",
                "hostname": "shop.example",
            },
        },
        "geo": {
            "continent": "Europe",
            "country": country,
            "region": "Ile-de-France",
            "city": "Paris",
        },
        "traffic_source": {"name": "(organic)", "medium": medium, "source": source},
        "collected_traffic_source": {
            "manual_source": source,
            "manual_medium": medium,
            "manual_campaign_name": None,
        },
        "stream_id": "1234567890",
        "platform": "WEB",
        "ecommerce": None,
        "items": items or [],
        "batch_event_index": index,
        "batch_ordering_id": ordering_id,
        "batch_page_id": page_id,
    }


def _json_value(v):
    """BigQuery's JSON export: INT64 as text, NULL fields left out, empty structs as {}."""
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    return v


def write_ndjson(rows: list[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(_json_value(r), separators=(",", ":")) + "\n")
    return path


def write_parquet(rows: list[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    return path


def journey_rows(n_users: int = 6, *, batch: bool = True, day: int = 0) -> list[dict]:
    """A small export: each visitor's first visit fires ``first_visit``, ``session_start`` and
    ``page_view`` at the same microsecond, written to the file in the wrong order (as
    exports often are); then a scroll and a click sharing a timestamp, a product view, and for
    every other visitor an ``add_to_cart`` and a ``purchase``. ``batch`` fills
    ``batch_page_id``/``batch_ordering_id``/``batch_event_index``."""
    rows = []
    for u in range(n_users):
        pseudo = f"{1000 + u}.{1767258000 + day}"
        t = T0 + day * 86_400_000_000 + u * 60_000_000
        dev = "mobile" if u % 2 else "desktop"
        kw = dict(session=1767258000 + u, device=dev, country="France" if u < 4 else "Belgium")

        def b(page, order, index):
            return (page, order, index) if batch else None

        rows += [
            event("page_view", t, pseudo, batch=b(1, 1, 2), **kw),
            event("session_start", t, pseudo, batch=b(1, 1, 1), **kw),
            event("first_visit", t, pseudo, batch=b(1, 1, 0), **kw),
            # two events in one batch with the same timestamp: only the batch knows the order
            event(
                "scroll",
                t + 5_000_000,
                pseudo,
                batch=b(1, 2, 1),
                extra={"percent_scrolled": 90},
                **kw,
            ),
            event(
                "click", t + 5_000_000, pseudo, batch=b(1, 2, 0), extra={"outbound": "true"}, **kw
            ),
            event("view_item", t + 9_000_000, pseudo, page="/p/1", batch=b(2, 1, 0), **kw),
            event(
                "user_engagement",
                t + 9_000_000,
                pseudo,
                page="/p/1",
                batch=b(2, 1, 1),
                extra={"engagement_time_msec": 4000 + u},
                **kw,
            ),
        ]
        if u % 2 == 0:
            rows += [
                event(
                    "add_to_cart",
                    t + 20_000_000,
                    pseudo,
                    page="/p/1",
                    batch=b(2, 2, 0),
                    extra={"value": 19.9},
                    **kw,
                ),
                event(
                    "purchase",
                    t + 40_000_000,
                    pseudo,
                    user=f"C{u}",
                    page="/ok",
                    batch=b(3, 1, 0),
                    extra={"value": 19.9},
                    items=[{"item_id": "p1", "item_name": "Lamp", "quantity": 1}],
                    **kw,
                ),
            ]
    return rows


def write_ga4_export(
    folder,
    *,
    n_users: int = 6,
    days: int = 2,
    fmt: str = "json",
    layout: str = "daily",
    batch: bool = True,
) -> list[Path]:
    """Write a small synthetic GA4 export to ``folder``; returns the files written.

    Parameters
    ----------
    folder : path
        Created when missing.
    n_users : int, default 6
        Visitors per day (see :func:`journey_rows`: first visit, scroll, click, product view,
        and for every other visitor an add to cart and a purchase; desktop visitors buy).
    days : int, default 2
        Days exported from 2026-01-01.
    fmt : {"json", "parquet"}
        BigQuery's newline-delimited JSON or Parquet.
    layout : {"daily", "hive", "single"}
        One file per day (``events_20260101.json``), Hive folders
        (``event_date=2026-01-01/part-0.parquet``), or one file (``events.json``).
    batch : bool, default True
        Fill GA4's ``batch_*`` ordering fields (older exports have none).

    Returns
    -------
    list of Path
        The files, in date order.
    """
    if fmt not in ("json", "parquet"):
        raise ValueError(f"fmt={fmt!r}: use 'json' or 'parquet'")
    if layout not in ("daily", "hive", "single"):
        raise ValueError(f"layout={layout!r}: use 'daily', 'hive' or 'single'")
    folder = Path(folder)
    write = write_ndjson if fmt == "json" else write_parquet
    ext = "json" if fmt == "json" else "parquet"
    per_day = [journey_rows(n_users, batch=batch, day=d) for d in range(days)]
    if layout == "single":
        return [write([r for rows in per_day for r in rows], folder / f"events.{ext}")]
    out = []
    for d, rows in enumerate(per_day):
        date = f"2026-01-{d + 1:02d}"
        name = (
            f"events_{date.replace('-', '')}.{ext}"
            if layout == "daily"
            else f"event_date={date}/part-0.{ext}"
        )
        out.append(write(rows, folder / name))
    return out
