"""Step counts from an event log: who reached the start of a step, and who went on.

:func:`trace_counts` turns an event log into the table that
:func:`parcours_research.friction.test_traces` tests: one row per step and persona (and
period), with ``n`` users who reached the start of the step and ``k`` of them who reached its
end.

One funnel
----------
The counts come from :func:`parcours_research.traces.funnel` and nothing else, so that a step's
conversion here is the conversion of the traces funnel, on the same engine (DuckDB, Spark):
ClickHouse ``windowFunnel`` semantics. A *chain* is a step-1 event followed, in order, by one
event of each next step, every event at most ``window`` after the chain's own step-1 event; a
user reaches step *j* when some chain reaches it (the best chain: it may start at *any* step-1
event, not only the first one). Each user's furthest step comes from the funnel's per-user
table (:func:`parcours_research.traces.funnel_users`); with ``f`` the furthest step,

* a **funnel step** *i* (from funnel event *i − 1* to funnel event *i*, ``traces: funnel`` of
  ``study.yml``) has ``n`` = users with ``f >= i − 1`` and ``k`` = users with ``f >= i``: the
  funnel's ``entered`` and ``converted`` of step *i*;
* a **touchpoint step** (a touchpoint with a start and an end event, ``events: [kyc_upload,
  kyc_done]``) is the two-step funnel ``[start, end]`` with the same window.

Entry time and censoring
------------------------
A user's *entry* into a step is their first event of the step's start event (their first
``kyc_upload``; for a funnel step *i*, their first event of funnel event *i − 1*), computed on
the engine with one grouped query. ``complete_window`` keeps only users who entered at least
``window`` before the end of observation (right censoring: a user who entered late has not had
the time to go on), and ``period_split`` puts users before or after a date by their entry.

A step belongs to the touchpoint of its end event. Its ``target`` is left empty: the stage
targets of ``study.yml`` (``targets.conversion``) are targets for reaching a *stage*, tested on
the conversion pyramid (:func:`parcours_research.traces.pyramid`), never for a step inside a
stage. Give step targets to :func:`parcours_research.friction.test_traces` (``targets=``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem
from ._table import ALL

__all__ = ["trace_counts", "ARROW", "COUNT_TABLE_COLUMNS"]

ARROW = "→"
#: Columns of :func:`trace_counts`' table (``period`` after ``persona`` with a period split).
COUNT_TABLE_COLUMNS = ["step", "touchpoint", "stage", "kind", "persona", "n", "k", "target"]
_EPOCH = pd.Timestamp(0, tz="UTC")
_US = pd.Timedelta(microseconds=1)


@dataclass(frozen=True)
class _Step:
    start: str
    end: str
    kind: str  # "funnel" or "touchpoint"
    touchpoint: str | None
    stage: str | None

    @property
    def label(self) -> str:
        return f"{self.start}{ARROW}{self.end}"


@dataclass
class _Source:
    """What :func:`trace_counts` counts: the log and the settings it falls back on."""

    log: object  # EventLog
    funnel: list
    window: object
    journey: object
    by: list  # ["persona"] when the log's persona column gives the groups
    persona_of: pd.Series | None  # user_id -> persona, from ``personas=``
    period: tuple | None  # the study period, for ``period_split="half"``


# ---------------------------------------------------------------------------------- inputs
def _frame_log(events: pd.DataFrame):
    """An EventLog over a DataFrame of events (time stamps read as UTC when naive)."""
    from ..traces.eventlog import as_log

    missing = [c for c in ("user_id", "timestamp", "event") if c not in events.columns]
    if missing:
        raise AnalysisError(
            "trace_counts: the events lack columns.",
            [Problem(f"missing column(s) {missing}", fix="events need user_id, timestamp, event")],
        )
    keep = [
        c
        for c in ("row_id", "user_id", "device_id", "timestamp", "event", "persona")
        if c in events.columns
    ]
    frame = events[keep].copy()
    if not isinstance(frame["timestamp"].dtype, pd.DatetimeTZDtype):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for c in ("user_id", "device_id", "event"):
        if c in frame.columns:
            frame[c] = frame[c].astype("string")
    return as_log(frame)[0]


def _persona_series(personas) -> pd.Series | None:
    """``user_id -> persona`` from a ``{user_id: persona}`` dict or a table with
    ``customer_id`` (or ``user_id``) and ``persona``."""
    if personas is None:
        return None
    if isinstance(personas, pd.DataFrame):
        key = "user_id" if "user_id" in personas.columns else "customer_id"
        if key not in personas.columns or "persona" not in personas.columns:
            raise AnalysisError(
                "trace_counts: personas= needs columns customer_id (or user_id) and persona.",
                [Problem(f"got columns {list(personas.columns)}")],
            )
        p = personas.dropna(subset=[key])
        s = pd.Series(p["persona"].to_numpy(), index=p[key].astype(str).to_numpy())
    elif isinstance(personas, Mapping):
        s = pd.Series({str(k): v for k, v in personas.items()}, dtype=object)
    else:
        raise AnalysisError(
            "trace_counts: personas= must be a dict {user_id: persona} or a table with "
            f"customer_id and persona, not {type(personas).__name__}."
        )
    return s[~s.index.duplicated()]


def _source(data, *, funnel, window, journey, personas, clean) -> _Source:
    from ..evidence import evidence_of
    from ..traces import EventLog

    ev = evidence_of(data, **({} if clean is None else {"clean": bool(clean)}))
    study = ev.study if ev is not None else None
    if ev is not None:
        if study.traces is None:
            raise AnalysisError(
                f"The study {study.name!r} has no event log.",
                [
                    Problem(
                        "no traces",
                        "study.yml",
                        column="traces",
                        fix="add `traces: {events: ...}` to study.yml",
                    )
                ],
            )
        tr = ev.traces
        log, by = tr.log, ([tr.by] if tr.by else [])
    elif isinstance(data, EventLog):
        log, by = data, (["persona"] if data.has("persona") else [])
    elif isinstance(data, pd.DataFrame):
        log = _frame_log(data)
        by = ["persona"] if log.has("persona") else []
    else:
        raise AnalysisError(
            "trace_counts: data must be a Study, its prepared evidence, an EventLog or a "
            "DataFrame of events.",
            [Problem(f"got {type(data).__name__}")],
        )
    meta = log.meta
    persona_of = _persona_series(personas)
    return _Source(
        log=log,
        funnel=list(funnel if funnel is not None else meta.get("funnel") or []),
        window=window if window is not None else meta.get("funnel_window") or "7D",
        journey=journey if journey is not None else meta.get("journey"),
        by=[] if persona_of is not None else by,
        persona_of=persona_of,
        period=study.traces.period if study is not None else meta.get("period"),
    )


def _steps(funnel: list, journey, touchpoint_steps: bool) -> list[_Step]:
    tp_of = dict(journey.event_touchpoints()) if journey is not None else {}
    stage_of = {t.id: t.stage for t in journey.touchpoints} if journey is not None else {}

    def step(a, b, kind):
        tp = tp_of.get(b)
        return _Step(str(a), str(b), kind, tp, stage_of.get(tp) if tp else None)

    out = [step(a, b, "funnel") for a, b in zip(funnel[:-1], funnel[1:])]
    if touchpoint_steps and journey is not None:
        pairs = {(s.start, s.end) for s in out}
        for t in journey.touchpoints:
            a, b = (t.events[0], t.events[-1]) if len(t.events) >= 2 else (None, None)
            if a is not None and a != b and (a, b) not in pairs:
                pairs.add((a, b))
                out.append(step(a, b, "touchpoint"))
    if not out:
        raise AnalysisError(
            "trace_counts: no step to count.",
            [
                Problem(
                    "no funnel of two events or more and no touchpoint with a start and an "
                    "end event",
                    fix="set `traces: funnel:` in study.yml or pass funnel=[...]",
                )
            ],
        )
    return out


def _utc_us(value) -> int:
    t = pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int((t - _EPOCH) // _US)


# ------------------------------------------------------------------------- on the engine
def _span(log) -> tuple[int | None, int | None]:
    """First and last usable time stamps of the log (epoch µs)."""
    from ..traces.eventlog import USABLE

    eng = log.engine
    t = eng.us("timestamp")
    row = eng.fetch(f"SELECT min({t}) AS lo, max({t}) AS hi FROM {log.ref} WHERE {USABLE}")
    lo, hi = row["lo"].iloc[0], row["hi"].iloc[0]
    return (None if pd.isna(lo) else int(lo)), (None if pd.isna(hi) else int(hi))


# --------------------------------------------------------------------------------- counts
def _bounds(src, *, complete_window, observed_until, period_split):
    """``(end, cut)`` in epoch µs: the end of observation for right censoring (None: no
    censoring) and the date splitting the periods (None: no split; ``inf``: every user
    before, for a log without usable events split in its ``"half"``)."""
    need_span = (complete_window and observed_until is None) or (
        isinstance(period_split, str) and period_split == "half"
    )
    lo, hi = _span(src.log) if need_span else (None, None)
    end = None
    if complete_window:
        end = _utc_us(observed_until) if observed_until is not None else hi
    cut = None
    if period_split is not None:
        if isinstance(period_split, str) and period_split == "half":
            a, b = src.period or (None, None)
            a = _utc_us(a) if a is not None else lo
            b = _utc_us(b) if b is not None else hi
            cut = a + (b - a) / 2 if a is not None and b is not None else np.inf
        else:
            cut = _utc_us(period_split)
    return end, cut


def _counts_in_memory(src, steps, end, cut) -> pd.DataFrame:
    """``step, persona, [period], n, k`` from the funnel's per-person reached steps, counted
    as arrays (the fast path of an embedded DuckDB: the log's sorted arrays are already in this
    process). Each funnel is computed once for its steps, by the kernel behind
    :func:`parcours_research.traces.funnel_users`; persons are integer codes throughout."""
    from ..traces import _arrays
    from ..traces._frames import prime
    from ..traces.eventlog import to_us

    prime(src.log)  # events in memory: sorted from their own buffers, not by a query
    s = _arrays.get_sorted(src.log)
    group, names = _person_groups(src, s)
    starts = sorted({st.start for st in steps}) if end is not None or cut is not None else []
    entry = _first_times(s, starts)
    window = to_us(src.window, "window") if end is not None else 0
    furthest: dict[tuple, np.ndarray] = {}
    parts = []
    for j, st in enumerate(steps):
        seq = tuple(src.funnel) if st.kind == "funnel" else (st.start, st.end)
        if seq not in furthest:
            furthest[seq] = _furthest_codes(src.log, s, list(seq), src.window)
        i = seq.index(st.end) + 1
        f = furthest[seq]
        entered = f >= i - 1
        if end is not None:
            entered &= entry[st.start] + window <= end
        before = None if cut is None else entry[st.start] < cut
        parts.append(_group_counts(j, group, entered, f >= i, before, len(names)))
    return _counts_frame(parts, names, cut is not None)


def _furthest_codes(log, s, seq: list[str], window) -> np.ndarray:
    """Each person's furthest step of the funnel ``seq`` (by person code), as
    :func:`parcours_research.traces.funnel_users` gives it; computed once per sorted arrays
    ``s`` and funnel (kept with ``s``, read-only: the friction counts and the exposure of
    :func:`parcours_research.outcomes.at_stake` read the same)."""
    from ..traces import _arrays
    from ..traces.funnel import FunnelSpec

    spec = FunnelSpec(seq, window, "sequential", None, None, "event")
    memo = s.__dict__.setdefault("_furthest", {})
    key = (tuple(seq), int(spec.window_us))
    if key not in memo:
        per = _arrays.funnel_reached(log, spec)
        n = spec.n
        r = per[[f"_r{k}" for k in range(1, n + 1)]].to_numpy(dtype=np.int64)
        r = r.reshape(len(per), n)
        f = np.where(r.any(axis=1), n - np.argmax(r[:, ::-1], axis=1), 0)
        f.flags.writeable = False
        memo[key] = f
    return memo[key]


def _person_groups(src, s) -> tuple[np.ndarray, np.ndarray]:
    """The persona of each person of the sorted arrays ``s`` as an integer code (-1: none),
    and the personas by code: from ``personas=``, else the funnel's groups (the value on the
    person's earliest event)."""
    persons = s.persons.to_numpy(zero_copy_only=False)
    if src.persona_of is not None:
        values = src.persona_of.set_axis(src.persona_of.index.astype(str))
    elif src.by:
        return _first_row_groups(src.log, s, src.by[0])
    else:
        return np.full(len(persons), -1, dtype=np.int64), np.array([], dtype=object)
    values = values.astype(object).where(values.notna())
    codes, names = pd.factorize(values.reindex(persons).to_numpy(dtype=object))
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def _first_row_groups(log, s, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``column`` on each person's earliest event (the funnel's groups: the first row in
    (timestamp, row_id) order, the first of the person's sorted rows) as codes and names,
    read for those rows only: one join on ``row_id``, not a window over the whole log."""
    import pyarrow as pa

    from ..traces.eventlog import USABLE

    first = np.flatnonzero(np.r_[True, s.person[1:] != s.person[:-1]]) if len(s.person) else []
    rows = pa.table({"row_id": s.row_id[first], "_i": np.arange(len(first), dtype=np.int64)})
    eng = log.engine
    name = eng.register(rows, "first_rows")
    try:
        got = eng.fetch(
            f"SELECT f._i, e.{eng.q(column)} AS g FROM {eng.q(name)} AS f "
            f"JOIN {log.ref} AS e ON e.row_id = f.row_id WHERE {USABLE}"
        )
    finally:
        eng.drop(name)
    values = np.full(len(first), None, dtype=object)
    values[got["_i"].to_numpy(dtype=np.int64)] = got["g"].to_numpy(dtype=object)
    codes, names = pd.factorize(pd.Series(values).where(pd.notna(values)).to_numpy(dtype=object))
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def _first_times(s, starts: list[str]) -> dict[str, np.ndarray]:
    """``{event: entry}``: each person's first time stamp of the event (epoch µs, float, NaN
    for a person who never did it), by person code."""
    code = {e: c for c, e in enumerate(s.events)}
    out = {}
    for e in starts:
        t = np.full(len(s.persons), np.nan)
        idx = np.flatnonzero(s.ev == code[e]) if e in code else np.zeros(0, dtype=np.int64)
        if len(idx):
            p = s.person[idx]
            first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
            t[p[first]] = np.minimum.reduceat(s.t[idx], first)
        out[e] = t
    return out


def _group_counts(j, group, entered, reached, before, n_names) -> dict:
    """The counts of step ``j``: ``n`` entered and ``k`` reached per persona code (the last
    code: no persona) and period (0 before, 1 after)."""
    g = np.where(group >= 0, group, n_names)
    key = g if before is None else g * 2 + np.where(before, 0, 1)
    size = (n_names + 1) * (1 if before is None else 2)
    n = np.bincount(key[entered], minlength=size)
    k = np.bincount(key[entered & reached], minlength=size)
    return {"step": j, "n": n, "k": k}


def _counts_frame(parts: list[dict], names: np.ndarray, split: bool) -> pd.DataFrame:
    """``step, persona, [period], n, k`` from the per-step counts (only the groups with users;
    persona None for users without one)."""
    labels = np.array([*names, None], dtype=object)
    rows = {"step": [], "persona": [], "n": [], "k": []} | ({"period": []} if split else {})
    for part in parts:
        has = np.flatnonzero(part["n"] > 0)
        rows["step"].append(np.full(len(has), part["step"], dtype=np.int64))
        rows["persona"].append(labels[has // 2 if split else has])
        if split:
            rows["period"].append(np.where(has % 2 == 0, "before", "after").astype(object))
        rows["n"].append(part["n"][has])
        rows["k"].append(part["k"][has])
    cols = ["step", "persona", *(["period"] if split else []), "n", "k"]
    return pd.DataFrame({c: np.concatenate(rows[c]) if parts else [] for c in cols})


def _users_sql(src, steps: list[_Step]) -> str:
    """SQL of ``_step, _start, _p, _k``: one row per step and person who reached its start
    (``_k``: 1 when they reached its end), each funnel computed once on the engine with the
    funnel's own per-person query (:func:`parcours_research.traces.funnel_users`)."""
    from ..traces.funnel import FunnelSpec, _per_user_sql

    eng = src.log.engine
    seqs: dict[tuple, list] = {}
    for j, s in enumerate(steps):
        seq = tuple(src.funnel) if s.kind == "funnel" else (s.start, s.end)
        seqs.setdefault(seq, []).append((j, s.start, seq.index(s.end) + 1))
    parts = []
    for q, (seq, members) in enumerate(seqs.items()):
        spec = FunnelSpec(list(seq), src.window, "sequential", None, None, "event")
        furthest = " ".join(f"WHEN _r{k} = 1 THEN {k}" for k in range(spec.n, 0, -1))
        per = f"SELECT _p, CASE {furthest} ELSE 0 END AS _f FROM ({_per_user_sql(src.log, spec)}) AS r{q}"
        table = " UNION ALL ".join(
            f"SELECT {j} AS _step, {eng.lit(a)} AS _start, {i} AS _i" for j, a, i in members
        )
        parts.append(
            f"SELECT s._step, s._start, f._p, CASE WHEN f._f >= s._i THEN 1 ELSE 0 END AS _k "
            f"FROM ({per}) AS f JOIN ({table}) AS s ON f._f >= s._i - 1"
        )
    return " UNION ALL ".join(parts)


