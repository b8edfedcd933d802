"""Shared helpers of the trace tests: awkward generated logs and plain-Python references."""

from __future__ import annotations

import numpy as np
import pandas as pd

import parcours_research as pr

VOCAB = ["a", "b", "c", "d", "x"]


def awkward_log(
    seed: int,
    n_users: int = 30,
    tz: str = "Europe/Paris",
    max_events: int = 12,
    spread_minutes: int = 40,
) -> pd.DataFrame:
    """Events with ties (minute-rounded times), rows out of order, single-event users, and a
    time zone with a DST change (2026-03-29 in Europe/Paris)."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2026-03-29 00:30", tz="UTC")
    for u in range(n_users):
        k = 1 if u % 7 == 0 else int(rng.integers(1, max_events + 1))
        for _ in range(k):
            minute = int(rng.integers(0, spread_minutes))
            rows.append(
                {
                    "user_id": f"u{u:03d}",
                    "timestamp": base + pd.Timedelta(minutes=minute),
                    "event": str(rng.choice(VOCAB, p=[0.3, 0.25, 0.2, 0.15, 0.1])),
                }
            )
    df = pd.DataFrame(rows)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)  # out of order in the file
    df["timestamp"] = df["timestamp"].dt.tz_convert(tz)
    return df


def engines():
    """A fast DuckDB engine and a pure-SQL one (the same SQL Spark runs)."""
    return [
        pr.traces.DuckDBEngine(fast=True, threads=1),
        pr.traces.DuckDBEngine(fast=False, threads=1),
    ]


def log_on(df: pd.DataFrame, engine):
    from parcours_research.traces.eventlog import as_log

    return as_log(df, engine)[0]


def person_rows(df: pd.DataFrame) -> dict[str, list[tuple[int, str, int]]]:
    """``{person: [(t_us, event, row_id), ...]}`` in file order."""
    t = (df["timestamp"].dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(
        microseconds=1
    )
    person = df["user_id"].astype(object).where(df["user_id"].notna(), df.get("device_id"))
    out: dict[str, list] = {}
    for i, (p, tt, e) in enumerate(zip(person, t, df["event"])):
        out.setdefault(p, []).append((int(tt), e, i))
    return out


# -- funnel references ----------------------------------------------------------------------------
def clickhouse_window_funnel(
    rows, step_of: dict, n: int, window: int, strict_order: bool = False
) -> int:
    """A line-by-line transcription of ClickHouse's ``windowFunnel`` (AggregateFunctionWindowFunnel,
    getEventLevelNonStrictOnce) for one person: events sorted by (timestamp, condition index)."""
    lst = []
    for ts, ev, _rid in sorted(rows, key=lambda r: r[2]):  # insertion order: file order
        k = step_of.get(ev, 0)
        if k:
            lst.append((ts, k))
        elif strict_order:
            lst.append((ts, 0))
    if not lst:
        return 0
    if not strict_order and n == 1:
        return 1
    lst.sort(key=lambda x: (x[0], x[1]))  # Python's sort is stable, like std::stable_sort
    level = [None] * n
    first_event = False
    for ts, k in lst:
        idx = k - 1
        if strict_order and idx == -1:
            if first_event:
                break
            continue
        if idx == 0:
            level[0] = (ts, ts)
            first_event = True
        elif strict_order and first_event and level[idx - 1] is None:
            for i in range(n):
                if level[i] is None:
                    return i
        elif level[idx - 1] is not None:
            first = level[idx - 1][0]
            if ts <= first + window:
                level[idx] = (first, ts)
                if idx + 1 == n:
                    return n
    for i in range(n, 0, -1):
        if level[i - 1] is not None:
            return i
    return 0


def _sorted_steps(rows, step_of, exclude):
    items = []
    for ts, ev, rid in rows:
        if ev in exclude:
            items.append((ts, 0, rid, "x"))
        elif ev in step_of:
            items.append((ts, step_of[ev], rid, "s"))
    items.sort(key=lambda r: (r[0], r[1], r[2]))
    segs, cur = [], []
    for it in items:
        if it[3] == "x":
            segs.append(cur)
            cur = []
        else:
            cur.append(it)
    segs.append(cur)
    return segs


def brute_force_reached(rows, step_of: dict, n: int, window: int, optional=(), exclude=()) -> set:
    """Steps reached by some valid chain, found by exhaustive search (the definition in
    ``funnel``'s docstring): chains start at a step-1 event, go forward in (timestamp, step,
    row) order, may skip optional steps, never cross an excluded event, and stay within
    ``window`` of their first event."""
    optional = set(optional)

    def successors(k):
        out = []
        j = k + 1
        while j <= n:
            out.append(j)
            if j not in optional:
                break
            j += 1
        return out

    reached = set()
    for seg in _sorted_steps(rows, step_of, set(exclude)):
        for i, (ts0, k0, _, _) in enumerate(seg):
            if k0 != 1:
                continue
            seen = set()
            stack = [(i, 1)]
            while stack:
                pos, k = stack.pop()
                if (pos, k) in seen:
                    continue
                seen.add((pos, k))
                reached.add(k)
                for nxt in successors(k):
                    for j in range(pos + 1, len(seg)):
                        if seg[j][1] == nxt and seg[j][0] <= ts0 + window:
                            stack.append((j, nxt))
    return reached


def brute_force_any(rows, step_of: dict, n: int, window: int, optional=(), exclude=()) -> set:
    """Steps reached in any order: some window [t, t + window] starting at a step event holds
    step k and every mandatory step before it."""
    reached = set()
    for seg in _sorted_steps(rows, step_of, set(exclude)):
        for ts0, _, _, _ in seg:
            present = {k for ts, k, _, _ in seg if ts0 <= ts <= ts0 + window}
            for k in range(1, n + 1):
                if k in present and all(j in present for j in range(1, k) if j not in optional):
                    reached.add(k)
    return reached


def one_touchpoint_journey(personas=("p", "q")):
    """One touchpoint marked by a start and an end event (a → c), one stage, the personas given."""
    from parcours_research.journey import JourneyMap, Label, Persona, Stage, Touchpoint

    return JourneyMap(
        name="t",
        stages=(Stage("s1", Label("S", "S"), 1),),
        touchpoints=(Touchpoint("tp", Label("T", "T"), "s1", "web", events=("a", "c")),),
        personas=tuple(Persona(p, Label(p, p)) for p in personas),
    )
