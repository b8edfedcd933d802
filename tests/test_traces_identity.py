"""Identity stitching: devices to customers; conflicts reported, never guessed."""

from __future__ import annotations

import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.errors import TraceDataError

T0 = pd.Timestamp("2026-02-01 09:00", tz="UTC")


def _log():
    rows = [
        ("d1", None, "home"),
        ("d1", "C1", "login"),
        ("d1", None, "quote"),  # d1 -> C1 by login
        ("d2", None, "home"),  # d2 -> C2 by the map
        ("d3", "C3", "login"),
        ("d3", "C4", "login"),
        ("d3", None, "home"),  # shared: conflict
        ("d4", None, "home"),  # unknown device
        ("d5", None, "home"),  # map says C5 and C6
    ]
    return pd.DataFrame(
        {
            "device_id": [r[0] for r in rows],
            "user_id": [r[1] for r in rows],
            "event": [r[2] for r in rows],
            "timestamp": [T0 + pd.Timedelta(minutes=i) for i in range(len(rows))],
        }
    )


IDMAP = pd.DataFrame(
    {"device_id": ["d2", "d5", "d5", "d1"], "customer_id": ["C2", "C5", "C6", "C1"]}
)


def test_stitch_fills_customers_and_reports_conflicts():
    out, conflicts = pr.traces.stitch(_log(), identity_map=IDMAP)
    assert out["user_id"].tolist() == ["C1", "C1", "C1", "C2", "C3", "C4", "d3", "d4", "d5"]
    assert out["identified"].tolist() == [True] * 6 + [False] * 3
    assert conflicts[["device_id", "user_id"]].values.tolist() == [
        ["d3", "C3"],
        ["d3", "C4"],
        ["d5", "C5"],
        ["d5", "C6"],
    ]
    assert conflicts["source"].tolist() == ["events", "events", "identity_map", "identity_map"]
    assert conflicts["n_events"].tolist() == [1, 1, 0, 0]
    assert (conflicts["n_customers"] == 2).all()
    d1 = conflicts[conflicts["device_id"] == "d1"]
    assert d1.empty


def test_login_events_restriction_and_sources():
    log = _log()
    log.loc[1, "event"] = "page"  # d1's only evidence is no longer a login event
    out, conflicts = pr.traces.stitch(log, identity_map=False, login_events=["login"])
    assert out["user_id"].tolist()[:3] == ["d1", "C1", "d1"]
    out, _ = pr.traces.stitch(log, identity_map=IDMAP, login_events=False)
    assert out["user_id"].tolist()[:4] == ["C1", "C1", "C1", "C2"]
    both = pr.traces.stitch(_log(), identity_map=IDMAP)[1]
    assert "both" not in set(both["source"])
    _, c = pr.traces.stitch(
        _log(),
        identity_map=IDMAP.assign(
            device_id=["d2", "d5", "d5", "d3"], customer_id=["C2", "C5", "C6", "C3"]
        ),
    )
    assert c.loc[(c["device_id"] == "d3") & (c["user_id"] == "C3"), "source"].item() == "both"


def test_identity_map_errors():
    with pytest.raises(TraceDataError, match="device_id"):
        pr.traces.stitch(_log(), identity_map=pd.DataFrame({"dev": ["d1"], "customer_id": ["C1"]}))
    with pytest.raises(TraceDataError, match="file not found"):
        pr.traces.stitch(_log(), identity_map="nope/identity.csv")


def test_sample_conflicts_are_the_shared_devices():
    study = pr.load_study("data/sample")
    cleaned, _ = pr.traces.clean(pr.traces.read_events(study))
    stitched, conflicts = pr.traces.stitch(cleaned)
    assert set(conflicts["device_id"]) == set(study.truth["events"]["shared_devices"])
    # every stitched row of a non-conflicting device that the map knows carries a customer id
    df = stitched.to_pandas()
    assert df["user_id"].notna().all()
    assert len(df) == cleaned.count()