def _counts_on_engine(src, steps, end, cut) -> pd.DataFrame:
    """``step, persona, [period], n, k`` counted on the log's engine (Spark, DuckDB's SQL
    path): one row per step, persona and period comes back, never a row per user."""
    from ..traces.eventlog import PERSON, USABLE, to_us
    from ..traces.funnel import _groups_sql

    eng = src.log.engine
    joins, persona, registered = "", "CAST(NULL AS STRING)", None
    if src.persona_of is not None:
        frame = pd.DataFrame(
            {"_p": src.persona_of.index.astype(str), "persona": src.persona_of.to_numpy()}
        )
        registered = eng.register(frame, "personas")
        joins, persona = f" LEFT JOIN {eng.q(registered)} AS g ON g._p = u._p", "g.persona"
    elif src.by:
        joins = f" LEFT JOIN ({_groups_sql(src.log, src.by)}) AS g ON g._p = u._p"
        persona = f"g.{eng.q(src.by[0])}"
    cols, where = [f"{persona} AS persona"], ""
    if end is not None or cut is not None:
        names = ", ".join(eng.lit(e) for e in sorted({s.start for s in steps}))
        joins += (
            f" LEFT JOIN (SELECT {PERSON} AS _p, event AS _start, min({eng.us('timestamp')}) "
            f"AS _entry FROM {src.log.ref} WHERE {USABLE} AND event IN ({names}) "
            f"GROUP BY {PERSON}, event) AS e ON e._p = u._p AND e._start = u._start"
        )
    if end is not None:
        where = f" WHERE e._entry + {to_us(src.window, 'window')} <= {int(end)}"
    if cut is not None:
        before = "TRUE" if cut == np.inf else f"e._entry < {float(cut)!r}"
        cols.append(f"CASE WHEN {before} THEN 'before' ELSE 'after' END AS period")
    keys = ", ".join(["step", "persona", *(["period"] if cut is not None else [])])
    inner = f"SELECT u._step AS step, u._k, {', '.join(cols)} FROM ({_users_sql(src, steps)}) AS u{joins}{where}"
    try:
        out = eng.fetch(
            f"SELECT {keys}, count(*) AS n, sum(_k) AS k FROM ({inner}) AS c GROUP BY {keys}"
        )
    finally:
        if registered is not None:
            eng.drop(registered)
    return out.astype({"step": "int64", "n": "int64", "k": "int64"})


