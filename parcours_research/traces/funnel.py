"""Conversion funnels over event logs, with ClickHouse ``windowFunnel`` semantics.

Definitions (per person: ``user_id``, or ``device_id`` before stitching)
----------------------------------------------------------------------
Events are ordered by timestamp, then -- for equal timestamps -- by step number (events that are
no step first), then by ``row_id``. A *chain* is a step-1 event followed, in that order, by one
event of each next step; it is valid when every event of the chain happens at most ``window``
after the chain's step-1 event (``t <= t_first + window``). Repeated events are allowed.

``order="sequential"``
    The person reaches step k when a valid chain reaches step k. This is exactly the level that
    ClickHouse's ``windowFunnel(window)(timestamp, step_1, ..., step_n)`` returns.
``order="strict"``
    As ClickHouse's ``windowFunnel(window, 'strict_order')``: once the person has done step 1,
    the first event that breaks the order -- an event that is no step, or a step whose previous
    step has not been reached -- ends the search; the person keeps the steps reached before it.
``order="any"``
    The person reaches step k when steps 1..k all happen, in any order, within one window of
    length ``window``.

``exclude`` lists events that end a conversion attempt: a chain may not cross one (a later
step-1 event starts afresh). ``optional`` steps may be skipped: a chain may go from the step
before an optional step straight to the step after it.

The funnel table counts persons. For step k, ``converted`` is the number of persons who reached
step k, and ``entered`` the number who reached the closest earlier mandatory step (every person
in the group for step 1): those who could have done step k. ``rate_from_previous =
converted / entered``, ``rate_from_first = converted / converted at step 1`` and ``drop_off =
entered - converted``. Mandatory steps' counts never increase along the funnel.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._compat import deprecated_args, warn_deprecated
from ..errors import AnalysisError, check_one_of
from .eventlog import PERSON, USABLE, EventLog, as_log, check_flat, to_us

__all__ = ["funnel", "funnel_users", "FunnelSpec", "ORDERS"]

ORDERS = ("sequential", "strict", "any")
MAX_STEPS = 32


class FunnelSpec:
    """Validated funnel definition (steps as lists of event names, 1-based numbering)."""

    def __init__(self, steps, window, order, exclude, optional, on="event"):
        check_one_of("order", order, ORDERS)
        check_one_of("on", on, ("event", "touchpoint"))
        if isinstance(steps, str) or not isinstance(steps, Sequence) or len(steps) == 0:
            raise AnalysisError(
                "steps must be a non-empty list of event names (a step can be a "
                "list of names: any of them counts)."
            )
        if len(steps) > MAX_STEPS:
            raise AnalysisError(f"A funnel has at most {MAX_STEPS} steps; got {len(steps)}.")
        self.events: list[tuple[str, ...]] = []
        self.labels: list[str] = []
        seen: dict[str, int] = {}
        for i, s in enumerate(steps, 1):
            names = (s,) if isinstance(s, str) else tuple(str(x) for x in s)
            if not names:
                raise AnalysisError(f"Step {i} names no event.")
            for n in names:
                if n in seen:
                    raise AnalysisError(
                        f"Event {n!r} is in steps {seen[n]} and {i}: one event can mark one step "
                        "only; rename the step or keep it once."
                    )
                seen[n] = i
            self.events.append(names)
            self.labels.append(names[0] if len(names) == 1 else " | ".join(names))
        self.n = len(self.events)
        self.window_us = to_us(window, "window")
        self.order = order
        self.on = on
        ex = [] if exclude is None else [exclude] if isinstance(exclude, str) else list(exclude)
        bad = [e for e in ex if e in seen]
        if bad:
            raise AnalysisError(
                f"exclude={bad} are funnel steps; an excluded event cannot also be a step."
            )
        self.exclude = tuple(str(e) for e in ex)
        opt = (
            []
            if optional is None
            else [optional]
            if isinstance(optional, str | int)
            else list(optional)
        )
        idx = set()
        for o in opt:
            if isinstance(o, int | np.integer) and not isinstance(o, bool):
                k = int(o)
            elif o in self.labels:
                k = self.labels.index(o) + 1
            elif o in seen:
                k = seen[o]
            else:
                raise AnalysisError(
                    f"optional={o!r} is not a step; use a step's name or number (1..{self.n})."
                )
            if not 1 <= k <= self.n:
                raise AnalysisError(f"optional step number {k} is outside 1..{self.n}.")
            if k == 1:
                raise AnalysisError("The first step cannot be optional: the funnel starts there.")
            idx.add(k)
        self.optional = frozenset(idx)
        # predecessors of each step: the previous step, and its predecessors when it is optional
        self.preds: dict[int, tuple[int, ...]] = {}
        for k in range(2, self.n + 1):
            p = [k - 1]
            if k - 1 in self.optional:
                p += list(self.preds[k - 1])
            self.preds[k] = tuple(sorted(set(p)))

    def step_of(self) -> dict[str, int]:
        return {e: i for i, names in enumerate(self.events, 1) for e in names}

    def mandatory_before(self, k: int) -> int:
        """Closest mandatory step before ``k`` (0 for none)."""
        j = k - 1
        while j >= 1 and j in self.optional:
            j -= 1
        return j


def _per_user_sql(log: EventLog, spec: FunnelSpec) -> str:
    """SQL giving ``_p, _r1 .. _rn`` (1 when the person reached the step) for persons with at
    least one relevant event."""
    eng = log.engine
    col = spec.on
    t = eng.us("timestamp")
    steps = spec.step_of()
    case = " ".join(f"WHEN {eng.lit(e)} THEN {k}" for e, k in steps.items())
    step_expr = f"CASE {col} {case} ELSE 0 END"
    ex = ", ".join(eng.lit(e) for e in spec.exclude)
    excl_expr = f"CASE WHEN {col} IN ({ex}) THEN 1 ELSE 0 END" if spec.exclude else "0"
    relevant = ", ".join(eng.lit(e) for e in [*steps, *spec.exclude])
    where = f"WHERE {USABLE}" + ("" if spec.order == "strict" else f" AND {col} IN ({relevant})")
    base = (
        f"SELECT {PERSON} AS _p, {t} AS _t, row_id, {step_expr} AS _s, {excl_expr} AS _x "
        f"FROM {log.ref} {where}"
    )
    order = "_t, _s, row_id"
    if spec.exclude and spec.order != "strict":
        base = (
            f"SELECT _p, _t, row_id, _s, sum(_x) OVER (PARTITION BY _p ORDER BY {order} ROWS "
            f"BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _g FROM ({base}) AS b0"
        )
    else:
        base = f"SELECT _p, _t, row_id, _s, 0 AS _g FROM ({base}) AS b0"
    w = spec.window_us
    n = spec.n
    if spec.order in ("sequential", "strict"):
        sql = f"SELECT *, CASE WHEN _s = 1 THEN _t END AS _f1 FROM ({base}) AS l1"
        for k in range(2, n + 1):
            ms = [
                f"max(_f{p}) OVER (PARTITION BY _p, _g ORDER BY {order} ROWS BETWEEN UNBOUNDED "
                f"PRECEDING AND 1 PRECEDING)"
                for p in spec.preds[k]
            ]
            m = ms[0] if len(ms) == 1 else f"greatest({', '.join(ms)})"
            sql = (
                f"SELECT *, CASE WHEN _s = {k} AND _t <= _m{k} + {w} THEN _m{k} END AS _f{k} "
                f"FROM (SELECT *, {m} AS _m{k} FROM ({sql}) AS i{k}) AS l{k}"
            )
        if spec.order == "sequential":
            reached = ", ".join(
                f"max(CASE WHEN _f{k} IS NOT NULL THEN 1 ELSE 0 END) AS _r{k}"
                for k in range(1, n + 1)
            )
            return f"SELECT _p, {reached} FROM ({sql}) AS f GROUP BY _p"
        # strict: cut each person's sequence at the first event that breaks the order
        own_m = (
            "CASE _s " + " ".join(f"WHEN {k} THEN _m{k}" for k in range(2, n + 1)) + " END"
            if n > 1
            else "NULL"
        )
        pos = f"row_number() OVER (PARTITION BY _p ORDER BY {order})"
        sql = f"SELECT *, {pos} AS _pos FROM ({sql}) AS s0"
        sql = (
            f"SELECT *, min(CASE WHEN _s = 1 THEN _pos END) OVER (PARTITION BY _p) AS _first "
            f"FROM ({sql}) AS s1"
        )
        brk = (
            f"CASE WHEN _pos > _first AND (_s = 0 OR (_s >= 2 AND ({own_m}) IS NULL)) THEN _pos END"
        )
        sql = f"SELECT *, min({brk}) OVER (PARTITION BY _p) AS _cut FROM ({sql}) AS s2"
        reached = ", ".join(
            f"max(CASE WHEN _f{k} IS NOT NULL AND (_cut IS NULL OR _pos < _cut) THEN 1 ELSE 0 END) AS _r{k}"
            for k in range(1, n + 1)
        )
        return f"SELECT _p, {reached} FROM ({sql}) AS f GROUP BY _p"
    # any order: anchors are step events; step j is present when its next occurrence at or after
    # the anchor is within the window
    nxt = ", ".join(
        f"min(CASE WHEN _s = {j} THEN _t END) OVER (PARTITION BY _p, _g ORDER BY _t RANGE BETWEEN "
        f"CURRENT ROW AND UNBOUNDED FOLLOWING) AS _n{j}"
        for j in range(1, n + 1)
    )
    sql = f"SELECT _p, _t, _s, {nxt} FROM ({base}) AS a0"
    present = {j: f"(_n{j} IS NOT NULL AND _n{j} <= _t + {w})" for j in range(1, n + 1)}
    reached = []
    for k in range(1, n + 1):
        need = [present[j] for j in range(1, k) if j not in spec.optional] + [present[k]]
        reached.append(
            f"max(CASE WHEN _s >= 1 AND {' AND '.join(need)} THEN 1 ELSE 0 END) AS _r{k}"
        )
    return f"SELECT _p, {', '.join(reached)} FROM ({sql}) AS a GROUP BY _p"


def _groups_sql(log: EventLog, by: list[str]) -> str:
    """One row per person: ``_p`` and the ``by`` values of the person's earliest event."""
    eng = log.engine
    t = eng.us("timestamp")
    cols = "".join(f", {eng.q(c)}" for c in by)
    if not by:
        return f"SELECT DISTINCT {PERSON} AS _p FROM {log.ref} WHERE {USABLE}"
    return (
        f"SELECT _p{cols} FROM (SELECT {PERSON} AS _p{cols}, row_number() OVER (PARTITION BY "
        f"{PERSON} ORDER BY {t}, row_id) AS _rn FROM {log.ref} WHERE {USABLE}) AS g WHERE _rn = 1"
    )


