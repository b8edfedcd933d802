"""Sessions, transitions, variants and time to step against independent computations.

Transitions and variants are checked against pm4py (``discover_dfg`` and ``get_variants``), used
only here; sessions against a plain-Python loop; Kaplan-Meier against the product-limit formula
worked by hand and the published 6-MP table (Greenwood standard errors, log(-log) intervals).
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from traces_fixtures import awkward_log, engines, log_on, person_rows

import parcours_research as pr

GAP = 5 * 60_000_000  # 5 minutes, so that awkward logs have several sessions


def reference_sessions(df: pd.DataFrame, gap_us: int) -> dict[int, str]:
    """``row_id -> session id`` by a plain loop over each person's rows sorted by (t, row)."""
    out = {}
    for p, rows in person_rows(df).items():
        n, prev = 0, None
        for ts, _, rid in sorted(rows, key=lambda r: (r[0], r[2])):
            if prev is None or ts - prev > gap_us:
                n += 1
            out[rid] = f"{p}:{n}"
            prev = ts
    return out


@pytest.mark.parametrize("seed", range(3))
def test_sessionize_matches_reference(seed):
    df = awkward_log(seed)
    ref = reference_sessions(df, GAP)
    for eng in engines():
        got = pr.traces.sessionize(log_on(df, eng), gap="5min").to_pandas()
        assert dict(zip(got["row_id"], got["session_id"])) == ref


def test_gap_of_exactly_the_limit_stays_in_the_session():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    df = pd.DataFrame(
        {
            "user_id": ["u"] * 3,
            "event": ["a", "b", "c"],
            "timestamp": [
                t0,
                t0 + pd.Timedelta("30min"),
                t0 + pd.Timedelta("60min") + pd.Timedelta(microseconds=1),
            ],
        }
    )
    for eng in engines():
        assert pr.traces.sessionize(log_on(df, eng)).to_pandas()["session_id"].tolist() == [
            "u:1",
            "u:1",
            "u:2",
        ]
    out = pr.traces.sessionize(df)
    assert isinstance(out, pd.DataFrame) and str(out["timestamp"].dt.tz) == "UTC"