def _table(counts: pd.DataFrame, steps: list[_Step], journey, split: bool) -> pd.DataFrame:
    """The count table from ``step, persona, [period], n, k`` (persona missing for users
    without one: they count in the ``"all"`` rows only)."""
    keys = ["step", "persona", *(["period"] if split else [])]
    counts = counts.assign(
        persona=counts["persona"].astype(object).where(counts["persona"].notna())
    )
    named = counts.dropna(subset=["persona"])
    every = counts.groupby([k for k in keys if k != "persona"], sort=False)[["n", "k"]].sum()
    totals = pd.concat([every.reset_index().assign(persona=ALL), named], ignore_index=True)
    totals = totals.groupby(keys, sort=False)[["n", "k"]].sum()
    known = list(journey.persona_ids) if journey is not None else []
    rows = []
    for j, s in enumerate(steps):
        present = named.loc[named["step"] == j, "persona"].unique().tolist()
        order = [
            ALL,
            *[p for p in known if p in present],
            *sorted((p for p in present if p not in known), key=str),
        ]
        base = {"step": s.label, "touchpoint": s.touchpoint, "stage": s.stage, "kind": s.kind}
        for p in order:
            for per in ("before", "after") if split else (None,):
                key = (j, p, per) if split else (j, p)
                n, k = totals.loc[key] if key in totals.index else (0, 0)
                row = {**base, "persona": p, "n": int(n), "k": int(k)}
                rows.append(row if per is None else {**row, "period": per})
    cols = [*COUNT_TABLE_COLUMNS[:5], *(["period"] if split else []), "n", "k"]
    out = pd.DataFrame(rows, columns=cols).assign(target=np.nan)
    if split:
        out["period"] = pd.Categorical(out["period"], categories=["before", "after"], ordered=True)
    return out.astype({"n": "int64", "k": "int64", "target": "float64"})