@deprecated_args(
    positional=("steps", "window", "order", "by", "exclude", "optional", "per_user", "on")
)
def funnel(
    events,
    *,
    steps=None,
    window=None,
    order: str = "sequential",
    by=None,
    exclude=None,
    optional=None,
    per_user: bool = False,
    on: str = "event",
) -> pd.DataFrame:
    """Conversion funnel: how many persons reach each step, in order, within a window.

    Parameters
    ----------
    events : EventLog or DataFrame
        Cleaned (and preferably stitched) events.
    steps : list
        Event names in funnel order; a step may be a list of names (any of them marks it).
        Default: the study's ``funnel`` when the log was read from a study.
    window : duration, default "7D"
        Conversion window, measured from the step-1 event of a chain (inclusive). Default: the
        study's ``funnel_window``.
    order : {"sequential", "strict", "any"}
        See the module notes; "sequential" is ClickHouse's ``windowFunnel``, "strict" its
        ``strict_order`` mode.
    by : str or list of str, optional
        Break the funnel down by these columns (persona, channel...); a person's group is the
        value on the person's earliest event.
    exclude : str or list of str, optional
        Events that end a conversion attempt.
    optional : list of step names or numbers, optional
        Steps that may be skipped (not the first).
    on : {"event", "touchpoint"}
        Match steps against event names (default) or touchpoint ids.
    per_user : bool, default False
        Deprecated: call :func:`funnel_users` for each person's furthest step.

    Returns
    -------
    DataFrame
        One row per step (and group): ``step, step_index, <by...>, optional, entered,
        converted, rate_from_first, rate_from_previous, drop_off``.
    """
    options = dict(steps=steps, window=window, order=order, by=by, exclude=exclude)
    options |= dict(optional=optional, on=on)
    if per_user:
        # stack: warn_deprecated, funnel, the deprecated_args wrapper, the caller
        warn_deprecated(
            "pr.traces.funnel()", "per_user=True", "pr.traces.funnel_users(...)", stacklevel=4
        )
        return funnel_users(events, **options)
    log, spec, by = _prepare(events, **options)
    n = spec.n
    if log.engine.fast:
        per = _reached(log, spec, by)
        sums = {f"_c{k}": (f"_r{k}", "sum") for k in range(1, n + 1)}
        if by:
            counts = (
                per.groupby(by, dropna=False, sort=False)
                .agg(_users=("_p", "size"), **sums)
                .reset_index()
            )
        else:
            counts = pd.DataFrame(
                {"_users": [len(per)]}
                | {f"_c{k}": [int(per[f"_r{k}"].sum())] for k in range(1, n + 1)}
            )
    else:  # counted on the engine: only one row per group comes back
        eng = log.engine
        agg = ", ".join(f"sum(_r{k}) AS _c{k}" for k in range(1, n + 1))
        keys = ", ".join(eng.q(c) for c in by)
        gb = f" GROUP BY {keys}" if by else ""
        sel = f"{keys}, " if by else ""
        joined = _reached_sql(log, spec, by)
        counts = eng.fetch(f"SELECT {sel}count(*) AS _users, {agg} FROM ({joined}) AS j{gb}")
    return _table(counts, spec, by)