def _pm4py_frame(df: pd.DataFrame, case: dict) -> pd.DataFrame:
    """The log in file order with its case id; pm4py sorts by (case, timestamp) with a stable
    lexsort, so ties keep file order, like row_id."""
    out = pd.DataFrame(
        {
            "case:concept:name": [case[i] for i in range(len(df))],
            "concept:name": df["event"].astype(str).to_numpy(),
            "time:timestamp": df["timestamp"].dt.tz_convert("UTC").to_numpy(),
        }
    )
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("within", ["session", "user"])
def test_transitions_and_variants_match_pm4py(seed, within):
    import pm4py

    df = awkward_log(seed, n_users=40)
    if within == "session":
        case = reference_sessions(df, GAP)
    else:
        case = {rid: p for p, rows in person_rows(df).items() for _, _, rid in rows}
    frame = _pm4py_frame(df, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dfg, _, _ = pm4py.discover_dfg(frame)
        # pm4py 2.7's numpy variants discards its own sort (``dataframe.sort_values(...)`` is
        # not assigned) and reads cases as contiguous blocks: give it the frame sorted the way it
        # means to sort it, by (case, timestamp, position in the file).
        ordered = frame.rename_axis("_pos").sort_values(
            ["case:concept:name", "time:timestamp", "_pos"], kind="stable"
        )
        pm_variants = pm4py.get_variants(ordered)
    n_cases = frame["case:concept:name"].nunique()
    pm_variants = {k: (v if isinstance(v, int) else len(v)) for k, v in pm_variants.items()}
    for eng in engines():
        log = log_on(df, eng)
        tr = pr.traces.transitions(log, within=within, gap="5min")
        assert dict(zip(zip(tr["source"], tr["target"]), tr["n"])) == dict(dfg)
        va = pr.traces.variants(log, top=None, within=within, gap="5min")
        ours = {tuple(v.split(pr.traces.SEPARATOR)): n for v, n in zip(va["variant"], va["n"])}
        assert ours == pm_variants
        assert np.isclose(va["share"].sum(), 1.0) and va["n"].sum() == n_cases
        top = pr.traces.variants(log, top=3, within=within, gap="5min")
        expected = sorted(pm_variants.items(), key=lambda kv: (-kv[1], " > ".join(kv[0])))[:3]
        assert [tuple(v.split(" > ")) for v in top["variant"]] == [k for k, _ in expected]


def test_transition_median_durations():
    df = awkward_log(7, n_users=25)
    ref = reference_sessions(df, GAP)
    t = (df["timestamp"].dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(
        microseconds=1
    )
    durations: dict[tuple, list] = {}
    by_case: dict[str, list] = {}
    for i in range(len(df)):
        by_case.setdefault(ref[i], []).append((int(t[i]), i, df["event"][i]))
    for rows in by_case.values():
        rows.sort()
        for (t1, _, e1), (t2, _, e2) in zip(rows, rows[1:]):
            durations.setdefault((e1, e2), []).append(t2 - t1)
    for eng in engines():
        tr = pr.traces.transitions(log_on(df, eng), gap="5min")
        for s, tg, med in zip(tr["source"], tr["target"], tr["median_duration"]):
            assert med == pd.Timedelta(microseconds=round(float(np.median(durations[(s, tg)]))))
        shares = tr.groupby("source")["share"].sum()
        assert np.allclose(shares, 1.0)


def test_touchpoint_transitions_skip_unmapped_events():
    df = awkward_log(2, n_users=15)
    mapping = {"web": ["a", "b"], "store": ["c"]}
    for eng in engines():
        log = pr.traces.map_touchpoints(pr.traces.sessionize(log_on(df, eng), gap="5min"), mapping)
        tr = pr.traces.transitions(log, node="touchpoint")
        kept = log.to_pandas().dropna(subset=["touchpoint"])
        pairs = Counter()
        for _, g in kept.sort_values(["timestamp", "row_id"]).groupby("session_id"):
            tp = g["touchpoint"].tolist()
            pairs.update(zip(tp, tp[1:]))
        assert dict(zip(zip(tr["source"], tr["target"]), tr["n"])) == dict(pairs)


def test_time_to_step_kaplan_meier_by_hand():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    day = pd.Timedelta("1D")
    rows = [  # persona A: reach after 1, 2, censored at 4 (end = day 4); B: reach after 3
        ("u1", t0, "start", "A"),
        ("u1", t0 + day, "buy", "A"),
        ("u2", t0, "start", "A"),
        ("u2", t0 + 2 * day, "buy", "A"),
        ("u3", t0, "start", "A"),
        ("u3", t0 + day / 2, "look", "A"),
        ("u4", t0 + day, "start", "B"),
        ("u4", t0 + 4 * day, "buy", "B"),
    ]
    df = pd.DataFrame(rows, columns=["user_id", "timestamp", "event", "persona"])
    res = pr.traces.time_to_step(df, step="buy", by="persona", end=t0 + 4 * day)
    s = res.summary.set_index("persona")
    assert s.loc["A", "n"] == 3 and s.loc["A", "n_reached"] == 2
    # product-limit for A: S(1) = 2/3, S(2) = 2/3 * 1/2 = 1/3 -> median 2 days
    assert s.loc["A", "median_days"] == pytest.approx(2.0)
    curve = res.curve[res.curve["persona"] == "A"].set_index("days")["reached"]
    assert curve.loc[1.0] == pytest.approx(1 / 3) and curve.loc[2.0] == pytest.approx(2 / 3)
    pu = res.per_user.set_index("user_id")
    assert pu.loc["u3", "days"] == pytest.approx(4.0) and not pu.loc["u3", "reached"]
    assert pu.loc["u4", "days"] == pytest.approx(3.0)
    assert "TimeToStep(" in repr(res)


# Remission times in weeks of the 6-MP trial (Freireich et al. 1963, Blood 21:699-716), as given
# by Gehan (1965) and reprinted in survival textbooks (Kalbfleisch & Prentice 2002; Klein &
# Moeschberger 2003); "+" marks a censored time (here: a negative number).
SIX_MP = [6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
# The 6-MP product-limit table worked by hand: event time, number at risk, relapses. Klein &
# Moeschberger (ch. 4, the 6-MP example) and R's survfit print S = 0.857, 0.807, 0.753, 0.690,
# 0.627, 0.538, 0.448 with Greenwood standard errors 0.0764, 0.0869, 0.0963, 0.1068, 0.1141,
# 0.1282, 0.1346.
SIX_MP_TABLE = [
    (6, 21, 3),
    (7, 17, 1),
    (10, 15, 1),
    (13, 12, 1),
    (16, 11, 1),
    (22, 7, 1),
    (23, 6, 1),
]
SIX_MP_PRINTED = {
    6: (0.857, 0.0764),
    7: (0.807, 0.0869),
    10: (0.753, 0.0963),
    13: (0.690, 0.1068),
    16: (0.627, 0.1141),
    22: (0.538, 0.1282),
    23: (0.448, 0.1346),
}


def _trial_log() -> tuple[pd.DataFrame, pd.Timestamp]:
    """One person per patient, one day per week: relapses reach the step ``relapse`` ``t`` days
    after their first event; censored patients start ``t`` days before the end of observation."""
    t0, end = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-03-01", tz="UTC")
    day, rows = pd.Timedelta("1D"), []
    for arm, times in (("6-MP", SIX_MP), ("placebo", PLACEBO)):
        for i, t in enumerate(times):
            user = f"{arm}-{i}"
            if t > 0:
                rows += [(user, t0, "start", arm), (user, t0 + t * day, "relapse", arm)]
            else:
                rows.append((user, end + t * day, "start", arm))
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event", "arm"]), end


def _hand_kaplan_meier(table, z):
    """``{t: (S, Greenwood se, log(-log) low, high)}`` from the product-limit formula,
    Greenwood's variance S^2 * sum d / (n (n - d)), and the exponential Greenwood interval
    S ** exp(+-z * sqrt(sum d / (n (n - d))) / |log S|) (Kalbfleisch & Prentice 2002)."""
    out, s, g = {}, 1.0, 0.0
    for t, n, d in table:
        s *= (n - d) / n
        g += d / (n * (n - d))
        sigma = np.sqrt(g) / abs(np.log(s))
        out[t] = (s, s * np.sqrt(g), s ** np.exp(z * sigma), s ** np.exp(-z * sigma))
    return out


def test_time_to_step_matches_the_published_6mp_kaplan_meier_table():
    from parcours_research.traces.paths import _kaplan_meier

    df, end = _trial_log()
    res = pr.traces.time_to_step(df, step="relapse", by="arm", end=end)
    z = 1.959963984540054  # normal quantile at 0.975
    hand = _hand_kaplan_meier(SIX_MP_TABLE, z)
    for t, (s_printed, se_printed) in SIX_MP_PRINTED.items():
        assert hand[t][0] == pytest.approx(s_printed, abs=5e-4)  # the hand table is the book's
        assert hand[t][1] == pytest.approx(se_printed, abs=5e-5)
    # the estimate and Greenwood's standard error (not in the public tables: the private fit)
    days = np.array([abs(t) for t in SIX_MP], dtype=float)
    km = _kaplan_meier(days, np.array([t > 0 for t in SIX_MP]), z).set_index("days")
    for t, (s, se, _, _) in hand.items():
        assert km.loc[t, "survival"] == pytest.approx(s, rel=1e-12)
        assert km.loc[t, "se"] == pytest.approx(se, rel=1e-12)
    # the public curve: 1 - S with the log(-log) interval, carried over censoring times
    curve = res.curve[res.curve["arm"] == "6-MP"].set_index("days")
    for t, (s, _, low, high) in hand.items():
        assert curve.loc[float(t), "reached"] == pytest.approx(1 - s, rel=1e-12)
        assert curve.loc[float(t), "ci_low"] == pytest.approx(1 - high, rel=1e-12)
        assert curve.loc[float(t), "ci_high"] == pytest.approx(1 - low, rel=1e-12)
    assert curve.loc[9.0, "reached"] == pytest.approx(1 - hand[7][0])  # 9+ is censored
    assert curve.loc[0.0, ["reached", "ci_low", "ci_high"]].tolist() == [0.0, 0.0, 0.0]
    # medians: 23 weeks under 6-MP, 8 under placebo (Freireich et al. 1963); the 6-MP interval
    # runs from the first time the lower bound is <= 1/2 (13 weeks: 0.432, at 10 weeks 0.503)
    # and stays open, the upper bound at 23 weeks being 0.680
    s = res.summary.set_index("arm")
    assert hand[10][2] > 0.5 >= hand[13][2] and hand[23][3] > 0.5
    assert s.loc["6-MP", "median_days"] == 23 and s.loc["placebo", "median_days"] == 8
    assert s.loc["6-MP", "ci_low"] == 13 and np.isnan(s.loc["6-MP", "ci_high"])
    assert s.loc["6-MP", ["n", "n_reached"]].tolist() == [21, 9]
    assert s.loc["placebo", ["n", "n_reached", "share_reached"]].tolist() == [21, 21, 1.0]


def test_time_to_step_confidence_level():
    df, end = _trial_log()
    wide = pr.traces.time_to_step(df, step="relapse", by="arm", end=end)
    narrow = pr.traces.time_to_step(df, step="relapse", by="arm", end=end, confidence=0.8)
    assert (
        narrow.curve["ci_high"] - narrow.curve["ci_low"]
        <= wide.curve["ci_high"] - wide.curve["ci_low"] + 1e-12
    ).all()
    pd.testing.assert_series_equal(narrow.curve["reached"], wide.curve["reached"])
    with pytest.raises(ValueError, match="confidence"):
        pr.traces.time_to_step(df, step="relapse", confidence=95)


def test_time_to_step_when_nobody_reaches_the_step():
    df, end = _trial_log()
    res = pr.traces.time_to_step(df, step="never", end=end)
    assert res.summary[["n", "n_reached"]].iloc[0].tolist() == [42, 0]
    assert res.summary[["median_days", "ci_low", "ci_high"]].isna().all(axis=None)
    assert (res.curve["reached"] == 0).all() and (res.curve["ci_high"] == 0).all()
