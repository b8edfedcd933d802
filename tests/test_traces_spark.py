"""The same pipeline on Spark (local mode) gives exactly DuckDB's results."""

from __future__ import annotations

import pandas as pd
import pytest
from traces_fixtures import awkward_log

import parcours_research as pr

pytestmark = [pytest.mark.spark, pytest.mark.slow]




def _pipeline(path, engine, idmap):
    log = pr.traces.read_events(
        path,
        engine=engine,
        timezone="Europe/Paris",
        columns={
            "user_id": "customer",
            "device_id": "device",
            "timestamp": "ts",
            "event": "name",
            "user_agent": "ua",
        },
    )
    cleaned, clog = pr.traces.clean(log, period=("2026-03-28", "2026-03-30"))
    stitched, conflicts = pr.traces.stitch(cleaned, identity_map=idmap)
    sessions = pr.traces.sessionize(stitched, gap="5min")
    out = {
        "log": clog.summary,
        "bots": clog.bots,
        "conflicts": conflicts,
        "sessions": sessions.to_pandas()[["row_id", "user_id", "session_id"]],
    }
    for order in ("sequential", "strict", "any"):
        out[order] = pr.traces.funnel(sessions, steps=["a", "b", "c"], window="10min", order=order)
    out["per_user"] = pr.traces.funnel_users(
        sessions, steps=["a", "b", "c"], window="10min", exclude="x", optional=[2]
    )
    out["transitions"] = pr.traces.transitions(sessions)
    out["variants"] = pr.traces.variants(sessions, top=None)
    return out


def test_spark_matches_duckdb(spark, tmp_path):
    df = awkward_log(3, n_users=25)
    raw = pd.DataFrame(
        {
            "device": [f"d{u[1:]}" for u in df["user_id"]],
            "customer": [u if i % 3 == 0 else "" for i, u in enumerate(df["user_id"])],
            "ts": df["timestamp"]
            .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            .str.replace(r"(\d\d)$", r":\1", regex=True),
            "name": df["event"],
            "ua": ["Googlebot/2.1" if i % 41 == 0 else "Mozilla/5.0" for i in range(len(df))],
        }
    )
    raw = pd.concat([raw, raw.iloc[[1, 2]]], ignore_index=True)  # exact duplicates
    raw.loc[len(raw) - 1, "ts"] = "garbage"
    path = tmp_path / "events.csv"
    raw.to_csv(path, index=False)
    idmap = pd.DataFrame(
        {"device_id": ["d001", "d002", "d002"], "customer_id": ["u001", "u002", "u777"]}
    )
    duck = _pipeline(str(path), pr.traces.DuckDBEngine(), idmap)
    sp = _pipeline(str(path), pr.traces.SparkEngine(spark), idmap)
    for key in duck:
        a = (
            duck[key].sort_values(list(duck[key].columns[:2])).reset_index(drop=True)
            if key == "sessions"
            else duck[key]
        )
        b = (
            sp[key].sort_values(list(sp[key].columns[:2])).reset_index(drop=True)
            if key == "sessions"
            else sp[key]
        )
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, obj=key
        )
    assert duck["log"]["n"].sum() == len(raw)
    # the comparison is not between empty tables
    s = duck["log"].set_index("reason")["n"]
    assert s["unparseable"] >= 1 and s["exact_duplicate"] >= 1 and s["bot_user_agent"] >= 1
    assert set(duck["conflicts"]["device_id"]) == {"d002"}
    assert duck["sequential"]["converted"].min() > 0 and len(duck["transitions"]) > 5