def funnel_users(
    events,
    *,
    steps=None,
    window=None,
    order: str = "sequential",
    by=None,
    exclude=None,
    optional=None,
    on: str = "event",
) -> pd.DataFrame:
    """Each person's furthest funnel step, under the definitions of :func:`funnel`.

    Parameters
    ----------
    events : EventLog or DataFrame
        Cleaned (and preferably stitched) events.
    steps : list
        Event names in funnel order; a step may be a list of names (any of them marks it).
        Default: the study's ``funnel`` when the log was read from a study.
    window : duration, default "7D"
        Conversion window, measured from the step-1 event of a chain (inclusive). Default: the
        study's ``funnel_window``.
    order : {"sequential", "strict", "any"}
        See the module notes; "sequential" is ClickHouse's ``windowFunnel``, "strict" its
        ``strict_order`` mode.
    by : str or list of str, optional
        Break the funnel down by these columns (persona, channel...); a person's group is the
        value on the person's earliest event.
    exclude : str or list of str, optional
        Events that end a conversion attempt.
    optional : list of step names or numbers, optional
        Steps that may be skipped (not the first).
    on : {"event", "touchpoint"}
        Match steps against event names (default) or touchpoint ids.

    Returns
    -------
    DataFrame
        ``user_id, <by...>, furthest_step``: one row per person in the log, sorted by
        ``user_id``; ``furthest_step`` is the number of the furthest step reached (0 when step
        1 was never done). Summed over persons, ``furthest_step >= k`` gives :func:`funnel`'s
        ``converted`` of a mandatory step ``k``.
    """
    log, spec, by = _prepare(
        events,
        steps=steps,
        window=window,
        order=order,
        by=by,
        exclude=exclude,
        optional=optional,
        on=on,
    )
    per = _reached(log, spec, by)
    n = spec.n
    r = per[[f"_r{k}" for k in range(1, n + 1)]].to_numpy(dtype=np.int64).reshape(len(per), n)
    furthest = np.where(r.any(axis=1), n - np.argmax(r[:, ::-1], axis=1), 0)
    out = pd.DataFrame({"user_id": per["_p"].astype("string").to_numpy()})
    for c in by:
        out[c] = per[c].to_numpy()
    out["furthest_step"] = np.asarray(furthest, dtype="int64")
    return out.sort_values("user_id", kind="stable").reset_index(drop=True)