def trace_counts(
    data,
    *,
    funnel: Sequence[str] | None = None,
    window=None,
    touchpoint_steps: bool = True,
    journey=None,
    personas: pd.DataFrame | Mapping | None = None,
    period_split=None,
    complete_window: bool = True,
    observed_until=None,
    clean: bool | None = None,
) -> pd.DataFrame:
    """Count users at the start and end of every funnel and touchpoint step.

    The counts are those of :func:`parcours_research.traces.funnel` (ClickHouse
    ``windowFunnel``: see the module notes), computed on the log's engine (for a study, the
    study's engine: ``traces: engine:`` in study.yml or ``pr.prepare(study, engine=...)``).
    On Spark (and ``DuckDBEngine(fast=False)``) one grouped query per funnel counts them and
    only the count table comes back; DuckDB's fast path counts the funnel's per-person
    reached steps as arrays, already in this process. For a study or its prepared evidence
    the table is counted once per set of options (without ``journey=`` or ``personas=``)
    and kept in the prepared evidence: the friction tests, ``next_wave`` and the plan read
    the same counts, each call getting its own copy.

    Parameters
    ----------
    data : Study, Evidence, EventLog or DataFrame
        A loaded study or its prepared evidence (:func:`parcours_research.prepare`: its
        cleaned, stitched log, read once and shared with every analysis); an event log; or
        events with columns ``user_id, timestamp, event`` (and ``device_id``, ``persona``).
    funnel : sequence of str, optional
        Funnel events in order; default the study's (the log's) ``traces: funnel``.
    window : str, optional
        Funnel window (``"30D"``); default the study's ``funnel_window``, else ``"7D"`` as
        :func:`parcours_research.traces.funnel`.
    touchpoint_steps : bool, default True
        Add a step for every touchpoint with a start and an end event.
    journey : JourneyMap, optional
        Maps events to touchpoints and stages, orders personas (default the study's).
    personas : DataFrame or dict, optional
        Persona of each user: ``{user_id: persona}`` or a table with ``customer_id`` (or
        ``user_id``) and ``persona``. Default: the log's ``persona`` column (for a study, from
        its customer file), a person's persona being the one on their earliest event. Users
        without one count only in the ``"all"`` rows.
    period_split : str or Timestamp, optional
        Split users in two periods (``"before"``/``"after"`` the date) by their entry into
        each step, for the ``vs_previous_period`` test. ``"half"`` splits the study period (or
        the log's span) in its middle.
    complete_window : bool, default True
        Count only users whose whole window was observed: who entered the step at least
        ``window`` before the end of observation (right censoring; see the module notes).
    observed_until : str or Timestamp, optional
        End of the observation (default: the last event of the log).
    clean : bool, optional
        For a study: count its cleaned log (default True) or the raw one (False); an
        Evidence's own setting by default.

    Returns
    -------
    DataFrame
        ``step, touchpoint, stage, kind, persona, n, k, target`` (and ``period`` after
        ``persona``): one row per step and persona (``"all"`` first, then the journey's
        personas present) (and period). ``step`` is ``"start→end"``; ``kind`` is ``funnel``
        or ``touchpoint``; ``n`` users entered the step (reached its start), ``k`` of them
        reached its end; ``target`` is empty (NaN): step targets are given to
        :func:`test_traces` (``targets=``), stage targets belong to the stage pyramid.
    """
    from ..evidence import evidence_of

    opts = dict(
        funnel=funnel,
        window=window,
        touchpoint_steps=touchpoint_steps,
        journey=journey,
        personas=personas,
        period_split=period_split,
        complete_window=complete_window,
        observed_until=observed_until,
    )
    ev = evidence_of(data, **({} if clean is None else {"clean": bool(clean)}))
    key = _memo_key(opts)
    if ev is None or key is None:
        return _count_table(data, clean=clean, **opts)
    # counted once per prepared study and options: the friction tests, next_wave and the plan
    # read the same table (a copy each, since callers may add columns)
    return ev.derived(key, lambda: _count_table(ev, clean=None, **opts)).copy()


def _memo_key(opts: dict) -> tuple | None:
    """The key of :func:`trace_counts`' table under ``opts`` in the prepared evidence; None
    when an option is a table or a journey (counted afresh, not kept)."""
    if opts["journey"] is not None or opts["personas"] is not None:
        return None
    funnel = None if opts["funnel"] is None else tuple(opts["funnel"])
    key = ("trace_counts", funnel, *(opts[k] for k in sorted(opts) if k != "funnel"))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _count_table(
    data,
    *,
    clean,
    funnel,
    window,
    touchpoint_steps,
    journey,
    personas,
    period_split,
    complete_window,
    observed_until,
) -> pd.DataFrame:
    """:func:`trace_counts` computed (see there)."""
    src = _source(
        data, funnel=funnel, window=window, journey=journey, personas=personas, clean=clean
    )
    steps = _steps(src.funnel, src.journey, touchpoint_steps)
    end, cut = _bounds(
        src,
        complete_window=complete_window,
        observed_until=observed_until,
        period_split=period_split,
    )
    count = _counts_in_memory if src.log.engine.fast else _counts_on_engine
    return _table(count(src, steps, end, cut), steps, src.journey, cut is not None)