def _prepare(events, *, steps, window, order, by, exclude, optional, on):
    """Validate the arguments: ``(log, spec, by as a list)``."""
    log, _ = as_log(events)
    if steps is None:
        steps = list(log.meta.get("funnel") or [])
        if not steps:
            raise AnalysisError(
                "funnel needs steps=[...] (or a study with `funnel:` in study.yml)."
            )
    if window is None:
        window = log.meta.get("funnel_window") or "7D"
    spec = FunnelSpec(steps, window, order, exclude, optional, on)
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, spec.on] if c not in log.columns]
    if missing:
        raise AnalysisError(
            f"funnel: the events have no column(s) {missing}; "
            + (
                "call map_touchpoints first."
                if "touchpoint" in missing
                else "add them (pr.traces.attach) or change by=."
            )
        )
    check_flat(log, by, "funnel")
    return log, spec, by


def _reached_sql(log: EventLog, spec: FunnelSpec, by: list[str]) -> str:
    """SQL giving one row per person of the log: ``_p, <by...>, _r1 .. _rn``."""
    eng = log.engine
    rcols = ", ".join(f"coalesce(r._r{k}, 0) AS _r{k}" for k in range(1, spec.n + 1))
    gcols = "".join(f", g.{eng.q(c)}" for c in by)
    return (
        f"SELECT g._p{gcols}, {rcols} FROM ({_groups_sql(log, by)}) AS g "
        f"LEFT JOIN ({_per_user_sql(log, spec)}) AS r ON g._p = r._p"
    )


def _reached(log: EventLog, spec: FunnelSpec, by: list[str]) -> pd.DataFrame:
    """One row per person of the log: ``_p, <by...>, _r1 .. _rn`` (1 when the step was
    reached), from the array kernels or the engine's SQL."""
    eng = log.engine
    if not eng.fast:
        return eng.fetch(_reached_sql(log, spec, by))
    from . import _arrays
    from ._frames import prime

    prime(log)  # events in memory: sorted from their own buffers, not by a query
    rnames = [f"_r{k}" for k in range(1, spec.n + 1)]
    per = _arrays.funnel_reached(log, spec)  # _p, _r1.._rn for every person
    if by:
        found = _first_values_once(log, _arrays.get_sorted(log), by)
        if found is not None:  # one row per person, in the order of ``per``
            out = found.assign(**{"_p": per["_p"].to_numpy()})[["_p", *by]]
            for c in rnames:
                out[c] = per[c].to_numpy().astype("int64")
            return out
        groups = eng.fetch(_groups_sql(log, by))
        per = groups.merge(per, on="_p", how="left")
        per[rnames] = per[rnames].fillna(0).astype("int64")
    return per


#: ``{log: (sorted arrays, by, first values)}``, the last read of each log: a report's
#: funnel and pyramid ask for the same groups of the same log
_FIRST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _first_values_once(log: EventLog, s, by: list[str]) -> pd.DataFrame | None:
    """:func:`_first_values`, read once for the same log, sorted arrays and ``by`` (the
    table is never modified: callers build their own from it)."""
    last = _FIRST.get(log)
    if last is None or last[0] is not s or last[1] != tuple(by):
        last = _FIRST[log] = (s, tuple(by), _first_values(log, s, by))
    return last[2]


def _first_values(log: EventLog, s, by: list[str]) -> pd.DataFrame | None:
    """The ``by`` values of each person's earliest event (as :func:`_groups_sql` picks it:
    first by timestamp, then ``row_id``), one row per person in the order of the sorted
    arrays ``s``; read with a narrow scan (``row_id`` and ``by``) instead of a windowed
    query. None when the log's usable rows are not exactly the sorted rows, one ``row_id``
    each (the SQL then answers)."""
    eng = log.engine
    if len(set(by)) != len(by) or {"row_id", "_p"} & set(by):
        return None  # names the narrow read cannot tell apart
    cols = ", ".join(eng.q(c) for c in by)
    tab = eng.arrow(f"SELECT row_id, {cols} FROM {log.ref} WHERE {USABLE}")
    rid = np.asarray(tab.column("row_id").to_numpy(), dtype=np.int64)
    n = len(rid)
    top = int(max(rid.max(initial=-1), s.row_id.max(initial=-1))) + 1
    if n != len(s.row_id) or (n and (rid.min() < 0 or s.row_id.min() < 0)) or top > 4 * n + 1024:
        return None
    at = np.full(top, -1, dtype=np.int64)  # the position of each row_id in the scan
    at[rid] = np.arange(n)
    pos = at[s.row_id]
    hit = np.zeros(n, dtype=bool)
    hit[pos] = True
    if (pos < 0).any() or not hit.all():  # a row_id twice, or rows that differ
        return None
    first = np.flatnonzero(np.r_[True, s.person[1:] != s.person[:-1]]) if len(pos) else pos
    if len(first) != len(s.persons):
        return None
    picked = tab.select(list(by)).take(pos[first])
    # through the engine, so that every type converts as ``fetch`` converts it
    return eng.con.from_arrow(picked).df()


def _table(counts: pd.DataFrame, spec: FunnelSpec, by: list[str]) -> pd.DataFrame:
    rows = []
    for _, g in counts.iterrows():
        conv = {  # a sum over no rows is NULL in SQL
            k: int(g[f"_c{k}"]) if pd.notna(g[f"_c{k}"]) else 0 for k in range(1, spec.n + 1)
        }
        users = int(g["_users"])
        for k in range(1, spec.n + 1):
            m = spec.mandatory_before(k)
            entered = users if m == 0 else conv[m]
            row = {"step": spec.labels[k - 1], "step_index": k}
            for c in by:
                row[c] = g[c]
            row.update(
                {
                    "optional": k in spec.optional,
                    "entered": entered,
                    "converted": conv[k],
                    "rate_from_first": conv[k] / conv[1] if conv[1] else np.nan,
                    "rate_from_previous": conv[k] / entered if entered else np.nan,
                    "drop_off": entered - conv[k],
                }
            )
            rows.append(row)
    cols = [
        "step",
        "step_index",
        *by,
        "optional",
        "entered",
        "converted",
        "rate_from_first",
        "rate_from_previous",
        "drop_off",
    ]
    out = pd.DataFrame(rows, columns=cols)
    if by:
        out = out.sort_values([*by, "step_index"], kind="stable", na_position="last")
    for c in ("entered", "converted", "drop_off", "step_index"):
        out[c] = out[c].astype("int64")
    return out.reset_index(drop=True)
